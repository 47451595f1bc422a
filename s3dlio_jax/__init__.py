"""JAX input pipeline and Grain data source over s3dlio.

``JaxLoader`` yields batches as ``jax.Array``s over the fetched memory (no
copy on CPU); ``GrainSource`` is a Grain random-access data source over
objects, ``TarGrainSource`` one over the samples of tar shards, and
``TarLoader`` batches those samples shard by shard, and ``ParquetLoader``
batches the columns of Parquet files.
"""

from s3dlio_jax.grain_source import GrainSource
from s3dlio_jax.loader import JaxLoader
from s3dlio_jax.parquet_loader import ParquetLoader
from s3dlio_jax.tar_loader import TarLoader
from s3dlio_jax.tar_source import TarGrainSource

__all__ = ["GrainSource", "JaxLoader", "ParquetLoader", "TarGrainSource", "TarLoader"]
