"""Map-style dataset over the samples of WebDataset tar shards: any sample
by index, a batch fetched with its ranged requests in flight together."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from torch.utils.data import Dataset

from s3dlio import _tar_index, _tar_samples
from s3dlio_torch import _tensors, _worker_gc


class S3TarMapDataset(Dataset[Any]):
    """Every sample of every shard, by index: ``{"__key__", "__url__",
    field: tensor, ...}`` as ``S3WebDataset`` yields them (each field a
    1-D ``torch.uint8`` tensor over the fetched bytes, no copy), or
    ``transform(sample)``.

    The shards (a list, a brace pattern, or a prefix ending in ``/``) are
    indexed once, from their headers alone and in parallel, or the index
    is loaded from ``index`` (a path or URI written by
    :meth:`save_index`). A sample is one ranged read of its members;
    ``DataLoader`` calls ``__getitems__``, which has every sample of the
    batch in flight at once (up to ``max_in_flight``), from any shards, so
    ``DataLoader(shuffle=True)`` shuffles over the whole dataset. Holds
    only URIs, the index and settings: it pickles into DataLoader workers
    under fork, spawn and forkserver.
    """

    def __init__(
        self,
        shards: Sequence[str] | str,
        *,
        index: str | None = None,
        transform: Callable[[dict[str, Any]], Any] | None = None,
        options: Mapping[str, str] | None = None,
        max_in_flight: int = 64,
    ) -> None:
        self.samples = _tar_samples.TarSamples.open(shards, index, options, max_in_flight)
        self.transform = transform

    @property
    def shards(self) -> list[str]:
        return self.samples.shards

    @property
    def index(self) -> _tar_index.ShardIndex:
        return self.samples.index

    @property
    def options(self) -> dict[str, str] | None:
        return self.samples.options

    def save_index(self, path: str) -> None:
        """Write the index (JSON) to ``path``, a local path or a URI, for
        ``index=`` of this class or ``S3WebDataset``."""
        self.samples.save_index(path)

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> Any:
        return self.__getitems__([index])[0]

    def __getitems__(self, indices: Sequence[int]) -> list[Any]:
        _worker_gc.settle()
        out = []
        for key, url, fields in self.samples.fetch(indices):
            sample: dict[str, Any] = {"__key__": key, "__url__": url}
            sample.update((f, _tensors.view_tensor(v)) for f, v in fields)
            out.append(sample if self.transform is None else self.transform(sample))
        return out
