"""StorageReader: the items a rank loads, read with concurrent ranged GETs
and checked against their CRC32C."""

from __future__ import annotations

import io
import os
import pickle
import uuid
from collections.abc import Mapping
from typing import Any

import torch
from torch.distributed._shard._utils import narrow_tensor_by_index
from torch.distributed.checkpoint import StorageReader as _StorageReader
from torch.distributed.checkpoint.metadata import Metadata, StorageMeta
from torch.distributed.checkpoint.planner import LoadItemType, LoadPlan, LoadPlanner, ReadItem
from torch.futures import Future

import s3dlio
from s3dlio_torch.dcp._stored import (
    METADATA,
    StoredItem,
    checkpoint_uri,
    dtype_of,
    is_checkpoint_uri,
)

#: The bytes of a rank's plan read per ``get_ranges`` call (bounds the
#: memory a load holds beyond its destination tensors).
WINDOW = 1 << 30


class StorageReader(_StorageReader):
    """DCP storage that reads a checkpoint ``StorageWriter`` wrote under
    ``uri``. ``read_data`` reads every stored item a rank's plan needs
    with concurrent ranged GETs, up to ``WINDOW`` bytes per call,
    ``max_in_flight`` at once; each item's bytes are checked against the
    CRC32C recorded for them (``validate``; a mismatch raises
    ``ChecksumError`` naming the file and the range), then copied into the
    destination tensor (the part of the stored chunk it asks for, so a
    checkpoint loads at any world size). A ``file://`` checkpoint is read
    as views of its mapped pages (``file_mmap``, unless ``options`` say
    otherwise), so its bytes are copied once, into the tensors.
    """

    def __init__(
        self,
        uri: str | os.PathLike[str],
        *,
        max_in_flight: int = 64,
        validate: bool = True,
        options: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__()
        self.uri = checkpoint_uri(uri)
        self.max_in_flight = max_in_flight
        self.validate = validate
        self.options = dict(options) if options else None
        self.storage_data: dict[Any, StoredItem] = {}
        self.load_id = uuid.uuid4().hex

    def reset(self, checkpoint_id: str | os.PathLike[str] | None = None) -> None:
        self.storage_data = {}
        if checkpoint_id:
            self.uri = checkpoint_uri(checkpoint_id)
        self.load_id = uuid.uuid4().hex

    def read_metadata(self, *args: Any, **kwargs: Any) -> Metadata:
        view = s3dlio.get(f"{self.uri}/{METADATA}", options=self.options)
        metadata: Metadata = pickle.loads(view.memoryview())
        meta = getattr(metadata, "storage_meta", None) or StorageMeta()
        meta.load_id = self.load_id
        metadata.storage_meta = meta
        return metadata

    def set_up_storage_reader(
        self, metadata: Metadata, is_coordinator: bool, *args: Any, **kwargs: Any
    ) -> None:
        self.storage_data = metadata.storage_data

    def prepare_local_plan(self, plan: LoadPlan) -> LoadPlan:
        return plan

    def prepare_global_plan(self, plans: list[LoadPlan]) -> list[LoadPlan]:
        return plans

    def read_data(self, plan: LoadPlan, planner: LoadPlanner) -> Future[None]:
        by_item: dict[StoredItem, list[ReadItem]] = {}
        for req in plan.items:
            by_item.setdefault(self._stored(req), []).append(req)
        window: list[StoredItem] = []
        size = 0
        for stored in by_item:
            if window and size + stored.length > WINDOW:
                self._read(window, by_item, planner)
                window, size = [], 0
            window.append(stored)
            size += stored.length
        if window:
            self._read(window, by_item, planner)
        done: Future[None] = Future()
        done.set_result(None)
        return done

    def _stored(self, req: ReadItem) -> StoredItem:
        stored = self.storage_data.get(req.storage_index)
        if not isinstance(stored, StoredItem):
            raise ValueError(
                f"{self.uri}: no s3dlio record of {req.storage_index} in the checkpoint's "
                "metadata (was it written by s3dlio_torch.dcp.StorageWriter?)"
            )
        return stored

    def _read(
        self,
        items: list[StoredItem],
        by_item: dict[StoredItem, list[ReadItem]],
        planner: LoadPlanner,
    ) -> None:
        views = s3dlio.get_ranges(
            [(f"{self.uri}/{s.relative_path}", s.offset, s.length) for s in items],
            self.max_in_flight,
            options=self._read_options(),
        )
        for stored, view in zip(items, views, strict=True):
            self._check(stored, view)
            for req in by_item[stored]:
                if req.type == LoadItemType.BYTE_IO:
                    planner.load_bytes(req, io.BytesIO(view.memoryview()))
                    continue
                source = narrow_tensor_by_index(
                    _tensor(stored, view), req.storage_offsets, req.lengths
                )
                target = planner.resolve_tensor(req).detach()
                if target.size() != source.size():
                    raise ValueError(
                        f"{self.uri}/{stored.relative_path}: {req.storage_index} has shape "
                        f"{tuple(source.size())} where {tuple(target.size())} is loaded"
                    )
                target.copy_(source)
                planner.commit_tensor(req, target)

    def _read_options(self) -> dict[str, str] | None:
        """A local checkpoint is read as views of its mapped pages: its
        bytes are checked and copied into the destination tensors at once,
        so a copy into fresh memory (and the faults of its new pages) would
        be one pass more than the load needs."""
        if not self.uri.startswith("file://"):
            return self.options
        options = dict(self.options or {})
        options.setdefault("file_mmap", "true")
        return options

    def _check(self, stored: StoredItem, view: s3dlio.BytesView) -> None:
        uri = f"{self.uri}/{stored.relative_path}"
        if len(view) != stored.length:
            raise s3dlio.ChecksumError(
                f"{uri}: {len(view)} bytes at offset {stored.offset}, {stored.length} recorded "
                "(the file was cut short)"
            )
        if self.validate:
            got = s3dlio.crc32c(view)
            if got != stored.crc32c:
                raise s3dlio.ChecksumError(
                    f"{uri}: bytes {stored.offset}..{stored.offset + stored.length} have CRC32C "
                    f"{got:#010x}, {stored.crc32c:#010x} recorded (the file is corrupt)"
                )

    @property
    def checkpoint_id(self) -> str:
        return self.uri

    @classmethod
    def validate_checkpoint_id(cls, checkpoint_id: str | os.PathLike[str]) -> bool:
        return is_checkpoint_uri(checkpoint_id)


def _tensor(stored: StoredItem, view: s3dlio.BytesView) -> torch.Tensor:
    """The stored chunk as a tensor over the fetched bytes (no copy)."""
    assert stored.dtype is not None and stored.shape is not None
    dtype = dtype_of(stored.dtype)
    if len(view) == 0:
        return torch.empty(stored.shape, dtype=dtype)
    return torch.from_dlpack(view).view(dtype).reshape(stored.shape)
