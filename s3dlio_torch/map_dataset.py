"""Map-style dataset: index -> object, one parallel fetch per batch."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from torch.utils.data import Dataset

import s3dlio
from s3dlio import _sampling
from s3dlio_torch import _tensors, _worker_gc


class S3MapDataset(Dataset[Any]):
    """Objects of any s3dlio backend as a map-style torch ``Dataset``.

    ``uris`` is a sequence of URIs or a prefix string (listed once). Items
    are 1-D ``torch.uint8`` tensors sharing the fetched memory (or whatever
    ``transform(tensor)`` returns). Works with any sampler; ``DataLoader``
    calls ``__getitems__`` so each batch is one parallel fetch. When every
    size is known (a listed prefix, or ``sizes=``) a batch is fetched with
    ``get_batch`` into one buffer, and :func:`s3dlio_torch.collate` turns
    equal-size rows into the ``[B, size]`` batch with no copy.
    ``pin_memory=True`` (with ``num_workers=0``) lands each batch in a
    CUDA-registered slab, ready for ``s3dlio_torch.DeviceLoader``.

    Holds only URIs and settings, so it pickles into DataLoader workers
    under fork, spawn and forkserver (no client or runtime is pickled).
    """

    def __init__(
        self,
        uris: Sequence[str] | str,
        *,
        transform: Callable[[Any], Any] | None = None,
        max_in_flight: int = 64,
        options: Mapping[str, str] | None = None,
        sizes: Sequence[int] | None = None,
        pin_memory: bool = False,
    ) -> None:
        self.pin_memory = pin_memory
        self.options = dict(options) if options else None
        self.uris, listed_sizes = _sampling.resolve(uris, self.options)
        self.sizes = list(sizes) if sizes is not None else listed_sizes
        if self.sizes is not None and len(self.sizes) != len(self.uris):
            raise ValueError(f"{len(self.sizes)} sizes for {len(self.uris)} URIs")
        self.transform = transform
        self.max_in_flight = max_in_flight

    def __len__(self) -> int:
        return len(self.uris)

    def __getitem__(self, index: int) -> Any:
        _worker_gc.settle()
        view = s3dlio.get(self.uris[index], options=self.options)
        return _tensors.apply(self.transform, [_tensors.view_tensor(view)])[0]

    def __getitems__(self, indices: Sequence[int]) -> list[Any]:
        _worker_gc.settle()
        uris = [self.uris[i] for i in indices]
        sizes = [self.sizes[i] for i in indices] if self.sizes is not None else None
        tensors = _tensors.fetch_rows(
            uris, sizes, self.max_in_flight, self.options, self.pin_memory
        )
        return _tensors.apply(self.transform, tensors)
