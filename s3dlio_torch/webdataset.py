"""WebDataset-format tar shards as an iterable torch dataset: shards dealt
to ranks and workers, shuffled per epoch, samples through a seeded
shuffle buffer, the next shard fetched while the current one is read."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from torch.utils.data import IterableDataset

import s3dlio
from s3dlio import _shard_plan, _webdataset
from s3dlio._shard_epochs import ShardReader
from s3dlio_torch import _sharding, _tensors


class S3WebDataset(IterableDataset[Any], ShardReader):
    """Samples of WebDataset tar shards: ``{"__key__": key, "__url__":
    shard, field: tensor, ...}``, each field a 1-D ``torch.uint8`` tensor
    over the fetched shard's memory (no copy), or whatever
    ``transform(sample)`` returns.

    ``shards`` is a list of URIs, a brace pattern
    (``"s3://b/train-{000000..000063}.tar"``) or a prefix ending in ``/``
    (its ``.tar`` objects). Keys and fields follow WebDataset (see
    ``s3dlio._webdataset``). Every shard is indexed once, from its headers
    alone and all in parallel (or the index is loaded from ``index``, a
    file written by ``S3TarMapDataset.save_index``), for the samples per
    shard.

    Each epoch the shards are put in an order fixed by ``(seed, epoch)``
    (when ``shuffle``) and dealt to ranks (``rank``/``world_size``, else
    ``torch.distributed``, else ``RANK``/``WORLD_SIZE``) and then to
    DataLoader workers; each reads its shards whole, one ``get``
    each (a ``file://`` shard mapped, as ``read_tar`` maps it), the next
    in the background. With ``shuffle`` the samples pass a
    buffer of ``shuffle_buffer`` samples seeded by ``(seed, epoch, rank,
    worker)``. Every rank yields the same number of samples: worker ``w``
    of each rank yields as many as the longest worker ``w``, the others
    wrapping around to the start of their own samples (as
    ``DistributedSampler`` pads), or with ``drop_last`` as many as the
    shortest. ``set_epoch``, ``state_dict`` and ``load_state_dict`` work
    as for ``S3IterableDataset``; a state resumes the exact samples left,
    in the same order, at the same world size and worker count.
    """

    def __init__(
        self,
        shards: Sequence[str] | str,
        *,
        shuffle: bool = False,
        seed: int = 0,
        shuffle_buffer: int = 1000,
        transform: Callable[[dict[str, Any]], Any] | None = None,
        rank: int | None = None,
        world_size: int | None = None,
        drop_last: bool = False,
        options: Mapping[str, str] | None = None,
        index: str | None = None,
    ) -> None:
        self.transform = transform
        self.rank = rank
        self.world_size = world_size
        self._init_tar_shards(
            shards,
            index=index,
            shuffle=shuffle,
            seed=seed,
            shuffle_buffer=shuffle_buffer,
            drop_last=drop_last,
            options=options,
        )

    def _world(self) -> tuple[int, int]:
        return _sharding.world(self.rank, self.world_size)

    def _reader(self) -> tuple[int, int, bool]:
        return _sharding.worker()

    def __iter__(self) -> Iterator[Any]:
        # The pass begins now (a loader takes a worker's state right after
        # creating its iterator); an error waits for the first next().
        try:
            ids, pad_start = self._begin_samples()
        except (RuntimeError, ValueError) as error:
            return _raising(error)
        return self._read(ids, pad_start)

    def _read(self, ids: Any, pad_start: int) -> Iterator[Any]:
        for sample in _shard_plan.read(self.plan, ids, pad_start, self._fetch):
            self._handed_out()
            # A copy of the dict (not of the data): padding may hand out a sample twice.
            yield dict(sample) if self.transform is None else self.transform(dict(sample))

    def _fetch(self, shard: int) -> list[dict[str, Any]]:
        # The shard is one tensor and its fields are views of it: one
        # storage, which a DataLoader worker moves into shared memory once
        # per shard, not once per field (a field a tensor of its own made
        # the samples 2-2.5x slower to cross to the main process than
        # webdataset's bytes).
        uri = self.uris[shard]
        data = s3dlio.get(uri, options=_webdataset.whole_shard_options(self.options))
        whole = _tensors.view_tensor(data)
        samples = [
            {"__key__": key, "__url__": uri}
            | {field: whole[m.offset : m.offset + m.size] for field, m in fields}
            for key, fields in _webdataset.group(
                ((m.name, m) for m in s3dlio.tar_listing(data, uri)), uri
            )
        ]
        return self._as_indexed(shard, samples)


def _raising(error: Exception) -> Iterator[Any]:
    yield from ()  # a generator: raises at the first next()
    raise error
