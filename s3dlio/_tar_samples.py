"""Random access to the samples of tar shards, by one index over all of
them, shared by ``S3TarMapDataset`` and ``GrainSource``.

Sample ``i`` is a run of consecutive members of one shard, so it is read
with one ranged request from its first member's data to its last one's
end; its fields are zero-copy slices of that one view. A batch of samples
is one ``get_ranges`` call: its requests in flight together, from any
shards, with the GIL released for all of it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from s3dlio import _core, _tar_index, _webdataset

Fields = list[tuple[str, _core.BytesView]]


class TarSamples:
    """Every sample of ``shards``, in shard order."""

    def __init__(
        self,
        shards: list[str],
        index: _tar_index.ShardIndex,
        options: Mapping[str, str] | None,
        max_in_flight: int = 64,
    ) -> None:
        if max_in_flight < 1:
            raise ValueError(f"max_in_flight must be at least 1, got {max_in_flight}")
        self.shards, self.index = shards, index
        self.options = dict(options) if options else None
        self.max_in_flight = max_in_flight
        counts = np.asarray(index.counts(), np.int64)
        self.offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)

    @classmethod
    def open(
        cls,
        shards: Sequence[str] | str,
        index: str | None,
        options: Mapping[str, str] | None,
        max_in_flight: int = 64,
    ) -> TarSamples:
        """The samples of ``shards`` (a list, a brace pattern, or a prefix
        ending in ``/``), indexed from their headers, or by the saved
        ``index``."""
        uris = _webdataset.shards_of(shards, options)
        return cls(uris, _tar_index.obtain(uris, index, options), options, max_in_flight)

    def save_index(self, path: str) -> None:
        """Write the index (JSON) to ``path``, a local path or a URI."""
        self.index.save(path, self.options)

    def __len__(self) -> int:
        return int(self.offsets[-1])

    def where(self, i: int) -> tuple[int, int]:
        """``(shard, index in shard)`` of sample ``i``."""
        n = len(self)
        if not -n <= i < n:
            raise IndexError(f"sample {i} of {n}")
        i %= n
        shard = int(np.searchsorted(self.offsets, i, side="right")) - 1
        return shard, i - int(self.offsets[shard])

    def key(self, i: int) -> tuple[str, str]:
        """``(key, shard URI)`` of sample ``i``."""
        s, j = self.where(i)
        return self.index.samples[s][j][0], self.shards[s]

    def fetch(self, indices: Sequence[int]) -> list[tuple[str, str, Fields]]:
        """``(key, shard URI, [(field, view), ...])`` of each sample, in order."""
        spans = []
        for i in indices:
            s, j = self.where(int(i))
            key, fields = self.index.samples[s][j]
            start = min((o for _, o, _ in fields), default=0)
            end = max((o + n for _, o, n in fields), default=0)
            spans.append((s, key, fields, start, end))
        requests = [(self.shards[s], start, end - start) for s, _, _, start, end in spans]
        if len(requests) == 1:  # a local one is read on this thread, skipping the runtime
            views = [_core.get_range(*requests[0], options=self.options)]
        else:
            views = _core.get_ranges(requests, self.max_in_flight, options=self.options)
        for (uri, start, length), view in zip(requests, views, strict=True):
            if len(view) != length:
                raise _core.S3dlioError(
                    f"{uri}: {length} bytes expected at offset {start}, got {len(view)} "
                    "(the shard changed since it was indexed)"
                )
        return [
            (key, self.shards[s], [(f, view[o - start : o - start + n]) for f, o, n in fields])
            for (s, key, fields, start, _), view in zip(spans, views, strict=True)
        ]
