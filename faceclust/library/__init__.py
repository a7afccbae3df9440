"""What encoding keeps: the encodings file (pickle or .npz) and the index beside it."""
