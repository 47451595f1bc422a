"""S3ParquetDataset: batches of Parquet columns as tensors over the Arrow
buffers, row groups dealt to ranks and workers, shuffled per epoch,
resumable in the middle of a row group."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import torch
from torch.utils.data import IterableDataset, get_worker_info

from s3dlio._parquet_reader import ParquetReader
from s3dlio_torch import _packed_columns, _sharding, _worker_slots


class S3ParquetDataset(IterableDataset[Any], ParquetReader):
    """An ``IterableDataset`` of batches of ``batch_size`` rows of the
    Parquet files ``uris`` (a list, a brace pattern, or a prefix ending in
    ``/``): one dict per batch, ``{column: value}`` for ``columns`` (all
    when None). Fixed-width numeric columns are 1-D tensors over the Arrow
    buffer the column was decoded into (no copy), fixed-size lists of
    numbers ``[rows, width]`` tensors; every other column (strings,
    binaries, nested, ...) a ``pyarrow.Array`` over the same memory. A
    batch is a slice of its row group's table; shuffled rows, and a batch
    across two row groups, are gathered into a table of their own (one
    copy). ``transform(batch)`` then runs. Use it with
    ``DataLoader(dataset, batch_size=None)``: the dataset batches itself.
    In a DataLoader worker, a batch that is a dict (also a transform's)
    crosses to the main process with all its CPU tensors in one reused
    shared-memory slot (one copy, no fresh memory), not one new
    shared-memory segment per tensor as torch would send them.

    Each epoch the row groups of all files are put in an order fixed by
    ``(seed, epoch)`` (when ``shuffle``) and dealt to ranks (``rank`` /
    ``world_size``, else ``torch.distributed``, else ``RANK`` /
    ``WORLD_SIZE``) and DataLoader workers; with ``shuffle`` the rows also
    pass a buffer of ``shuffle_buffer`` rows seeded by ``(seed, epoch,
    rank, worker)``. Every rank yields the same number of batches: worker
    ``w`` of each rank as many rows as the longest worker ``w``, the
    others wrapping around to their own first rows, or with ``drop_last``
    as few as the shortest, cut to whole batches. ``set_epoch``,
    ``state_dict`` and ``load_state_dict`` work as for ``S3WebDataset``: a
    state resumes the exact rows left, also mid row group, at the same
    world size and worker count (one taken between epochs, anywhere).
    ``batches_per_epoch()`` is what one reader yields (each DataLoader
    worker a share of the rank's row groups).
    """

    def __init__(
        self,
        uris: Sequence[str] | str,
        *,
        columns: Sequence[str] | None,
        batch_size: int,
        shuffle: bool = False,
        seed: int = 0,
        shuffle_buffer: int = 8192,
        rank: int | None = None,
        world_size: int | None = None,
        drop_last: bool = False,
        transform: Callable[[dict[str, Any]], Any] | None = None,
        options: Mapping[str, str] | None = None,
    ) -> None:
        self.rank = rank
        self.world_size = world_size
        self.transform = transform
        self._init_parquet(
            uris,
            columns=columns,
            batch_size=batch_size,
            shuffle=shuffle,
            seed=seed,
            shuffle_buffer=shuffle_buffer,
            drop_last=drop_last,
            options=options,
        )

    def _world(self) -> tuple[int, int]:
        return _sharding.world(self.rank, self.world_size)

    def _reader(self) -> tuple[int, int, bool]:
        return _sharding.worker()

    def __iter__(self) -> Iterator[Any]:
        batches = self._batches(torch.from_dlpack)
        if get_worker_info() is None or not _worker_slots.supported():
            return batches
        # In a DataLoader worker: each batch crosses to the main process in one slot.
        return map(_packed_columns.crossing, batches)
