"""TarLoader: batches of WebDataset tar samples for JAX, shards dealt to
processes, shuffled per epoch, each shard fetched once, the next in the
background."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

import s3dlio
from s3dlio import _shard_plan, _webdataset
from s3dlio._shard_epochs import ShardReader

Sample = dict[str, Any]


class TarLoader(ShardReader):
    """Batches of the samples of WebDataset tar shards.

    ``shards`` is a list of URIs, a brace pattern or a prefix ending in
    ``/``; keys and fields follow WebDataset, and the shards are indexed
    once from their headers (or ``index``) for their sample counts, as
    ``s3dlio_torch.S3WebDataset`` does. Each epoch the shards are put in
    an order fixed by ``(seed, epoch)`` (when ``shuffle``) and dealt to
    ``jax.process_index()``/``process_count()`` (or the given values);
    each process reads its shards whole, one ``read_tar`` each, the next
    in the background, its samples through a buffer of ``shuffle_buffer``
    seeded by ``(seed, epoch, process)`` when shuffling. Every process
    yields the same number of samples and batches: the short ones wrap
    around to the start of their own samples, or with ``drop_remainder``
    every process stops at the fewest and every batch is full.

    A sample is ``{"__key__", "__url__", field: array}``, each field a 1-D
    uint8 ``jax.Array`` over the fetched shard's memory (no copy on CPU),
    or whatever ``transform(sample)`` returns. A batch is a dict of the
    samples' values by name, each value with ``stack`` (the default) one
    ``jax.Array`` ``[batch, ...]`` when the samples' arrays (numpy, numpy
    scalars or jax) share a shape and dtype, or all are Python ints or all
    floats (one copy, into the batch), else the list of the samples'
    values (the keys and URIs are lists). ``batch_transform(batch)`` runs
    last. ``set_epoch``, ``state_dict`` and ``load_state_dict`` work as for
    ``JaxLoader``; a state taken mid-epoch resumes the exact batches that
    were left at the same process count (one taken between epochs, at
    any).
    """

    def __init__(
        self,
        shards: Sequence[str] | str,
        *,
        batch_size: int,
        shuffle: bool = False,
        seed: int = 0,
        shuffle_buffer: int = 1000,
        drop_remainder: bool = False,
        transform: Callable[[Sample], Sample] | None = None,
        batch_transform: Callable[[dict[str, Any]], Any] | None = None,
        stack: bool = True,
        process_index: int | None = None,
        process_count: int | None = None,
        options: Mapping[str, str] | None = None,
        index: str | None = None,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        self.batch_size = batch_size
        self.drop_remainder = drop_remainder
        self.transform = transform
        self.batch_transform = batch_transform
        self.stack = stack
        self.process_index = process_index
        self.process_count = process_count
        self._init_tar_shards(
            shards,
            index=index,
            shuffle=shuffle,
            seed=seed,
            shuffle_buffer=shuffle_buffer,
            drop_last=drop_remainder,
            options=options,
        )

    def _world(self) -> tuple[int, int]:
        index = jax.process_index() if self.process_index is None else self.process_index
        count = jax.process_count() if self.process_count is None else self.process_count
        return index, count

    def _kept(self, samples: int) -> int:
        if self.drop_remainder:
            return samples // self.batch_size * self.batch_size
        return samples

    def __len__(self) -> int:
        """Batches this process yields per epoch."""
        rank, world_size = self._world()
        ids, _ = self.reader_order(self.epoch, rank, world_size, 0, 1)
        return (self._kept(len(ids)) + self.batch_size - 1) // self.batch_size

    def __iter__(self) -> Iterator[Any]:
        return self._read(*self._begin_samples())

    def _read(self, ids: np.ndarray, pad_start: int) -> Iterator[Any]:
        batch: list[Sample] = []
        for sample in _shard_plan.read(self.plan, ids, pad_start, self._fetch):
            batch.append(dict(sample) if self.transform is None else self.transform(dict(sample)))
            if len(batch) == self.batch_size:
                yield self._finish(batch)
                batch = []
        if batch:
            yield self._finish(batch)

    def _finish(self, samples: list[Sample]) -> Any:
        self._handed_out(len(samples))
        names = list(dict.fromkeys(name for s in samples for name in s))
        out = {name: self._collate([s.get(name) for s in samples]) for name in names}
        return out if self.batch_transform is None else self.batch_transform(out)

    def _collate(self, values: list[Any]) -> Any:
        if not self.stack:
            return values
        if all(type(v) in (int, float) for v in values) and len({type(v) for v in values}) == 1:
            return jnp.asarray(values)
        if not all(isinstance(v, np.ndarray | np.generic | jax.Array) for v in values):
            return values
        first = values[0]
        if any(v.shape != first.shape or v.dtype != first.dtype for v in values):
            return values
        return jnp.stack(values)

    def _fetch(self, shard: int) -> list[Sample]:
        uri = self.uris[shard]
        members = s3dlio.read_tar(uri, options=self.options)
        samples = [
            {"__key__": key, "__url__": uri}
            | {field: jnp.from_dlpack(view) for field, view in fields}
            for key, fields in _webdataset.group(members, uri)
        ]
        return self._as_indexed(shard, samples)


__all__ = ["TarLoader"]
