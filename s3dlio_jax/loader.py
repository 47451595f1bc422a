"""JaxLoader: batches of objects as jax.Arrays over the fetched memory."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

import s3dlio
from s3dlio import _epochs, _sampling
from s3dlio_jax.tar_loader import TarLoader


class JaxLoader(_epochs.EpochReader):
    """An input pipeline of object batches for JAX.

    ``uris`` is a sequence of URIs or a prefix string (listed once, which
    also gives every size). Each batch of ``batch_size`` objects is fetched
    with one ``get_batch`` straight into one buffer; equal-size objects
    become one ``[batch, size]`` uint8 ``jax.Array`` over that buffer with
    no copy on CPU (DLPack), reinterpreted as ``dtype`` and
    ``(batch, *sample_shape)`` when given (e.g. ``dtype="float32",
    sample_shape=(n, d)``), still without a copy. Objects of different
    sizes yield a list of 1-D arrays, each over its row of the buffer.
    ``transform(batch)`` then runs on the result, and ``device`` (a
    ``jax.Device`` or ``jax.sharding.Sharding``) places each batch with
    ``jax.device_put`` ahead of use. With ``pinned=True`` and a ``device``
    each batch lands in a CUDA-registered slab (``s3dlio.PinnedPool``) and
    is put on the device straight from it, with no staging copy; the
    transform then runs on the device arrays, and the slab is recycled once
    the transfer is complete. (On a CPU device ``pinned`` changes nothing:
    the batch is already there, shared without a copy.)

    The order is a permutation fixed by ``(seed, epoch)`` when
    ``shuffle``, split across ``jax.process_index()``/``process_count()``
    (or the given values), every object once per epoch. Every process
    yields the same number of samples and batches: when the count does not
    divide evenly the last processes also read the first samples of the
    epoch's order again (fewer than ``process_count`` repeats); with
    ``drop_remainder`` that tail is dropped instead and every batch is
    full. ``prefetch`` batches are fetched in the background while the
    current one is in use. Each new pass is the next epoch unless
    ``set_epoch`` chose one. ``state_dict()`` is the job's position in the
    epoch, the same on every process; ``load_state_dict`` resumes it at any
    process count.
    """

    def __init__(
        self,
        uris: Sequence[str] | str,
        *,
        batch_size: int,
        shuffle: bool = False,
        seed: int = 0,
        drop_remainder: bool = False,
        prefetch: int = 2,
        transform: Callable[[Any], Any] | None = None,
        process_index: int | None = None,
        process_count: int | None = None,
        options: Mapping[str, str] | None = None,
        dtype: str = "uint8",
        sample_shape: Sequence[int] | None = None,
        device: Any = None,
        max_in_flight: int = 64,
        sizes: Sequence[int] | None = None,
        pinned: bool = False,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        if prefetch < 1:
            raise ValueError(f"prefetch must be at least 1, got {prefetch}")
        self.options = dict(options) if options else None
        self.uris, listed = _sampling.resolve(uris, self.options)
        self.sizes = list(sizes) if sizes is not None else listed
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.seed = seed
        self.drop_remainder = drop_remainder
        self.prefetch = prefetch
        self.transform = transform
        self.process_index = process_index
        self.process_count = process_count
        self.dtype = dtype
        self.sample_shape = tuple(sample_shape) if sample_shape is not None else None
        self.device = device
        self.max_in_flight = max_in_flight
        self.pinned = pinned
        self._init_epochs()

    @staticmethod
    def over_tar_shards(
        shards: Sequence[str] | str, *, batch_size: int, **kwargs: Any
    ) -> TarLoader:
        """Batches of the samples of WebDataset tar shards (a
        :class:`~s3dlio_jax.TarLoader`, which takes the same keywords)."""
        return TarLoader(shards, batch_size=batch_size, **kwargs)

    @property
    def _drop_tail(self) -> bool:
        return self.drop_remainder

    def _world(self) -> tuple[int, int]:
        index = jax.process_index() if self.process_index is None else self.process_index
        count = jax.process_count() if self.process_count is None else self.process_count
        return index, count

    def my_indices(self) -> list[int]:
        """The object indices this process reads in a whole pass of the
        current epoch, in order."""
        indices: list[int] = self.order()[self._full_pass().mine()].tolist()
        return indices

    def _batches(self, mine: list[int]) -> list[list[int]]:
        full = len(mine) // self.batch_size * self.batch_size
        end = full if self.drop_remainder else len(mine)
        return [mine[i : i + self.batch_size] for i in range(0, end, self.batch_size)]

    def __len__(self) -> int:
        """Batches this process yields per epoch."""
        return len(self._batches(self.my_indices()))

    def __iter__(self) -> Iterator[Any]:
        return self._read(self._batches(self._begin_pass()))

    def _read(self, batches: list[list[int]]) -> Iterator[Any]:
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="s3dlio-jax") as pool:
            pending: deque[Future[tuple[Any, Any]]] = deque()
            upcoming = iter(batches)
            for indices in upcoming:
                pending.append(pool.submit(self._load, indices))
                if len(pending) >= self.prefetch:
                    break
            hold = s3dlio.HostHold()
            try:
                while pending:
                    batch, host = pending.popleft().result()
                    if host is not None:
                        hold.hold(host, _Transfer(batch))
                    del host
                    following = next(upcoming, None)
                    if following is not None:
                        pending.append(pool.submit(self._load, following))
                    self._handed_out(self.batch_size)
                    yield batch
                    hold.release()
            finally:
                hold.wait()

    def _load(self, indices: list[int]) -> tuple[Any, Any]:
        """The batch, and the host memory its device transfer still reads
        (None when nothing is in flight)."""
        uris = [self.uris[i] for i in indices]
        sizes = [self.sizes[i] for i in indices] if self.sizes is not None else None
        pinned = self.pinned and self.device is not None and on_accelerator(self.device)
        batch = s3dlio.get_batch(
            uris, self.max_in_flight, sizes=sizes, options=self.options, pinned=pinned or None
        )
        if pinned:
            return self._to_device_from(batch), batch
        return self._on_host(batch), None

    def _rows(self, batch: s3dlio.Batch, from_dlpack: Callable[[Any], Any]) -> Any:
        """One ``[batch, *sample_shape]`` array over the buffer for equal
        sizes, else one 1-D array per row (no copy either way)."""
        if batch.uniform_size is not None:
            shape = (len(batch), *self.sample_shape) if self.sample_shape else None
            return from_dlpack(batch.as_tensor(self.dtype, shape))
        return [from_dlpack(batch[i].as_tensor(self.dtype)) for i in range(len(batch))]

    def _to_device_from(self, batch: s3dlio.Batch) -> Any:
        """device_put straight from the batch's (pinned) slab; the transform
        then runs on the device arrays."""
        out = jax.device_put(self._rows(batch, np.from_dlpack), self.device, may_alias=False)
        return self.transform(out) if self.transform is not None else out

    def _on_host(self, batch: s3dlio.Batch) -> Any:
        out = self._rows(batch, jnp.from_dlpack)
        if self.transform is not None:
            out = self.transform(out)
        if self.device is not None:
            out = jax.device_put(out, self.device)
        return out


def on_accelerator(device: Any) -> bool:
    """True when ``device`` (a Device or Sharding) has no CPU device: a
    device_put to the CPU may alias host memory, so a recyclable slab must
    not be its source (there the zero-copy host path is used instead)."""
    devices = getattr(device, "device_set", None) or {device}
    return all(getattr(d, "platform", "cpu") != "cpu" for d in devices)


class _Transfer:
    """A device transfer as a fence: done when every array is ready."""

    def __init__(self, out: Any) -> None:
        self.arrays = [a for a in jax.tree_util.tree_leaves(out) if isinstance(a, jax.Array)]

    def query(self) -> bool:
        # jax.Array's stub omits is_ready(), which every jax array has.
        return all(a.is_ready() for a in self.arrays)  # type: ignore[attr-defined]

    def synchronize(self) -> None:
        for a in self.arrays:
            a.block_until_ready()
