#!/usr/bin/env python3
"""Group the faces of an encodings file by person and write a montage JPEG per face ID.

python cluster_faces.py --encodings encodings.pickle --output output
"""

import sys

from faceclust.cli import cluster_main

if __name__ == "__main__":
    sys.exit(cluster_main())
