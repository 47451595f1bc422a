"""Iterable dataset: sharded over ranks and workers, shuffled per epoch,
prefetching the next window while the current one is consumed."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from torch.utils.data import IterableDataset

from s3dlio import _epochs, _sampling
from s3dlio_torch import _sharding, _tensors


class S3IterableDataset(IterableDataset[Any], _epochs.EpochReader):
    """Objects of any s3dlio backend as an iterable torch dataset.

    Each epoch's order is a permutation of the objects fixed by
    ``(seed, epoch)`` (when ``shuffle``), split across distributed ranks
    (``rank``/``world_size``, else ``torch.distributed``, else the
    ``RANK``/``WORLD_SIZE`` environment) and then across DataLoader
    workers, so every object is read once per epoch. Every rank yields
    the same number of samples: when the count does not divide evenly the
    last ranks also read the first samples of the epoch's order again
    (fewer than ``world_size`` repeats, as ``DistributedSampler`` pads);
    ``drop_last`` drops that tail instead. Objects are fetched
    ``batch_fetch`` at a time with ``get_many``; the next window is fetched
    in the background while the current one is consumed (at most two
    windows are held).

    Each new pass is the next epoch unless ``set_epoch`` chose one; both
    reach DataLoader workers, persistent ones too. ``state_dict()`` is the
    job's position in the epoch, the same on every rank, and
    ``load_state_dict()`` resumes it at any world size or worker count:
    in-process (``num_workers=0``) directly; with workers, from torchdata's
    ``StatefulDataLoader`` (its own ``load_state_dict`` at the same worker
    count, or its whole ``state_dict()`` given to this dataset's
    ``load_state_dict`` before the new loader starts, at any count).
    ``pin_memory=True`` (with ``num_workers=0``) lands each window in a
    CUDA-registered slab, ready for ``s3dlio_torch.DeviceLoader``.
    """

    def __init__(
        self,
        uris: Sequence[str] | str,
        *,
        shuffle: bool = False,
        seed: int = 0,
        transform: Callable[[Any], Any] | None = None,
        batch_fetch: int = 64,
        max_in_flight: int = 64,
        drop_last: bool = False,
        rank: int | None = None,
        world_size: int | None = None,
        options: Mapping[str, str] | None = None,
        pin_memory: bool = False,
    ) -> None:
        if batch_fetch < 1:
            raise ValueError(f"batch_fetch must be at least 1, got {batch_fetch}")
        self.pin_memory = pin_memory
        self.options = dict(options) if options else None
        self.uris, self.sizes = _sampling.resolve(uris, self.options)
        self.shuffle = shuffle
        self.seed = seed
        self.transform = transform
        self.batch_fetch = batch_fetch
        self.max_in_flight = max_in_flight
        self.drop_last = drop_last
        self.rank = rank
        self.world_size = world_size
        self._init_epochs()

    @property
    def _drop_tail(self) -> bool:
        return self.drop_last

    def _world(self) -> tuple[int, int]:
        return _sharding.world(self.rank, self.world_size)

    def _reader(self) -> tuple[int, int, bool]:
        return _sharding.worker()

    def my_indices(self) -> list[int]:
        """The object indices this rank and worker read in a whole pass of
        the current epoch, in order."""
        indices: list[int] = self.order()[self._full_pass().mine()].tolist()
        return indices

    def __iter__(self) -> Iterator[Any]:
        # The pass begins now, not at the first next(): a loader takes the
        # state of a worker right after creating its iterator. An error
        # waits for the first next(), where a DataLoader worker reports it
        # (raised here, it would only kill the worker).
        try:
            indices = self._begin_pass()
        except (RuntimeError, ValueError) as error:
            return _raising(error)
        return self._read(indices)

    def _read(self, indices: list[int]) -> Iterator[Any]:
        windows = [
            indices[start : start + self.batch_fetch]
            for start in range(0, len(indices), self.batch_fetch)
        ]
        if not windows:
            return
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="s3dlio-prefetch") as pool:
            pending = pool.submit(self._fetch, windows[0])
            for n in range(len(windows)):
                current = pending.result()
                if n + 1 < len(windows):
                    pending = pool.submit(self._fetch, windows[n + 1])
                for sample in _tensors.apply(self.transform, current):
                    self._handed_out()
                    yield sample

    def _fetch(self, indices: list[int]) -> list[Any]:
        uris = [self.uris[i] for i in indices]
        # Sizes known from the listing: the window lands in one buffer, and
        # s3dlio_torch.collate can hand aligned rows on unstacked.
        sizes = [self.sizes[i] for i in indices] if self.sizes is not None else None
        return _tensors.fetch_rows(uris, sizes, self.max_in_flight, self.options, self.pin_memory)


def _raising(error: Exception) -> Iterator[Any]:
    yield from ()  # a generator: raises at the first next()
    raise error
