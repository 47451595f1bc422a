"""JAX input pipeline and Grain data source over s3dlio.

``JaxLoader`` yields batches as ``jax.Array``s over the fetched memory (no
copy on CPU); ``GrainSource`` is a Grain random-access data source.
"""

from s3dlio_jax.grain_source import GrainSource
from s3dlio_jax.loader import JaxLoader

__all__ = ["GrainSource", "JaxLoader"]
