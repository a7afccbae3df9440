"""Command-line layer: parse arguments, call the library, turn errors into messages and exit codes.

Exit codes: 0 done, 1 error, 2 usage, 3 nothing to do (no images or no faces), 130 interrupted.
"""

from .cluster import cluster_main, cluster_parser
from .common import EXIT_ERROR, EXIT_INTERRUPTED, EXIT_NO_FACES, EXIT_OK, EXIT_USAGE
from .encode import encode_main, encode_parser

__all__ = [
    "EXIT_ERROR",
    "EXIT_INTERRUPTED",
    "EXIT_NO_FACES",
    "EXIT_OK",
    "EXIT_USAGE",
    "cluster_main",
    "cluster_parser",
    "encode_main",
    "encode_parser",
]
