"""Where each sample of a set of tar shards lies: built once from the
shards' headers (``tar_index``: ranged reads, no member data, every shard
in parallel), or loaded from a small JSON file saved earlier.

The file (``{"format": "s3dlio-tar-index", "version": 1, "shards":
[{"uri", "samples": [[key, [[field, offset, size], ...]], ...]}]}``) may
lie anywhere: a local path, or a URI of any scheme s3dlio reads.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from s3dlio import _core, _webdataset

FORMAT, VERSION = "s3dlio-tar-index", 1
PARALLEL = 32  # shards indexed at once (each walk is a chain of ranged reads)

Field = tuple[str, int, int]  # field, offset of its data in the shard, size
Sample = tuple[str, tuple[Field, ...]]  # key, fields


@dataclass(frozen=True)
class ShardIndex:
    """Every shard's samples, in order: ``samples[s][i]`` is sample ``i``
    of shard ``s``, ``(key, ((field, offset, size), ...))``."""

    shards: tuple[str, ...]
    samples: tuple[tuple[Sample, ...], ...]

    def counts(self) -> list[int]:
        """Samples per shard."""
        return [len(s) for s in self.samples]

    def to_json(self) -> bytes:
        shards = [
            {"uri": uri, "samples": [[key, [list(f) for f in fields]] for key, fields in samples]}
            for uri, samples in zip(self.shards, self.samples, strict=True)
        ]
        doc = {"format": FORMAT, "version": VERSION, "shards": shards}
        return json.dumps(doc, separators=(",", ":")).encode()

    @classmethod
    def from_json(cls, data: bytes, where: str) -> ShardIndex:
        try:
            doc = json.loads(data)
            if doc.get("format") != FORMAT or doc.get("version") != VERSION:
                raise ValueError("not an s3dlio tar index (version 1)")
            shards = tuple(str(s["uri"]) for s in doc["shards"])
            samples = tuple(
                tuple(
                    (str(key), tuple((str(f), int(o), int(n)) for f, o, n in fields))
                    for key, fields in s["samples"]
                )
                for s in doc["shards"]
            )
        except (ValueError, KeyError, TypeError) as error:
            raise ValueError(f"{where}: not a valid tar index: {error}") from None
        return cls(shards, samples)

    def save(self, path: str, options: Mapping[str, str] | None = None) -> None:
        """Write the index to ``path``: a local path, or a URI."""
        data = self.to_json()
        if "://" in path:
            _core.put(path, data, options=dict(options) if options else None)
        else:
            with open(path, "wb") as f:
                f.write(data)

    @classmethod
    def load(cls, path: str, options: Mapping[str, str] | None = None) -> ShardIndex:
        """An index written by :meth:`save`."""
        if "://" in path:
            data = bytes(_core.get(path, options=dict(options) if options else None))
        else:
            with open(path, "rb") as f:
                data = f.read()
        return cls.from_json(data, path)


def index_shard(uri: str, options: Mapping[str, str] | None) -> tuple[Sample, ...]:
    """One shard's samples, from its headers alone."""
    members = _core.tar_index(uri, options=dict(options) if options else None)
    return tuple(
        (key, tuple((field, m.offset, m.size) for field, m in fields))
        for key, fields in _webdataset.group(((m.name, m) for m in members), uri)
    )


def build(shards: Sequence[str], options: Mapping[str, str] | None) -> ShardIndex:
    """Index every shard, ``PARALLEL`` at a time (each call releases the GIL)."""
    if not shards:
        return ShardIndex((), ())
    with ThreadPoolExecutor(max_workers=min(PARALLEL, len(shards))) as pool:
        samples = tuple(pool.map(lambda uri: index_shard(uri, options), shards))
    return ShardIndex(tuple(shards), samples)


_cache: OrderedDict[tuple[object, ...], ShardIndex] = OrderedDict()
_cache_lock = threading.Lock()
CACHED = 8  # indexes kept per process


def obtain(
    shards: Sequence[str], index: str | None, options: Mapping[str, str] | None
) -> ShardIndex:
    """The index of ``shards``: loaded from ``index`` when given (it must
    be of exactly these shards), else built (once per process for the same
    shards and options)."""
    if index is not None:
        loaded = ShardIndex.load(index, options)
        if list(loaded.shards) != list(shards):
            raise ValueError(
                f"{index}: the index is of {len(loaded.shards)} other shards "
                f"(first {loaded.shards[:1]}), not of the {len(shards)} given"
            )
        return loaded
    key = (tuple(shards), tuple(sorted((options or {}).items())))
    with _cache_lock:
        if key in _cache:
            _cache.move_to_end(key)
            return _cache[key]
    built = build(shards, options)
    with _cache_lock:
        _cache[key] = built
        while len(_cache) > CACHED:
            _cache.popitem(last=False)
    return built
