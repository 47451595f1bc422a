"""Which epoch a pass over a dataset is, agreed by every process that reads
it: the main process and its DataLoader workers, persistent or not.

A DataLoader worker holds its own copy of the dataset, so an epoch chosen
in the main process (``set_epoch``) never reaches a persistent worker
through the copy. The clock is instead a few integers in one page of shared
memory (a ``memfd``), inherited by forked workers and handed to spawned
and forkserver workers as a file descriptor when the dataset is pickled for
them; a plain ``pickle`` makes an independent clock with the same values.

Worker 0 of a pass (or the process itself, without workers) begins it and
decides its epoch; the other workers wait until it has (as MosaicML
streaming's workers wait for their leader). The epoch is:

- that of a state loaded with ``load_state_dict`` and not used yet;
- else one chosen with ``set_epoch`` and not used yet;
- else the epoch after the last pass (a new pass is the next epoch).

Where ``os.memfd_create`` is missing the clock is private to the process.
"""

from __future__ import annotations

import fcntl
import mmap
import os
import threading
import time
import weakref
from collections.abc import Callable
from multiprocessing import context, reduction
from typing import Protocol

import numpy as np

PAGE = 4096
EPOCH, CHOSEN, RESUMING, OWNER, PASSES, USED_RESUME, LOADED_RESUME = range(7)
JOINED = 16  # then per worker: the last pass it joined
MAX_WORKERS = PAGE // 8 - JOINED
NO_OWNER = 0  # no pass has begun yet
IN_WORKERS = 1  # the last pass was read by DataLoader workers
JOIN_TIMEOUT_S = 120.0


class _FdHandle(Protocol):
    """What ``reduction.DupFd`` unpickles as: a descriptor to take over."""

    def detach(self) -> int: ...


class EpochClock:
    """The epoch of the current pass, shared with this reader's workers."""

    def __init__(self, values: np.ndarray | None = None) -> None:
        self._fd = -1
        self._map: mmap.mmap | bytearray
        if hasattr(os, "memfd_create"):
            self._fd = os.memfd_create("s3dlio-epoch", os.MFD_CLOEXEC)
            weakref.finalize(self, os.close, self._fd)
            os.ftruncate(self._fd, PAGE)
            self._map = mmap.mmap(self._fd, PAGE, flags=mmap.MAP_SHARED)
        else:
            self._map = bytearray(PAGE)
        self._fields = np.frombuffer(self._map, np.int64)
        if values is None:
            self._fields[:] = 0
            self._fields[CHOSEN] = 1  # the first pass is epoch 0
        else:
            self._fields[:] = values
        self._thread_lock = threading.Lock()
        self._pid = os.getpid()

    @classmethod
    def _attach(cls, fd_handle: _FdHandle) -> EpochClock:
        clock = cls.__new__(cls)
        clock._fd = fd_handle.detach()
        weakref.finalize(clock, os.close, clock._fd)
        clock._map = mmap.mmap(clock._fd, PAGE, flags=mmap.MAP_SHARED)
        clock._fields = np.frombuffer(clock._map, np.int64)
        clock._thread_lock = threading.Lock()
        clock._pid = os.getpid()
        return clock

    def __reduce__(self) -> tuple[Callable[..., EpochClock], tuple[object, ...]]:
        # To a spawned or forkserver worker: the same memory. Anywhere else
        # (a plain pickle): an independent clock at the same values.
        if self._fd >= 0 and context.get_spawning_popen() is not None:
            return (EpochClock._attach, (reduction.DupFd(self._fd),))
        return (EpochClock, (self._fields.copy(),))

    def _locked(self) -> _Locked:
        if self._pid != os.getpid():  # forked: a lock held by another thread stays held
            self._thread_lock, self._pid = threading.Lock(), os.getpid()
        return _Locked(self._thread_lock, self._fd)

    @property
    def epoch(self) -> int:
        """The epoch of the current (or last) pass, or the one chosen for the next."""
        return int(self._fields[EPOCH])

    def choose(self, epoch: int, *, keep_loaded: bool) -> None:
        """``set_epoch``: the next pass is ``epoch`` (resuming a loaded state
        only when ``keep_loaded``)."""
        with self._locked():
            self._fields[EPOCH] = epoch
            self._fields[CHOSEN] = 1
            if not keep_loaded:
                self._fields[LOADED_RESUME] = self._fields[USED_RESUME]

    def loaded(self, token: int, epoch: int) -> None:
        """A state for ``epoch`` was loaded in this process; readers that
        start a pass without it (workers started before) must refuse."""
        with self._locked():
            self._fields[EPOCH] = epoch
            self._fields[LOADED_RESUME] = token

    def begin(
        self, worker: int, workers: int, owner: int, resume: tuple[int, int] | None
    ) -> tuple[int, bool]:
        """Begin (worker 0) or join (the others) a pass read by ``workers``
        processes; ``owner`` is the in-process reader's id, or
        ``IN_WORKERS``; ``resume`` is ``(token, epoch)`` of a state this
        reader loaded. Returns the pass's epoch and whether it resumes a
        loaded state."""
        if not 0 <= worker < workers <= MAX_WORKERS:
            raise ValueError(f"worker {worker} of {workers}: at most {MAX_WORKERS} workers")
        if worker == 0:
            return self._lead(workers, owner, resume)
        deadline = time.monotonic() + JOIN_TIMEOUT_S
        f = self._fields
        while True:
            with self._locked():
                if f[PASSES] > f[JOINED + worker]:
                    f[JOINED + worker] = f[PASSES]
                    return int(f[EPOCH]), bool(f[RESUMING])
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"DataLoader worker {worker}: worker 0 did not begin the pass "
                    f"within {JOIN_TIMEOUT_S:.0f} s"
                )
            time.sleep(0.002)

    def _lead(self, workers: int, owner: int, resume: tuple[int, int] | None) -> tuple[int, bool]:
        f = self._fields
        with self._locked():
            loaded = int(f[LOADED_RESUME])
            if (
                loaded != 0
                and loaded != int(f[USED_RESUME])
                and (resume is None or resume[0] != loaded)
            ):
                raise RuntimeError(
                    "load_state_dict() was called after the DataLoader's "
                    "persistent workers started; load the state before the "
                    "first pass over the loader"
                )
            if resume is not None and resume[0] != int(f[USED_RESUME]):
                f[USED_RESUME] = resume[0]
                f[EPOCH], f[RESUMING], f[CHOSEN] = resume[1], 1, 0
            elif f[CHOSEN]:
                f[CHOSEN], f[RESUMING] = 0, 0
            else:
                f[EPOCH] += 1
                f[RESUMING] = 0
            f[PASSES] += 1
            f[OWNER] = owner
            # Worker 0 joins now; workers beyond this pass's count skip it,
            # so that a later loader with more workers waits for its own.
            f[JOINED] = f[PASSES]
            f[JOINED + workers :] = f[PASSES]
            return int(f[EPOCH]), bool(f[RESUMING])

    def owner(self) -> int:
        """Who read the last pass: ``NO_OWNER`` before the first,
        ``IN_WORKERS``, or the in-process reader's id."""
        return int(self._fields[OWNER])

    def pending(self) -> bool:
        """True when the next pass's epoch was chosen and not yet begun."""
        return bool(self._fields[CHOSEN])


class _Locked:
    """The clock's lock: one thread of this process, then one process."""

    def __init__(self, thread_lock: threading.Lock, fd: int) -> None:
        self.thread_lock, self.fd = thread_lock, fd

    def __enter__(self) -> None:
        self.thread_lock.acquire()
        if self.fd >= 0:
            fcntl.lockf(self.fd, fcntl.LOCK_EX)

    def __exit__(self, *exc: object) -> None:
        if self.fd >= 0:
            fcntl.lockf(self.fd, fcntl.LOCK_UN)
        self.thread_lock.release()
