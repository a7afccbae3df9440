"""Photos and their files: finding them in a folder, decoding every format, camera raw files."""
