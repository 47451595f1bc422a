"""Epochs over the row groups of Parquet files, shared by
``s3dlio_torch.S3ParquetDataset`` and ``s3dlio_jax.ParquetLoader``.

The units a :class:`~s3dlio._shard_epochs.ShardReader` deals are row
groups (every row group of every file, from the footers, read once in
parallel); its samples are rows. So each epoch the row groups are put in
an order fixed by ``(seed, epoch)`` and dealt to ranks and workers, the
rows pass a seeded shuffle buffer, every reader hands out as many rows as
its peers of the same worker index, and a state resumes exactly, also in
the middle of a row group. A reader fetches each of its row groups with
one ``read_parquet`` (the chosen columns only), the next in the
background, and hands out batches of ``batch_size`` rows as one-batch
``Table``s (see :mod:`s3dlio._row_batches`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from s3dlio import _core, _row_batches, _shard_plan, _webdataset
from s3dlio._shard_epochs import ShardReader

PARALLEL = 16  # footers read at once


class ParquetReader(ShardReader):
    """A subclass sets ``_world`` (and ``_reader`` in torch) and turns the
    tables of :meth:`_tables` into its framework's batches."""

    def _init_parquet(
        self,
        uris: Sequence[str] | str,
        *,
        columns: Sequence[str] | None,
        batch_size: int,
        shuffle: bool,
        seed: int,
        shuffle_buffer: int,
        drop_last: bool,
        options: Mapping[str, str] | None,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        if shuffle_buffer < 1:
            raise ValueError(f"shuffle_buffer must be at least 1, got {shuffle_buffer}")
        self.options = dict(options) if options else None
        self.files = _webdataset.shards_of(uris, self.options, suffix=".parquet")
        infos = _footers(self.files, self.options)
        self.columns = list(columns) if columns is not None else None
        names = infos[0].column_names if infos else []
        for uri, info in zip(self.files, infos, strict=True):
            missing = [c for c in self.columns or [] if c not in info.column_names]
            if missing:
                raise _core.InvalidArgumentError(
                    f"{uri}: no column {missing[0]!r} (it has {info.column_names})"
                )
        self.column_names = self.columns if self.columns is not None else names
        #: The units: ``(file, row group)``, and their rows.
        self.row_groups = [
            (f, g) for f, info in enumerate(infos) for g in range(len(info.row_groups))
        ]
        counts = [rows for info in infos for rows, _ in info.row_groups]
        self.uris = [f"{self.files[f]}#row-group={g}" for f, g in self.row_groups]
        self.plan = _shard_plan.Plan(counts)
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.seed = seed
        self.shuffle_buffer = shuffle_buffer
        self.drop_last = drop_last
        self._tensor_columns: set[str] | None = None
        self._init_epochs()

    def _kept(self, samples: int) -> int:
        if self.drop_last:
            return samples // self.batch_size * self.batch_size
        return samples

    def batches_per_epoch(self) -> int:
        """Batches this reader (this DataLoader worker, or the process)
        yields per epoch."""
        rank, world_size = self._world()
        worker, workers, _ = self._reader()
        ids, _ = self.reader_order(self.epoch, rank, world_size, worker, workers)
        return (self._kept(len(ids)) + self.batch_size - 1) // self.batch_size

    def _tables(self) -> Iterator[_core.Table]:
        ids, pad_start = self._begin_samples()
        return self._read(ids, pad_start)

    def _read(self, ids: np.ndarray, pad_start: int) -> Iterator[_core.Table]:
        for table in _row_batches.read_batches(
            self.plan, ids, pad_start, self.batch_size, self._fetch
        ):
            self._handed_out(len(table))
            yield table

    def _fetch(self, unit: int) -> _core.Table:
        f, group = self.row_groups[unit]
        table = _core.read_parquet(
            [self.files[f]], columns=self.columns, row_groups=[group], options=self.options
        )
        expected = int(self.plan.counts[unit])
        if table.num_rows != expected or table.num_batches != 1:
            raise RuntimeError(
                f"{self.files[f]}: row group {group} has {table.num_rows} rows in "
                f"{table.num_batches} batches, but {expected} rows when the footers were read "
                "(the file changed)"
            )
        return table

    def _batches(self, from_dlpack: Callable[[Any], Any]) -> Iterator[Any]:
        """This pass's batches: dicts of the columns, the tensor ones made
        with ``from_dlpack``, then ``self.transform``."""
        transform = getattr(self, "transform", None)
        for table in self._tables():
            batch = {
                name: from_dlpack(value) if kind == "tensor" else value
                for name, (kind, value) in self._columns_of(table).items()
            }
            yield batch if transform is None else transform(batch)

    def _columns_of(self, table: _core.Table) -> dict[str, tuple[str, object]]:
        """Each column of a batch: ``("tensor", TensorView)`` for the
        columns of a tensor form, else ``("arrow", pyarrow.Array)``."""
        if self._tensor_columns is None:
            self._tensor_columns = set(table.tensor_columns)
        out: dict[str, tuple[str, object]] = {}
        for name in table.column_names:
            if name in self._tensor_columns:
                out[name] = ("tensor", table.tensor(name))
            else:
                out[name] = ("arrow", _arrow_array(table.column(name)))
        return out


def _arrow_array(column: _core.Column) -> object:
    try:
        import pyarrow as pa  # type: ignore[import-untyped]
    except ImportError as missing:
        raise ImportError(
            f"column {column.name!r} ({column.type}) is handed out as a pyarrow.Array: "
            "install pyarrow, or leave the column out (columns=...)"
        ) from missing
    return pa.array(column)


def _footers(files: list[str], options: Mapping[str, str] | None) -> list[_core.ParquetInfo]:
    """Every file's footer, ``PARALLEL`` at a time (each call releases the GIL)."""
    if not files:
        return []
    with ThreadPoolExecutor(max_workers=min(PARALLEL, len(files))) as pool:
        return list(pool.map(lambda uri: _core.parquet_info(uri, options=options), files))
