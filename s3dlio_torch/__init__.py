"""PyTorch datasets over s3dlio (map-style and iterable).

The datasets themselves arrive with the torch adapter work; this package
already installs with s3dlio so ``import s3dlio_torch`` works without
importing torch until a dataset is used.
"""

__all__: list[str] = []
