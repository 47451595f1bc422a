"""Epochs over tar shards: an :class:`~s3dlio._epochs.EpochReader` whose
units are shards and whose samples are their members' samples.

Shards are dealt as the epoch reader deals objects (the epoch's shard
order, position ``j`` to rank ``j % world_size``, a rank's shards
round-robin to its workers), unpadded; :mod:`s3dlio._shard_plan` then
evens the samples out, worker by worker, and fixes the whole order of
each reader from the samples per shard alone.

The state is exact: ``{"epoch", "seed", "objects" (shards), "samples",
"world_size", "workers", "yielded"}`` where ``yielded`` lists the samples
worker ``w`` of every rank had handed out (the same on every rank: the
workers of all ranks go in step), or, from inside a DataLoader worker,
that worker's count (with ``"worker"``). A state taken mid-epoch resumes
the very samples that were left, in the same order, at the same world
size and worker count (a shuffle buffer's order depends on both); one
taken at an epoch's start resumes anywhere.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

import numpy as np

from s3dlio import _tar_index, _webdataset
from s3dlio._epoch_clock import NO_OWNER
from s3dlio._epochs import READ_IN_WORKERS, EpochReader, _in_process_owner, _Loaded
from s3dlio._sampling import Pass, Progress, epoch_order
from s3dlio._shard_plan import Plan

T = TypeVar("T")


class ShardReader(EpochReader):
    """A subclass sets what ``EpochReader`` needs (``uris`` are the
    shards), ``plan`` (a :class:`Plan` of the samples per shard),
    ``shuffle_buffer`` and ``drop_last``."""

    plan: Plan
    shuffle_buffer: int
    drop_last: bool
    _pad_units = False

    @property
    def _drop_tail(self) -> bool:
        return False  # shards are never cut; samples are (see _shard_plan)

    def _init_tar_shards(
        self,
        shards: Sequence[str] | str,
        *,
        index: str | None,
        shuffle: bool,
        seed: int,
        shuffle_buffer: int,
        drop_last: bool,
        options: Mapping[str, str] | None,
    ) -> None:
        """Set up over WebDataset tar shards (a list, a brace pattern or a
        prefix ending in ``/``), their samples counted from their headers
        (or the saved ``index``)."""
        if shuffle_buffer < 1:
            raise ValueError(f"shuffle_buffer must be at least 1, got {shuffle_buffer}")
        self.options = dict(options) if options else None
        self.uris = _webdataset.shards_of(shards, self.options)
        self.plan = Plan(_tar_index.obtain(self.uris, index, self.options).counts())
        self.shuffle = shuffle
        self.seed = seed
        self.shuffle_buffer = shuffle_buffer
        self.drop_last = drop_last
        self._init_epochs()

    def _as_indexed(self, shard: int, samples: list[T]) -> list[T]:
        """``samples`` of ``shard``, checked against its count in the index."""
        expected = int(self.plan.counts[shard])
        if len(samples) != expected:
            raise RuntimeError(
                f"{self.uris[shard]}: {len(samples)} samples, but {expected} when it was "
                "indexed (the shard changed: index it again)"
            )
        return samples

    @property
    def samples(self) -> int:
        """Samples in all the shards."""
        return int(self.plan.offsets[-1])

    def _begin_samples(self) -> tuple[np.ndarray, int]:
        """Begin a pass: this reader's sample ids still to hand out, and
        where its padding starts among them."""
        skip = self._enter_pass()
        assert self._pass is not None
        p = self._pass
        ids, pad_start = self.reader_order(p.start.epoch, p.rank, p.world_size, p.worker, p.workers)
        ids = ids[: self._kept(len(ids))]
        return ids[skip:], max(min(pad_start, len(ids)) - skip, 0)

    def _kept(self, samples: int) -> int:
        """How many of a reader's ``samples`` in a pass it hands out (a
        loader that drops a partial last batch keeps fewer)."""
        return samples

    def reader_order(
        self, epoch: int, rank: int, world_size: int, worker: int, workers: int
    ) -> tuple[np.ndarray, int]:
        """Worker ``worker`` of rank ``rank``'s whole order of sample ids
        in ``epoch``, and where its padding starts."""
        order = np.asarray(self._order_at(epoch), np.int64)
        dealt = Pass(
            len(self.uris),
            Progress(epoch),
            rank,
            world_size,
            0,
            workers,
            drop_last=False,
            pad=False,
        )
        ranks, workers_of = dealt.readers()
        shards = order[dealt.queue]
        totals = np.bincount(
            ranks * workers + workers_of,
            weights=self.plan.counts[shards],
            minlength=world_size * workers,
        ).reshape(world_size, workers)[:, worker]
        target = int(totals.min() if self.drop_last else totals.max())
        mine = (ranks == rank) & (workers_of == worker)
        rng = None
        if self.shuffle:
            rng = np.random.default_rng([self.seed, epoch, rank, worker])
        return self.plan.reader_order(
            shards[mine],
            target,
            [shards[ranks == rank], shards],
            buffer=self.shuffle_buffer,
            rng=rng,
        )

    def _order_at(self, epoch: int) -> np.ndarray:
        return epoch_order(len(self.uris), shuffle=self.shuffle, seed=self.seed, epoch=epoch)

    def _header(self, epoch: int) -> dict[str, Any]:
        return {**super()._header(epoch), "samples": self.samples}

    def state_dict(self) -> dict[str, Any]:
        """Where the job stands in the epoch (see the module's docstring)."""
        p = self._pass
        if self._reader()[2] and p is not None:
            return {
                **self._header(p.start.epoch),
                "world_size": p.world_size,
                "workers": p.workers,
                "worker": p.worker,
                "yielded": self._yielded,
            }
        if self._loaded is not None:
            loaded = self._loaded
            shares = loaded.shares or {}
            world, workers = loaded.dealt or (None, None)
            yielded = [int(shares.get(w, 0)) for w in range(workers or 0)]
            return self._state(loaded.progress.epoch, world, workers, yielded)
        owner = self._clock.owner()
        if self._clock.pending() or owner == NO_OWNER:
            return self._state(self.epoch, None, None, [])
        if owner != _in_process_owner() or p is None:
            raise RuntimeError(READ_IN_WORKERS)
        return self._state(p.start.epoch, p.world_size, 1, [self._yielded])

    def _state(
        self, epoch: int, world_size: int | None, workers: int | None, yielded: list[int]
    ) -> dict[str, Any]:
        return {
            **self._header(epoch),
            "world_size": world_size,
            "workers": workers,
            "yielded": yielded,
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Resume: the next pass hands out exactly the samples the saved job
        had not, in the same order. ``state`` is this dataset's
        ``state_dict()``, or a torchdata ``StatefulDataLoader.state_dict()``
        as a whole (its workers' states are combined)."""
        in_worker = self._reader()[2]
        if state.get("_steps_since_snapshot", 0):
            raise ValueError(
                "the loader's state was taken between snapshots; use "
                "StatefulDataLoader(snapshot_every_n_steps=1) (the default)"
            )
        found: list[Mapping[str, Any]] = []
        _collect(state, found)
        if not found:
            raise ValueError("no s3dlio shard reader state found in the given state")
        for s in found:
            self._check(s)
            if s.get("samples", self.samples) != self.samples:
                raise ValueError(
                    f"state was saved over {s['samples']} samples, the shards now hold "
                    f"{self.samples}"
                )
        first = found[0]
        if any(s["epoch"] != first["epoch"] for s in found):
            raise ValueError("the states are from different epochs")
        epoch = int(first["epoch"])
        dealt = None
        if first["workers"] is not None:
            dealt = (int(first["world_size"]), int(first["workers"]))
        if "worker" not in first:  # the whole job's
            if len(found) > 1:
                raise ValueError("more than one dataset state in the given state")
            shares = dict(enumerate(int(y) for y in first["yielded"]))
        else:
            if any(
                (s["world_size"], s["workers"]) != (first["world_size"], first["workers"])
                for s in found
            ):
                raise ValueError("the workers' states are from different loaders")
            shares = {int(s["worker"]): int(s["yielded"]) for s in found}
            whole = sorted(shares) == list(range(int(first["workers"])))
            if not whole and not (in_worker and len(found) == 1):
                raise ValueError(
                    f"expected the states of {first['workers']} workers, got {sorted(shares)}: "
                    "give load_state_dict() the loader's whole state_dict()"
                )
        token = secrets.randbits(62) + 1
        self._loaded = _Loaded(Progress(epoch), token, dealt=dealt, shares=shares)
        if not in_worker:
            self._clock.loaded(token, epoch)


def _collect(state: Any, found: list[Mapping[str, Any]]) -> None:
    """Every shard reader state nested in ``state`` (a loader's state_dict)."""
    if isinstance(state, Mapping):
        if "yielded" in state and "workers" in state and "samples" in state:
            found.append(state)
            return
        for value in state.values():
            _collect(value, found)
    elif isinstance(state, (list, tuple)):
        for value in state:
            _collect(value, found)
