"""JAX input pipeline and Grain data source over s3dlio.

The loader arrives with the JAX adapter work; this package already
installs with s3dlio so ``import s3dlio_jax`` works without importing jax.
"""

__all__: list[str] = []
