"""GrainSource: objects as a Grain random-access data source."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

import s3dlio
from s3dlio import _sampling
from s3dlio_jax._arrays import array_over as _array
from s3dlio_jax.tar_source import TarGrainSource


class GrainSource:
    """Grain's ``RandomAccessDataSource`` protocol over s3dlio objects.

    ``len(source)`` objects; ``source[i]`` is a read-only 1-D uint8 numpy
    array over the fetched memory (no copy); ``source.__getitems__(idx)``
    fetches many in parallel. Holds only URIs and options, so it pickles
    into Grain's worker processes. Use with
    ``grain.MapDataset.source(GrainSource(...))`` or ``grain.DataLoader``.
    """

    def __init__(
        self, uris: Sequence[str] | str, *, options: Mapping[str, str] | None = None
    ) -> None:
        self.options = dict(options) if options else None
        self.uris, _ = _sampling.resolve(uris, self.options)

    @staticmethod
    def over_tar_samples(
        shards: Sequence[str] | str,
        *,
        index: str | None = None,
        options: Mapping[str, str] | None = None,
        max_in_flight: int = 64,
    ) -> TarGrainSource:
        """The same protocol over the samples of tar shards (a
        :class:`TarGrainSource`): ``source[i]`` is a sample's dict."""
        return TarGrainSource(shards, index=index, options=options, max_in_flight=max_in_flight)

    def __len__(self) -> int:
        return len(self.uris)

    def __getitem__(self, index: int) -> np.ndarray:
        return _array(s3dlio.get(self.uris[index], options=self.options))

    def __getitems__(self, indices: Sequence[int]) -> list[np.ndarray]:
        fetched = s3dlio.get_many([self.uris[i] for i in indices], options=self.options)
        return [_array(view) for _, view in fetched]

    def __repr__(self) -> str:
        first = self.uris[0] if self.uris else ""
        return f"GrainSource({len(self.uris)} objects, first={first!r})"

    def __getstate__(self) -> dict[str, Any]:
        return {"uris": self.uris, "options": self.options}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.uris = state["uris"]
        self.options = state["options"]
