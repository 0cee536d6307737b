"""Readers of data sources: the built-in IDX files (idx.py), a user's image folders and .npz files
(images.py), and the uint8 cache of the latter (cache.py)."""
