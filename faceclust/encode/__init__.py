"""Encoding: a folder of photos to faces and vectors, on local processes or a Dask cluster."""
