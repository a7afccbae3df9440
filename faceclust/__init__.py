"""faceclust: find the faces in a folder of photos and group them by person.

The package is the library behind the two scripts at the repository's top level:
``encode_faces.py`` (detect and embed) and ``cluster_faces.py`` (group and show).
Importing it is cheap: the dlib models load on first use, once per process.
"""

__version__ = "0.1.0"
