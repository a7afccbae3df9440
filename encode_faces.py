#!/usr/bin/env python3
"""Find every face in a folder of images and save the 128-d embeddings to an encodings file.

python encode_faces.py --dataset dataset --encodings encodings.pickle --detection-method hog
"""

import sys

from faceclust.cli import encode_main

if __name__ == "__main__":
    sys.exit(encode_main())
