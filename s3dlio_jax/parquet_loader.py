"""ParquetLoader: batches of Parquet columns as jax.Arrays over the Arrow
buffers, row groups dealt to JAX processes, shuffled per epoch, resumable
in the middle of a row group."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp

from s3dlio._parquet_reader import ParquetReader


class ParquetLoader(ParquetReader):
    """Batches of ``batch_size`` rows of the Parquet files ``uris`` (a
    list, a brace pattern, or a prefix ending in ``/``) as dicts
    ``{column: value}`` for ``columns`` (all when None): fixed-width
    numeric columns as 1-D ``jax.Array``s over the Arrow buffer the column
    was decoded into (DLPack), fixed-size lists of numbers ``[rows,
    width]``, every other column a ``pyarrow.Array``. Those buffers start
    on 64-byte boundaries, and so does every batch of a row group when
    ``batch_size`` times a row's bytes is a multiple of 64 (any power of
    two from 16 rows up): XLA then shares the memory with no copy on CPU
    (it copies what starts elsewhere).
    ``transform(batch)`` then runs.

    The row groups of all files are dealt to ``jax.process_index()`` /
    ``process_count()`` (or the given values) as ``S3ParquetDataset``
    deals them to ranks, in an order fixed by ``(seed, epoch)`` when
    ``shuffle``, the rows through a shuffle buffer of ``shuffle_buffer``;
    every process yields the same number of batches (``drop_remainder``:
    whole batches only). ``set_epoch``, ``state_dict`` and
    ``load_state_dict`` work as for ``JaxLoader``; a mid-epoch state
    resumes exactly at the same process count.
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
        drop_remainder: bool = False,
        transform: Callable[[dict[str, Any]], Any] | None = None,
        process_index: int | None = None,
        process_count: int | None = None,
        options: Mapping[str, str] | None = None,
    ) -> None:
        self.process_index = process_index
        self.process_count = process_count
        self.transform = transform
        self._init_parquet(
            uris,
            columns=columns,
            batch_size=batch_size,
            shuffle=shuffle,
            seed=seed,
            shuffle_buffer=shuffle_buffer,
            drop_last=drop_remainder,
            options=options,
        )

    @property
    def drop_remainder(self) -> bool:
        return self.drop_last

    def _world(self) -> tuple[int, int]:
        index = jax.process_index() if self.process_index is None else self.process_index
        count = jax.process_count() if self.process_count is None else self.process_count
        return index, count

    def __len__(self) -> int:
        """Batches this process yields per epoch."""
        return self.batches_per_epoch()

    def __iter__(self) -> Iterator[Any]:
        return self._batches(jnp.from_dlpack)


__all__ = ["ParquetLoader"]
