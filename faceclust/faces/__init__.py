"""Faces in a photo: dlib's detectors and landmarks, the networks in numpy, the face check."""
