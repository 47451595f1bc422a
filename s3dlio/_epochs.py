"""Epochs, passes and resumable state, shared by ``S3IterableDataset`` and
``JaxLoader``.

A reader's ``state_dict()`` is one of two plain dicts:

- **global** (from the process that consumed the samples: the training
  loop's own process): ``{"epoch", "seed", "objects", "position",
  "also_done"}``, a :class:`~s3dlio._sampling.Progress` every rank
  agrees on. It resumes at any world size and worker count.
- **worker** (from inside a DataLoader worker, as torchdata's
  ``StatefulDataLoader`` takes it): the pass the worker was dealt and how
  many samples it handed out. A worker resumes its own share only at the
  same world size and worker count; the loader's whole ``state_dict()``,
  which holds every worker's, is combined here into the global one.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from s3dlio._epoch_clock import IN_WORKERS, NO_OWNER, EpochClock
from s3dlio._sampling import Pass, Progress, epoch_order

READ_IN_WORKERS = (
    "the samples of this pass were read in DataLoader workers, so this copy of "
    "the dataset does not know how far the training loop got: take the state "
    "from torchdata's StatefulDataLoader (its state_dict() holds each worker's "
    "position; load_state_dict() here accepts it whole), or read with num_workers=0"
)


@dataclass(frozen=True)
class _Loaded:
    """A state given to ``load_state_dict`` and not yet resumed."""

    progress: Progress
    token: int  # tells this load from any other in the epoch clock
    dealing: tuple[int, int, int, int] | None = None  # a worker's (rank, world, workers, worker)
    yielded: int = 0  # a worker's samples already handed out
    # Or, for a reader whose worker ``w`` of every rank hands out the same
    # samples in step (S3WebDataset): ``(world_size, workers)`` and the
    # samples each worker index had handed out.
    dealt: tuple[int, int] | None = None
    shares: Mapping[int, int] | None = None


class EpochReader:
    """``set_epoch``/``state_dict``/``load_state_dict`` and passes.

    A subclass sets ``uris``, ``shuffle`` and ``seed``, and defines the
    ``_drop_tail`` property, ``_world()`` -> ``(rank, world_size)`` and
    ``_reader()`` -> ``(worker, workers, in_a_worker)``: which DataLoader
    worker this is."""

    uris: list[str]
    shuffle: bool
    seed: int
    _pad_units = True  # False: a pass deals the units unpadded (see Pass)

    def _init_epochs(self) -> None:
        self._clock = EpochClock()
        self._loaded: _Loaded | None = None
        self._pass: Pass | None = None
        self._yielded = 0  # samples this copy handed out in its pass

    @property
    def _drop_tail(self) -> bool:
        raise NotImplementedError

    def _world(self) -> tuple[int, int]:
        raise NotImplementedError

    def _reader(self) -> tuple[int, int, bool]:
        return 0, 1, False

    @property
    def epoch(self) -> int:
        """The epoch of the current pass (or the one chosen for the next)."""
        return self._clock.epoch

    def set_epoch(self, epoch: int) -> None:
        """Choose the next pass's epoch (and so its shuffle order); it reaches
        DataLoader workers too, persistent ones included. A loaded state for
        this very epoch still resumes."""
        keep = self._loaded is not None and self._loaded.progress.epoch == epoch
        if not keep:
            self._loaded = None
        self._clock.choose(int(epoch), keep_loaded=keep)

    def order(self) -> np.ndarray:
        """The current epoch's order of object indices."""
        return epoch_order(len(self.uris), shuffle=self.shuffle, seed=self.seed, epoch=self.epoch)

    def _full_pass(self) -> Pass:
        return self._pass_from(Progress(self.epoch))

    def _pass_from(self, start: Progress) -> Pass:
        """This reader's pass from ``start``, for its rank and worker."""
        rank, world_size = self._world()
        worker, workers, _ = self._reader()
        return Pass(
            len(self.uris),
            start,
            rank,
            world_size,
            worker,
            workers,
            drop_last=self._drop_tail,
            pad=self._pad_units,
        )

    def _begin_pass(self) -> list[int]:
        """Begin a pass: its epoch from the clock, its start from a loaded
        state if it resumes one. Returns the object indices to read."""
        skip = self._enter_pass()
        assert self._pass is not None
        order = self.order()
        indices: list[int] = order[self._pass.mine()[skip:]].tolist()
        return indices

    def _enter_pass(self) -> int:
        """Begin a pass (``self._pass``); returns how many of this reader's
        samples of it a resumed state had already handed out."""
        rank, world_size = self._world()
        worker, workers, in_worker = self._reader()
        owner = IN_WORKERS if in_worker else _in_process_owner()
        loaded, self._loaded = self._loaded, None
        resume = None if loaded is None else (loaded.token, loaded.progress.epoch)
        epoch, resuming = self._clock.begin(worker, workers, owner, resume)
        start, skip = Progress(epoch), 0
        if resuming:
            if loaded is None or loaded.progress.epoch != epoch:
                raise RuntimeError("some DataLoader workers resume a state and others do not")
            start = loaded.progress
            if loaded.dealing is not None:
                here = (rank, world_size, workers, worker)
                if loaded.dealing != here:
                    raise ValueError(
                        f"a worker's state for (rank, world_size, workers, worker) = "
                        f"{loaded.dealing} cannot resume at {here}; give load_state_dict() "
                        f"the loader's whole state_dict() instead"
                    )
                skip = loaded.yielded
            elif loaded.shares and any(loaded.shares.values()):
                if loaded.dealt != (world_size, workers):
                    raise ValueError(
                        f"a state saved at (world_size, workers) = {loaded.dealt} resumes "
                        f"exactly only there, not at {(world_size, workers)}"
                    )
                skip = int(loaded.shares.get(worker, 0))
        self._pass = self._pass_from(start)
        self._yielded = skip
        return skip

    def _handed_out(self, count: int = 1) -> None:
        self._yielded += count

    def state_dict(self) -> dict[str, Any]:
        """Where the job stands in the epoch (see the module's docstring)."""
        if self._reader()[2] and self._pass is not None:
            p = self._pass
            return {
                **self._header(p.start.epoch),
                "pass": {
                    **_progress_fields(p.start),
                    "rank": p.rank,
                    "world_size": p.world_size,
                    "workers": p.workers,
                },
                "worker": p.worker,
                "yielded": self._yielded,
            }
        return self._global(self._progress())

    def _progress(self) -> Progress:
        if self._loaded is not None:
            return self._loaded.progress
        owner = self._clock.owner()
        if self._clock.pending() or owner == NO_OWNER:
            return Progress(self.epoch)
        if owner != _in_process_owner() or self._pass is None:
            raise RuntimeError(READ_IN_WORKERS)
        return self._pass.progress({self._pass.worker: self._yielded})

    def _header(self, epoch: int) -> dict[str, Any]:
        return {"epoch": epoch, "seed": self.seed, "objects": len(self.uris)}

    def _global(self, progress: Progress) -> dict[str, Any]:
        return {**self._header(progress.epoch), **_progress_fields(progress)}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Resume: the next pass reads only what the saved job had not
        consumed. ``state`` is this reader's ``state_dict()`` (from any
        world size), or a torchdata ``StatefulDataLoader.state_dict()`` as
        a whole (its workers' states are combined)."""
        in_worker = self._reader()[2]
        token = secrets.randbits(62) + 1
        if "pass" in state and "yielded" in state:
            if not in_worker:
                raise ValueError(
                    "this is one DataLoader worker's state; give load_state_dict() "
                    "the loader's whole state_dict(), which holds every worker's"
                )
            self._check(state)
            d = state["pass"]
            self._loaded = _Loaded(
                _progress_of(state["epoch"], d),
                token,
                (int(d["rank"]), int(d["world_size"]), int(d["workers"]), int(state["worker"])),
                int(state["yielded"]),
            )
            return
        progress = self._progress_in(state)
        self._loaded = _Loaded(progress, token)
        if not in_worker:
            self._clock.loaded(token, progress.epoch)

    def _check(self, state: Mapping[str, Any]) -> None:
        if state.get("seed", self.seed) != self.seed:
            raise ValueError("state was saved with a different seed")
        if state.get("objects", len(self.uris)) != len(self.uris):
            raise ValueError(
                f"state was saved over {state['objects']} objects, this reader has {len(self.uris)}"
            )

    def _progress_in(self, state: Mapping[str, Any]) -> Progress:
        """The global progress in ``state``: ours, or found inside a loader's."""
        if "position" in state and "epoch" in state:
            self._check(state)
            return _progress_of(state["epoch"], state)
        if state.get("_steps_since_snapshot", 0):
            raise ValueError(
                "the loader's state was taken between snapshots; use "
                "StatefulDataLoader(snapshot_every_n_steps=1) (the default)"
            )
        ours: list[Mapping[str, Any]] = []
        workers: list[Mapping[str, Any]] = []
        _collect(state, ours, workers)
        if ours and not workers:
            return self._progress_in(ours[-1])
        if not workers:
            raise ValueError("no s3dlio reader state found in the given state")
        return self._combine(workers)

    def _combine(self, workers: list[Mapping[str, Any]]) -> Progress:
        first = workers[0]
        for w in workers:
            self._check(w)
            if w["epoch"] != first["epoch"] or w["pass"] != first["pass"]:
                raise ValueError("the workers' states are from different passes")
        d = first["pass"]
        counts = {int(w["worker"]): int(w["yielded"]) for w in workers}
        if sorted(counts) != list(range(int(d["workers"]))):
            raise ValueError(f"expected the states of {d['workers']} workers, got {sorted(counts)}")
        start = _progress_of(first["epoch"], d)
        p = Pass(
            len(self.uris),
            start,
            int(d["rank"]),
            int(d["world_size"]),
            0,
            int(d["workers"]),
            drop_last=self._drop_tail,
        )
        return p.progress(counts)


def _in_process_owner() -> int:
    """The clock's id for passes read in this process (not by workers)."""
    return IN_WORKERS + 1 + os.getpid()


def _progress_of(epoch: Any, fields: Mapping[str, Any]) -> Progress:
    """The inverse of :func:`_progress_fields`."""
    return Progress(int(epoch), int(fields["position"]), tuple(int(p) for p in fields["also_done"]))


def _progress_fields(progress: Progress) -> dict[str, Any]:
    return {"position": progress.position, "also_done": list(progress.also_done)}


def _collect(state: Any, ours: list[Mapping[str, Any]], workers: list[Mapping[str, Any]]) -> None:
    """Every reader state nested in ``state`` (a loader's state_dict)."""
    if isinstance(state, Mapping):
        if "pass" in state and "yielded" in state:
            workers.append(state)
            return
        if "position" in state and "also_done" in state:
            ours.append(state)
            return
        for value in state.values():
            _collect(value, ours, workers)
    elif isinstance(state, (list, tuple)):
        for value in state:
            _collect(value, ours, workers)
