"""Type stubs of the Rust extension ``s3dlio._core`` (the typed public API)."""

import builtins
import datetime
from collections.abc import Awaitable, Callable, Mapping, Sequence
from types import TracebackType
from typing import Any, Self, TypeAlias, final, overload

from typing_extensions import Buffer

from s3dlio._arrow_types import ArrowArrayExportable, ArrowStreamExportable

__version__: str

class S3dlioError(Exception):
    """Base class of every error raised by s3dlio."""

class ObjectNotFoundError(FileNotFoundError, S3dlioError):
    """The object (or its bucket) does not exist."""

class AuthError(PermissionError, S3dlioError):
    """Credentials are missing, invalid or not allowed to do this."""

class InvalidUriError(ValueError, S3dlioError):
    """A URI that cannot be parsed or names no object."""

class InvalidArgumentError(ValueError, S3dlioError):
    """A bad argument: a range past the end, a zero concurrency, a bad option value."""

class UnsupportedSchemeError(S3dlioError):
    """The URI's scheme is recognised but its backend is not available."""

class ChecksumError(S3dlioError):
    """Stored data does not match its recorded checksum."""

class FormatError(S3dlioError):
    """An object is not valid in the format it is read as (a tar shard
    with a bad header, or cut short); the message names the URI and the
    byte offset."""

class OutOfMemoryError(MemoryError, S3dlioError):
    """The memory an object or batch needs cannot be had: more than is
    available, or refused by the system. The process is unharmed."""

@final
class BytesView:
    """Read-only, zero-copy view of one object's bytes in a Rust allocation.

    Supports the buffer protocol (format "B", 1-D, C-contiguous, read-only):
    ``numpy.frombuffer(view)`` and ``memoryview(view)`` share its memory,
    which stays valid while any view, slice or buffer made from it is alive.
    Fetched objects start on a 64-byte boundary.
    """

    def __len__(self) -> int: ...
    def __buffer__(self, flags: int, /) -> memoryview: ...
    def __release_buffer__(self, buffer: memoryview, /) -> None: ...
    def memoryview(self) -> memoryview:
        """A read-only memoryview over the same memory (no copy)."""
    def to_bytes(self) -> bytes:
        """A copy of the bytes."""
    def __bytes__(self) -> bytes:
        """A copy of the bytes."""
    @overload
    def __getitem__(self, key: int, /) -> int: ...
    @overload
    def __getitem__(self, key: slice, /) -> BytesView: ...
    @property
    def address(self) -> int:
        """Address of the first byte, for zero-copy checks and interop."""
    def __dlpack__(
        self,
        *,
        stream: Any = None,
        max_version: tuple[int, int] | None = None,
        dl_device: tuple[int, int] | None = None,
        copy: bool | None = None,
    ) -> Any:
        """A 1-D uint8 DLPack capsule over the same memory (CPU).

        Legacy capsule by default (what JAX asks for); a DLPack 1.x capsule
        flagged read-only when ``max_version >= (1, 0)`` (what torch asks for).
        ``copy=True`` exports a copy. Consumers must not write to the memory.
        """
    def __dlpack_device__(self) -> tuple[int, int]:
        """``(1, 0)``: kDLCPU, device 0."""
    def __arrow_c_array__(self, requested_schema: Any = None) -> tuple[Any, Any]:
        """A uint8 Arrow array over the same memory (Arrow PyCapsule interface)."""
    def numpy(self, dtype: Any = None, shape: Any = None) -> Any:
        """A read-only numpy array over the same memory, as ``dtype`` (uint8 when None),
        reshaped to ``shape``."""
    def as_tensor(self, dtype: str = "uint8", shape: Sequence[int] | None = None) -> TensorView:
        """The same memory as a ``dtype`` tensor of ``shape`` (one dimension may be -1)
        for ``torch.from_dlpack`` / ``jax.numpy.from_dlpack``, with no copy."""

@final
class TensorView:
    """Fetched bytes seen as a typed, shaped tensor for DLPack consumers (no copy).

    dtypes: int8/16/32/64, uint8/16/32/64, float16/32/64, bfloat16.
    """

    @property
    def shape(self) -> builtins.list[int]:
        """The shape, in elements."""
    @property
    def address(self) -> int:
        """Address of the first byte."""
    def __dlpack__(
        self,
        *,
        stream: Any = None,
        max_version: tuple[int, int] | None = None,
        dl_device: tuple[int, int] | None = None,
        copy: bool | None = None,
    ) -> Any:
        """A DLPack capsule of this dtype and shape over the shared memory."""
    def __dlpack_device__(self) -> tuple[int, int]:
        """``(1, 0)``: kDLCPU, device 0."""

@final
class Batch:
    """Objects fetched into one contiguous 64-byte-aligned buffer, row i = object i.

    ``batch[i]`` is a zero-copy BytesView of row i; ``pyarrow.array(batch)``
    a binary array over the buffer; when every object has one size,
    ``torch.from_dlpack(batch)`` / ``jax.numpy.from_dlpack(batch)`` a 2-D
    uint8 ``[n, size]`` tensor over it (no collate copy).
    """

    def __len__(self) -> int: ...
    def __getitem__(self, index: int, /) -> BytesView: ...
    @property
    def uris(self) -> builtins.list[str]:
        """The URIs, in input order."""
    @property
    def sizes(self) -> builtins.list[int]:
        """Each object's size in bytes."""
    @property
    def uniform_size(self) -> int | None:
        """The size every object has, or None when sizes differ (or the batch is empty)."""
    @property
    def nbytes(self) -> int:
        """Total bytes held."""
    @property
    def pinned(self) -> bool:
        """True when the buffer is a slab of a registered PinnedPool (page-locked)."""
    @property
    def address(self) -> int:
        """Address of the buffer's first byte."""
    def buffer(self) -> BytesView:
        """The whole buffer as one zero-copy BytesView."""
    def to_table(self) -> Table:
        """The batch as a Table (columns uri, size, data)."""
    def as_tensor(self, dtype: str = "uint8", shape: Sequence[int] | None = None) -> TensorView:
        """The whole buffer as a ``dtype`` tensor of ``shape`` (default ``[n, -1]``;
        needs equal sizes), with no copy."""
    def __arrow_c_array__(self, requested_schema: Any = None) -> tuple[Any, Any]:
        """A binary Arrow array (one value per object) over the batch buffer."""
    def __dlpack__(
        self,
        *,
        stream: Any = None,
        max_version: tuple[int, int] | None = None,
        dl_device: tuple[int, int] | None = None,
        copy: bool | None = None,
    ) -> Any:
        """A 2-D uint8 ``[n, size]`` DLPack capsule; BufferError unless all sizes are equal."""
    def __dlpack_device__(self) -> tuple[int, int]:
        """``(1, 0)``: kDLCPU, device 0."""

@final
class Table:
    """Arrow record batches of one schema: the objects of a batch (``uri:
    string``, ``size: int64``, ``data: binary``, ``large_binary`` past 2
    GiB) or the columns read from Parquet files.

    ``pyarrow.table(t)`` (or polars, duckdb) reads it with no copy through
    ``__arrow_c_stream__``. A column of a one-batch table is a tensor
    (``tensor``) or an Arrow array (``column``) over the same memory.
    """

    def __len__(self) -> int: ...
    @property
    def num_rows(self) -> int:
        """Number of rows."""
    @property
    def column_names(self) -> builtins.list[str]:
        """The column names, in order."""
    @property
    def tensor_columns(self) -> builtins.list[str]:
        """The columns whose type has a tensor form: fixed-width numbers,
        and fixed-size lists of them."""
    @property
    def num_batches(self) -> int:
        """Number of record batches."""
    def batches(self) -> builtins.list[Table]:
        """Each record batch as a table of its own (no copy)."""
    def slice(self, offset: int, length: int) -> Table:
        """Rows ``offset..offset + length`` of a one-batch table (no copy)."""
    def tensor(self, name: str) -> TensorView:
        """Column ``name`` of a one-batch table as a tensor over its Arrow
        buffer (no copy): fixed-width numbers 1-D, fixed-size lists of them
        ``[rows, width]``. Nulls and other types raise InvalidArgumentError
        naming the column."""
    def column(self, name: str) -> Column:
        """Column ``name`` of a one-batch table as an Arrow array (no copy)."""
    def __arrow_c_stream__(self, requested_schema: Any = None) -> Any:
        """An Arrow C stream of the table (Arrow PyCapsule interface)."""

@final
class Column:
    """One column of a ``Table``: an Arrow array over the table's buffers."""

    @property
    def name(self) -> str:
        """The column's name."""
    @property
    def type(self) -> str:
        """The Arrow type, as Arrow writes it (``Int64``, ``Utf8``, ...)."""
    @property
    def null_count(self) -> int:
        """Nulls in the column."""
    def __len__(self) -> int: ...
    def views(self) -> builtins.list[BytesView | None]:
        """A binary or string column's values as zero-copy views of its
        values buffer (None for a null)."""
    def __arrow_c_array__(self, requested_schema: Any = None) -> tuple[Any, Any]:
        """The Arrow array (Arrow PyCapsule interface), with no copy."""

@final
class ArrowSchema:
    """An Arrow schema; ``pyarrow.schema(s)`` reads it."""

    def __arrow_c_schema__(self) -> Any: ...

@final
class ParquetInfo:
    """What a Parquet file's footer says."""

    @property
    def num_rows(self) -> int:
        """Rows in the file."""
    @property
    def row_groups(self) -> builtins.list[tuple[int, int]]:
        """``(rows, compressed bytes)`` of each row group."""
    @property
    def schema(self) -> ArrowSchema:
        """The file's Arrow schema."""
    @property
    def column_names(self) -> builtins.list[str]:
        """The top-level column names."""

@final
class ObjectMeta:
    """Metadata of one object."""

    @property
    def uri(self) -> str:
        """The object's full URI."""
    @property
    def size(self) -> int:
        """Size in bytes."""
    @property
    def last_modified(self) -> datetime.datetime | None:
        """Last modification time (aware, UTC), when the backend reports one."""
    @property
    def etag(self) -> str | None:
        """Entity tag, when the backend reports one."""

Options: TypeAlias = Mapping[str, str] | None

@final
class TarMember:
    """One regular file of a tar shard, as ``tar_index`` finds it; pickleable."""

    def __new__(cls, name: str, offset: int, size: int) -> TarMember: ...
    @property
    def name(self) -> str:
        """Its path in the archive."""
    @property
    def offset(self) -> int:
        """The offset of its data in the shard."""
    @property
    def size(self) -> int:
        """The size of its data, in bytes."""
    def __reduce__(self) -> tuple[type[TarMember], tuple[str, int, int]]: ...
    def __eq__(self, other: object, /) -> bool: ...
    def __hash__(self) -> int: ...

@final
class CheckpointInfo:
    """What ``CheckpointStore.list_checkpoints`` reports of one published step."""

    @property
    def step(self) -> int:
        """The step number."""
    @property
    def world_size(self) -> int:
        """How many shards the step has."""
    @property
    def user_meta(self) -> Any:
        """Rank 0's ``user_meta`` as saved (None when none was given)."""
    @property
    def created(self) -> datetime.datetime:
        """When the step was published (aware, UTC)."""

@final
class CheckpointStore:
    """Sharded, checksummed, atomically published checkpoints under a base URI.

    Layout: per step ``BASE/step-NNNNNNNNNNNN/``, each rank's shard (under a
    fresh name on every save, never overwritten) and record in the folder
    of its *attempt* (one run of the job), ``manifest.json`` naming the
    attempt that completed (sizes, CRC32C checksums, user metadata, creation
    time), and an index entry ``BASE/published/step-NNNNNNNNNNNN`` written
    last. A step is visible only once one attempt has all its shards; a
    crash at any point leaves the previous latest step loadable, and
    overlapping saves never move the latest step backwards. Every rank calls
    ``save``; whichever finds its attempt's set complete publishes it. A base
    URI no object could live under is refused by the constructor
    (InvalidUriError).
    """

    def __new__(cls, uri: str, *, validate: bool = True, options: Options = None) -> Self: ...
    @property
    def uri(self) -> str:
        """The base URI."""
    def save(
        self,
        step: int,
        data: Buffer,
        *,
        rank: int = 0,
        world_size: int = 1,
        user_meta: Any = None,
        attempt: str | None = None,
    ) -> None:
        """Save this rank's shard of ``step`` from any buffer (no copy in Python);
        ``user_meta`` must be JSON-serialisable (rank 0's is kept).

        ``attempt`` names this run of the job: every rank of one run passes
        the same, and a restarted job a new one (1-64 characters of
        ``A-Za-z0-9._-``). None: ``S3DLIO_CHECKPOINT_ATTEMPT``, else
        torchrun's ``TORCHELASTIC_RUN_ID`` and ``TORCHELASTIC_RESTART_COUNT``,
        else ``"0"``. Only shards of one attempt are published together, so
        a crashed run's shards never complete the next run's step, provided
        the attempt changes with each restart."""
    def load_latest(self, rank: int = 0) -> BytesView | None:
        """This rank's shard of the newest published step, or None when empty."""
    def read_shard_by_rank(self, step: int, rank: int) -> BytesView:
        """One rank's shard of a published step (checked when ``validate``)."""
    def read_all_shards(
        self, step: int, max_in_flight: int = 64
    ) -> builtins.list[tuple[int, BytesView]]:
        """Every shard of a published step, fetched concurrently, in rank order."""
    def latest_step(self) -> int | None:
        """The newest published step, or None for an empty store."""
    def list_checkpoints(self) -> builtins.list[CheckpointInfo]:
        """Every published step, ascending."""
    def delete(self, step: int) -> None:
        """Delete a step, published or not, with everything any attempt left
        of it (temporary files of a killed save included); ``latest_step``
        moves back to the previous one. ObjectNotFoundError when nothing of
        the step exists."""

def get(uri: str, *, options: Options = None) -> BytesView:
    """The whole object at ``uri`` as a zero-copy BytesView."""

def get_range(
    uri: str, offset: int, length: int | None = None, *, options: Options = None
) -> BytesView:
    """``length`` bytes from ``offset`` (to the end when None).

    A range running past the end is cut at it (any ``length``, however
    large); ``offset == size`` gives an empty view; ``offset > size`` or a
    negative value raises ValueError.
    """

def get_object(bucket: str, key: str, *, options: Options = None) -> BytesView:
    """Same as ``get(f"s3://{bucket}/{key}")``; a ``bucket`` containing ``/`` is
    refused (InvalidUriError)."""

def get_many(
    uris: Sequence[str], max_in_flight: int = 64, *, options: Options = None
) -> builtins.list[tuple[str, BytesView]]:
    """Fetch many objects in parallel; results in input order.

    Schemes may be mixed; duplicates are fetched once. The first failure
    cancels the rest and raises, naming the failing URI. ``max_in_flight``
    is at least 1; any larger value, however large, works.
    """

def get_ranges(
    requests: Sequence[tuple[str, int] | tuple[str, int, int | None]],
    max_in_flight: int = 64,
    *,
    options: Options = None,
) -> builtins.list[BytesView]:
    """Many byte ranges in parallel, from any objects and schemes.

    Each ``(uri, offset, length)`` (``length`` None or left out: to the
    end) is read as ``get_range`` reads it; the views come back in input
    order, and a request given several times is read once and shared. The
    first failure cancels the rest and raises, naming the failing URI.
    """

def read_tar(uri: str, *, options: Options = None) -> builtins.list[tuple[str, BytesView]]:
    """The regular files of the tar shard at ``uri``, fetched once.

    ``[(name, view)]`` in archive order; every view is a zero-copy slice of
    the one buffer the shard was fetched into. A ``file://`` shard is
    mapped, not read, unless ``S3DLIO_FILE_MMAP`` or the ``file_mmap``
    option says otherwise (truncating it in place while mapped ends the
    process, which names the shard first). Directories, links, devices
    and FIFOs are skipped. A bad header or a shard cut short raises
    ``FormatError`` naming the URI and the header's byte offset.
    """

def tar_index(uri: str, *, options: Options = None) -> builtins.list[TarMember]:
    """The regular files of the tar shard at ``uri``: name, data offset, size.

    Read from the headers alone, with ranged reads that jump over the
    members' data. Errors as ``read_tar``.
    """

def tar_listing(shard: Buffer, uri: str) -> builtins.list[TarMember]:
    """The regular files of a tar shard already in memory (``shard``, e.g.
    what ``get(uri)`` returned; ``uri`` names it in errors): their names,
    data offsets into ``shard`` and sizes. Errors as ``read_tar``."""

def crc32c(data: Buffer) -> int:
    """The CRC32C of ``data`` (any buffer), computed with the GIL released."""

def read_parquet(
    uris: Sequence[str] | str,
    *,
    columns: Sequence[str] | None = None,
    row_groups: Sequence[int] | None = None,
    batch_size: int | None = None,
    max_in_flight: int = 64,
    options: Options = None,
) -> Table:
    """The chosen columns and row groups of Parquet files as one Table.

    ``uris`` is a list of URIs, one URI, or a prefix ending in ``/`` (its
    ``.parquet`` objects in name order). Only the footer (one read of the
    file's end) and the chosen columns' chunks of the chosen row groups
    are fetched, in parallel, and decoded in Rust. Rows come in file order;
    each record batch is one row group, or ``batch_size`` rows of one.
    Every file must give the same columns. A missing column or row group
    raises InvalidArgumentError naming the file and it; a file that is not
    Parquet, ``FormatError``.
    """

def parquet_info(uri: str, *, options: Options = None) -> ParquetInfo:
    """The footer of the Parquet file at ``uri``, read alone."""

def take_rows(tables: Sequence[Table], rows: Sequence[tuple[int, int]]) -> Table:
    """``(table, row)`` pairs gathered into one table of one batch (a copy
    of those rows); every table of one batch and one schema."""

def get_async(uri: str, *, options: Options = None) -> Awaitable[BytesView]:
    """Awaitable ``get``; cancelling it aborts the I/O."""

def get_many_async(
    uris: Sequence[str], max_in_flight: int = 64, *, options: Options = None
) -> Awaitable[builtins.list[tuple[str, BytesView]]]:
    """Awaitable ``get_many``; cancelling it aborts the I/O."""

def get_batch(
    uris: Sequence[str],
    max_in_flight: int = 64,
    *,
    sizes: int | Sequence[int] | None = None,
    options: Options = None,
    pinned: PinnedPool | None = None,
    out: Buffer | None = None,
) -> Batch:
    """Fetch objects in parallel straight into the rows of one contiguous buffer.

    Sizes come from ``sizes`` (one for all, or one per URI) when known,
    else from a concurrent stat; an object whose size differs is an error.
    ``pinned`` (a PinnedPool) lands the batch in a slab of that pool; the
    public ``s3dlio.get_batch`` also takes ``pinned=True``, resolved in
    Python to the default PinnedPool (ordinary memory where no GPU is
    usable; see ``Batch.pinned``) before this is called. ``out`` (a
    writable, C-contiguous, 64-byte-aligned uint8 buffer of exactly the
    objects' total size, e.g. shared memory) is filled in place instead
    and kept alive as long as the batch.
    """

@final
class PinnedPool:
    """Host memory for batches bound for a device, recycled slab by slab.

    With ``register(address, nbytes)`` and ``unregister(address)`` every
    slab is registered once when made and unregistered once when freed
    (``trim()`` or the pool's end). A slab returns to the pool when the last
    view, array or tensor of its batch is gone and is reused (best fit) by
    the next batch that fits. ``budget`` bounds the idle bytes kept.
    """

    def __new__(
        cls,
        register: Callable[[int, int], object] | None = None,
        unregister: Callable[[int], object] | None = None,
        *,
        budget: int | None = None,
    ) -> Self: ...
    @property
    def registered(self) -> bool:
        """True when slabs are registered (hooks were given)."""
    def trim(self) -> None:
        """Free (and unregister) every idle slab."""
    def stats(self) -> dict[str, int]:
        """The pool's counters (``pool_made``, ``pool_reused``, ``pool_idle``, ...)."""

def read_table(
    uris: Sequence[str] | str, max_in_flight: int = 64, *, options: Options = None
) -> Table:
    """Fetch objects (a list of URIs, or a prefix string to list) as an Arrow Table."""

def buffer_stats() -> dict[str, int]:
    """Landing buffers alive in this process (``buffers``, ``bytes``), remote
    response body bytes taken in (``body_bytes``) and how many of them were
    received straight into the buffer handed out, without a copy
    (``body_bytes_in_place``: plain-HTTP GETs), and the recycling pool's
    counters (``pool_made``, ``pool_reused``, ``pool_freed``, ``pool_idle``,
    ``pool_idle_bytes``, ``pool_budget``).

    A buffer lives until the last view, array, tensor or capsule sharing it is gone.
    """

def get_to_file(
    uri: str, dest: str, *, offset: int = 0, length: int | None = None, options: Options = None
) -> int:
    """Save ``length`` bytes of ``uri`` from ``offset`` (all by default) as the
    local file ``dest`` (a ``file://`` or ``direct://`` URI), streamed in
    ranged parts: never whole in memory; ``dest`` appears whole or not at
    all. Returns the bytes written."""

def put_from_file(src: str, uri: str, *, options: Options = None) -> None:
    """Store the local file ``src`` (a ``file://`` or ``direct://`` URI) as the
    object ``uri``: a large file goes up as a multipart upload whose parts
    are read as they are sent. Readers see the old object or the whole new one."""

@final
class ObjectWriter:
    """One object written in pieces: streamed (a multipart upload in parts
    of the configured size, or a temporary file beside a local one) and
    published only by :meth:`close`. A writer that fails, is aborted, or is
    collected unclosed leaves nothing under ``uri``. As a context manager
    it closes on a clean exit and aborts when the block raises."""

    def __new__(cls, uri: str, *, options: Options = None) -> Self: ...
    def write(self, data: Buffer) -> int:
        """Append any buffer-protocol object (copied once, into the part
        being filled, with the GIL released); returns its length. A
        failure aborts the object and closes the writer."""
    def close(self) -> None:
        """Publish the object; closing a closed writer does nothing."""
    def abort(self) -> None:
        """Discard everything written: nothing appears under ``uri``."""
    @property
    def uri(self) -> str:
        """The URI being written."""
    @property
    def written(self) -> int:
        """Bytes written so far."""
    @property
    def closed(self) -> bool:
        """Whether the writer is closed, aborted or failed."""
    def __enter__(self) -> Self: ...
    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        _exc: BaseException | None = None,
        _tb: TracebackType | None = None,
    ) -> bool: ...

def metrics(reset: bool = False) -> dict[str, Any]:
    """What this process's requests did: ``{op: {scheme: {...}}}`` for every
    operation (``get``, ``get_range``, ``put``, ``put_part``, ``list``,
    ``head``, ``delete``) and scheme with requests, each with ``requests``,
    ``bytes`` (payload moved by the requests that succeeded), ``errors``,
    ``errors_by_kind`` (``{kind: n}``), ``retries`` (HTTP attempts repeated),
    ``throttled`` (503/429 answers), ``in_flight_peak``, and ``latency_s`` and
    ``first_byte_s`` (``{"p50", "p90", "p99", "max"}`` in seconds; a
    percentile is within 25 % of the true value and at most ``max``). The key
    ``"oplog"`` is the operation log's ``{"path", "lines", "dropped",
    "active", "error"}``; ``"storage"`` is ``{"busy_s", "busy_tree_s"}``:
    seconds this process had at least one request in flight (overlapping
    requests counted once), and the same summed over it and the processes
    forked from it after its first request or ``metrics()`` call (DataLoader
    workers; never reset: take differences).
    ``"endpoints"`` is ``{endpoint: {bucket: {...}}}`` for every
    ``scheme://host:port`` and bucket (or container) requests went to:
    ``attempts``, ``throttled``, ``unreachable`` (connects refused), and the
    adaptive limiter's ``limit`` (``None``: unlimited), ``in_flight``,
    ``in_flight_peak``, ``limit_cuts``, ``lowest_limit`` (``None``: never
    cut) and ``spacing_s`` (seconds between request starts while the lane
    paces them, ``None`` otherwise; the limiter's values are not reset).
    ``"cache"`` is what the local cache of remote objects did
    (``S3DLIO_CACHE_DIR``): ``hits`` and ``hit_bytes`` (reads served from
    disk), ``misses`` (fetched from the store), ``writes`` and
    ``written_bytes`` (objects kept), ``read_through`` (misses not kept: over
    the budget, or the disk full or failing), ``validations`` (HEADs made to
    check a copy), ``stale`` (copies found changed) and ``evictions`` and
    ``evicted_bytes``.

    With ``reset``, counting starts a new interval. Counted per process: a
    forked child starts from zero. A ``put`` sent as a multipart upload is
    one ``put`` with its whole size and a ``put_part`` per part.
    """

def metrics_prometheus() -> str:
    """The metrics in the Prometheus text exposition format
    (``s3dlio_requests_total{op="get",scheme="s3"}``, ...)."""

def start_oplog(path: str) -> None:
    """Write one line per request of this process to ``path`` (13 tab-separated
    columns after a header line; zstd-compressed when ``path`` ends in
    ``.zst``), and of its child processes (DataLoader workers, forked or
    spawned) to ``path.<pid>``. Lines go through a bounded queue
    (``S3DLIO_OPLOG_QUEUE`` lines, default 65536); when it is full a line is
    dropped and counted (``metrics()["oplog"]["dropped"]``), never waited for.
    ``S3DLIO_OPLOG=path`` in the environment does the same at import."""

def stop_oplog() -> None:
    """Stop the operation log: every line accepted is written and the file
    closed. Also done when the process (or a multiprocessing worker) exits."""

def put(uri: str, data: Buffer, *, options: Options = None) -> None:
    """Store any contiguous buffer-protocol object at ``uri`` without copying it.

    Readers see either the previous object or the whole new one.
    """

@overload
def put_many(
    items: Sequence[tuple[str, Buffer]] | ArrowArrayExportable | ArrowStreamExportable,
    max_in_flight: int = 64,
    *,
    data: None = None,
    options: Options = None,
) -> None: ...
@overload
def put_many(
    items: Sequence[str],
    max_in_flight: int = 64,
    *,
    data: ArrowArrayExportable | ArrowStreamExportable,
    options: Options = None,
) -> None:
    """Store many objects in parallel, none of their bytes copied.

    ``items`` is one of:

    - ``(uri, buffer)`` pairs (any contiguous buffer-protocol objects);
    - Arrow tabular input (``__arrow_c_stream__`` or ``__arrow_c_array__``:
      a pyarrow table or record batch, a polars frame, an s3dlio ``Table``)
      with columns ``uri`` (string, large_string or string_view) and
      ``data`` (binary, large_binary, binary_view or fixed_size_binary);
      other columns are ignored;
    - a sequence of URIs, with ``data`` an Arrow array or chunked array of
      their contents in the same order (binary types as above; an s3dlio
      ``Batch`` too): ``put_many(uris, data=pa.array(values, pa.binary()))``.

    Arrow values are written from the producer's own buffers, which stay
    alive until written; they are never turned into Python ``bytes``. A null
    ``uri`` or ``data`` value, or a count of URIs that differs from the count
    of values, is an InvalidArgumentError; a missing column or a column of
    another type is a TypeError.
    """

def stat(uri: str, *, options: Options = None) -> ObjectMeta:
    """Size, modification time and etag of one object."""

def exists(uri: str, *, options: Options = None) -> bool:
    """True if the object exists, False if not found; any other error raises."""

def list(uri: str, recursive: bool = True, *, options: Options = None) -> builtins.list[str]:
    """Full URIs of the objects under a prefix (a directory for file://), sorted."""

def list_dir(
    uri: str, *, options: Options = None
) -> tuple[builtins.list[ObjectMeta], builtins.list[str]]:
    """The direct children of the prefix ``uri``: the objects directly under
    it and the prefixes one level below (local: subdirectories), as URIs
    without a trailing ``/``, each sorted. One delimited listing on a cloud
    store: a prefix over many objects costs its direct children only."""

def list_meta(
    uri: str, recursive: bool = True, *, options: Options = None
) -> builtins.list[ObjectMeta]:
    """Metadata (uri, size, last_modified, etag) of the objects under a prefix, sorted by URI."""

def delete(uri: str, *, options: Options = None) -> None:
    """Delete one object; raises FileNotFoundError if it does not exist."""

def cli_main(argv: Sequence[str]) -> int:
    """Run the ``s3dlio`` command line with ``argv`` (program name first); returns
    the exit status (0 success, 1 operation error, 2 usage error)."""
