"""s3dlio: fetch objects from file://, direct://, s3://, az:// and gs:// in
parallel into aligned Rust memory, and share it with numpy, PyTorch, JAX and
pyarrow without copying.

Every function releases the GIL for its whole I/O. See ``_core.pyi`` for
the typed API.
"""

# First: finds the compiled extension when imported from a source checkout;
# then the hooks that finish the operation log when a process exits.
from s3dlio import _find_core, _oplog  # noqa: F401
from s3dlio._aio import get_async, get_many_async
from s3dlio._batch import get_batch
from s3dlio._core import (
    ArrowSchema,
    AuthError,
    Batch,
    BytesView,
    CheckpointInfo,
    CheckpointStore,
    ChecksumError,
    Column,
    FormatError,
    InvalidArgumentError,
    InvalidUriError,
    ObjectMeta,
    ObjectNotFoundError,
    ObjectWriter,
    OutOfMemoryError,
    ParquetInfo,
    PinnedPool,
    S3dlioError,
    Table,
    TarMember,
    TensorView,
    UnsupportedSchemeError,
    __version__,
    buffer_stats,
    cli_main,
    crc32c,
    delete,
    exists,
    get,
    get_many,
    get_object,
    get_range,
    get_ranges,
    get_to_file,
    list,
    list_dir,
    list_meta,
    metrics,
    metrics_prometheus,
    parquet_info,
    put,
    put_from_file,
    put_many,
    read_parquet,
    read_table,
    read_tar,
    start_oplog,
    stat,
    stop_oplog,
    take_rows,
    tar_index,
    tar_listing,
)
from s3dlio._pinned import HostHold
from s3dlio._pinned import default_pool as default_pinned_pool
from s3dlio._pinned import set_default_pool as set_default_pinned_pool

__all__ = [
    "ArrowSchema",
    "AuthError",
    "Batch",
    "BytesView",
    "CheckpointInfo",
    "CheckpointStore",
    "ChecksumError",
    "Column",
    "FormatError",
    "HostHold",
    "InvalidArgumentError",
    "InvalidUriError",
    "ObjectMeta",
    "ObjectNotFoundError",
    "ObjectWriter",
    "OutOfMemoryError",
    "ParquetInfo",
    "PinnedPool",
    "S3dlioError",
    "Table",
    "TarMember",
    "TensorView",
    "UnsupportedSchemeError",
    "__version__",
    "buffer_stats",
    "cli_main",
    "crc32c",
    "default_pinned_pool",
    "delete",
    "exists",
    "get",
    "get_async",
    "get_batch",
    "get_many",
    "get_many_async",
    "get_object",
    "get_range",
    "get_ranges",
    "get_to_file",
    "list",
    "list_dir",
    "list_meta",
    "metrics",
    "metrics_prometheus",
    "parquet_info",
    "put",
    "put_from_file",
    "put_many",
    "read_parquet",
    "read_table",
    "read_tar",
    "set_default_pinned_pool",
    "start_oplog",
    "stat",
    "stop_oplog",
    "take_rows",
    "tar_index",
    "tar_listing",
]


def __getattr__(name: str) -> object:
    # `s3dlio.fsspec` on first use: it imports fsspec, which `import s3dlio` does not.
    if name == "fsspec":
        import importlib

        return importlib.import_module("s3dlio.fsspec")
    raise AttributeError(f"module 's3dlio' has no attribute {name!r}")
