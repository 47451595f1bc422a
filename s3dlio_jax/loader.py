"""JaxLoader: batches of objects as jax.Arrays over the fetched memory."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import jax
import jax.numpy as jnp

import s3dlio
from s3dlio import _sampling


class JaxLoader(_sampling.EpochProgress):
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
    ``jax.device_put`` ahead of use.

    The order is a permutation fixed by ``(seed, epoch)`` when
    ``shuffle``, split across ``jax.process_index()``/``process_count()``
    (or the given values), every object once per epoch; with
    ``drop_remainder`` every process yields the same number of full
    batches. ``prefetch`` batches are fetched in the background while the
    current one is in use. ``state_dict``/``load_state_dict`` resume
    mid-epoch; call ``set_epoch`` before each epoch.
    """

    _unit = "batches"

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
        _sampling.EpochProgress.__init__(self)  # counts batches handed out

    def _process(self) -> tuple[int, int]:
        index = jax.process_index() if self.process_index is None else self.process_index
        count = jax.process_count() if self.process_count is None else self.process_count
        return index, count

    def my_indices(self) -> list[int]:
        """The object indices this process reads this epoch, in order."""
        order = _sampling.epoch_order(
            len(self.uris), shuffle=self.shuffle, seed=self.seed, epoch=self.epoch
        )
        index, count = self._process()
        return _sampling.shard(order, index, count, even=self.drop_remainder).tolist()

    def _batches(self) -> list[list[int]]:
        mine = self.my_indices()
        full = len(mine) // self.batch_size * self.batch_size
        end = full if self.drop_remainder else len(mine)
        return [mine[i : i + self.batch_size] for i in range(0, end, self.batch_size)]

    def __len__(self) -> int:
        """Batches this process yields per epoch."""
        return len(self._batches())

    def __iter__(self) -> Iterator[Any]:
        batches = self._batches()[self._begin() :]
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="s3dlio-jax") as pool:
            pending: deque[Future] = deque()
            upcoming = iter(batches)
            for indices in upcoming:
                pending.append(pool.submit(self._load, indices))
                if len(pending) >= self.prefetch:
                    break
            while pending:
                batch = pending.popleft().result()
                following = next(upcoming, None)
                if following is not None:
                    pending.append(pool.submit(self._load, following))
                self._handed_out()
                yield batch

    def _load(self, indices: list[int]) -> Any:
        uris = [self.uris[i] for i in indices]
        sizes = [self.sizes[i] for i in indices] if self.sizes is not None else None
        batch = s3dlio.get_batch(uris, self.max_in_flight, sizes=sizes, options=self.options)
        if batch.uniform_size is not None:
            shape = (len(batch), *self.sample_shape) if self.sample_shape else None
            out: Any = jnp.from_dlpack(batch.as_tensor(self.dtype, shape))
        else:
            out = [jnp.from_dlpack(batch[i].as_tensor(self.dtype)) for i in range(len(batch))]
        if self.transform is not None:
            out = self.transform(out)
        if self.device is not None:
            out = jax.device_put(out, self.device)
        return out
