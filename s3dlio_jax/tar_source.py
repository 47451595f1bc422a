"""TarGrainSource: the samples of WebDataset tar shards as a Grain
random-access data source, by the same headers-only index as
``s3dlio_torch.S3TarMapDataset``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from s3dlio import _tar_index, _tar_samples
from s3dlio_jax._arrays import array_over as _array


class TarGrainSource:
    """Grain's ``RandomAccessDataSource`` protocol over tar samples.

    ``len(source)`` samples of every shard (a list, a brace pattern, or a
    prefix ending in ``/``), indexed once from their headers, in parallel,
    or loaded from ``index`` (written by ``save_index``, or by
    ``S3TarMapDataset.save_index``). ``source[i]`` is ``{"__key__",
    "__url__", field: array}``, each field a read-only 1-D uint8 numpy
    array over the fetched bytes (no copy): the sample is one ranged read
    of its members. ``__getitems__`` has every sample of a batch in flight
    at once, from any shards. Holds only URIs, the index and settings, so
    it pickles into Grain's worker processes.
    """

    def __init__(
        self,
        shards: Sequence[str] | str,
        *,
        index: str | None = None,
        options: Mapping[str, str] | None = None,
        max_in_flight: int = 64,
    ) -> None:
        self.samples = _tar_samples.TarSamples.open(shards, index, options, max_in_flight)

    @property
    def index(self) -> _tar_index.ShardIndex:
        return self.samples.index

    def save_index(self, path: str) -> None:
        """Write the index (JSON) to ``path``, a local path or a URI."""
        self.samples.save_index(path)

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> dict[str, Any]:
        return self.__getitems__([index])[0]

    def __getitems__(self, indices: Sequence[int]) -> list[dict[str, Any]]:
        out = []
        for key, url, fields in self.samples.fetch(indices):
            record: dict[str, Any] = {"__key__": key, "__url__": url}
            record.update((f, _array(v)) for f, v in fields)
            out.append(record)
        return out

    def __repr__(self) -> str:
        return f"TarGrainSource({len(self)} samples in {len(self.samples.shards)} shards)"


__all__ = ["TarGrainSource"]
