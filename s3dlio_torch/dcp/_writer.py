"""StorageWriter: a rank's DCP items written as raw bytes, in parallel."""

from __future__ import annotations

import dataclasses
import io
import os
import pickle
import uuid
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from torch.distributed.checkpoint import StorageWriter as _StorageWriter
from torch.distributed.checkpoint.metadata import Metadata, StorageMeta
from torch.distributed.checkpoint.planner import SavePlan, SavePlanner, WriteItemType
from torch.distributed.checkpoint.storage import WriteResult
from torch.futures import Future

import s3dlio
from s3dlio_torch.dcp._stored import (
    METADATA,
    StoredItem,
    checkpoint_uri,
    dtype_name,
    is_checkpoint_uri,
)

#: Items smaller than this are packed into shared files (one copy of
#: them); larger ones are a file each, written from their own memory.
PACK_BELOW = 4 << 20
#: A pack file holds up to this much.
PACK_SIZE = 64 << 20


@dataclasses.dataclass(frozen=True)
class _Prefix:
    """The names a rank's files of one save start with."""

    prefix: str


class StorageWriter(_StorageWriter):
    """DCP storage that writes under ``uri`` (any scheme s3dlio writes).

    Each rank's items are written as their raw bytes: a tensor of
    ``PACK_BELOW`` bytes or more as a file of its own, straight from its
    memory (a contiguous CPU tensor is not copied), smaller ones and bytes
    items packed into files of up to ``PACK_SIZE``; all of a rank's files
    with one ``put_many`` (``max_in_flight`` at once, large ones in
    multipart uploads). Every file name carries the save's id, so a save
    never overwrites a file another checkpoint refers to; ``.metadata``,
    written last by the coordinator, is what makes a checkpoint visible.
    """

    def __init__(
        self,
        uri: str | os.PathLike[str],
        *,
        max_in_flight: int = 16,
        options: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__()
        self.uri = checkpoint_uri(uri)
        self.max_in_flight = max_in_flight
        self.options = dict(options) if options else None
        self.save_id = uuid.uuid4().hex
        self.is_coordinator = True

    def reset(self, checkpoint_id: str | os.PathLike[str] | None = None) -> None:
        if checkpoint_id:
            self.uri = checkpoint_uri(checkpoint_id)
        self.save_id = uuid.uuid4().hex

    def set_up_storage_writer(self, is_coordinator: bool, *args: Any, **kwargs: Any) -> None:
        self.is_coordinator = is_coordinator

    def prepare_local_plan(self, plan: SavePlan) -> SavePlan:
        return plan

    def prepare_global_plan(self, plans: list[SavePlan]) -> list[SavePlan]:
        save = self.save_id[:12]
        return [
            dataclasses.replace(plan, storage_data=_Prefix(f"__{rank}_{save}_"))
            for rank, plan in enumerate(plans)
        ]

    def write_data(self, plan: SavePlan, planner: SavePlanner) -> Future[list[WriteResult]]:
        prefix = plan.storage_data.prefix if isinstance(plan.storage_data, _Prefix) else "__0_"
        files: list[tuple[str, Any]] = []
        results: list[WriteResult] = []
        pack: list[tuple[Any, np.ndarray]] = []  # (item, bytes) to pack
        pack_bytes = 0

        def name() -> str:
            return f"{prefix}{len(files)}.distcp"

        def flush_pack() -> None:
            nonlocal pack, pack_bytes
            if not pack:
                return
            relative, offset = name(), 0
            whole = np.empty(pack_bytes, np.uint8)
            for item, data in pack:
                whole[offset : offset + len(data)] = data
                results.append(_result(item, relative, offset, data))
                offset += len(data)
            files.append((relative, whole))
            pack, pack_bytes = [], 0

        for item in plan.items:
            data = _bytes_of(planner.resolve_data(item))
            if len(data) >= PACK_BELOW and item.type != WriteItemType.BYTE_IO:
                relative = name()
                files.append((relative, data))
                results.append(_result(item, relative, 0, data))
                continue
            if pack_bytes + len(data) > PACK_SIZE:
                flush_pack()
            pack.append((item, data))
            pack_bytes += len(data)
        flush_pack()
        s3dlio.put_many(
            [(f"{self.uri}/{relative}", data) for relative, data in files],
            self.max_in_flight,
            options=self.options,
        )
        done: Future[list[WriteResult]] = Future()
        done.set_result(results)
        return done

    def finish(self, metadata: Metadata, results: list[list[WriteResult]]) -> None:
        metadata.storage_data = {r.index: r.storage_data for rs in results for r in rs}
        metadata.storage_meta = self.storage_meta()
        s3dlio.put(f"{self.uri}/{METADATA}", pickle.dumps(metadata), options=self.options)

    def storage_meta(self) -> StorageMeta | None:
        return StorageMeta(checkpoint_id=self.uri, save_id=self.save_id)

    @property
    def checkpoint_id(self) -> str:
        return self.uri

    @classmethod
    def validate_checkpoint_id(cls, checkpoint_id: str | os.PathLike[str]) -> bool:
        return is_checkpoint_uri(checkpoint_id)


def _bytes_of(data: Any) -> np.ndarray:
    """An item's bytes as a uint8 array: a tensor's own memory when it is
    a contiguous CPU tensor, a bytes item's buffer."""
    if isinstance(data, io.BytesIO):
        return np.frombuffer(data.getbuffer(), np.uint8)
    tensor = data.detach().cpu().contiguous()
    flat = tensor.reshape(-1)
    if flat.numel() == 0:
        return np.zeros(0, np.uint8)
    array: np.ndarray = flat.view(torch.uint8).numpy()
    return array


def _result(item: Any, relative: str, offset: int, data: np.ndarray) -> WriteResult:
    tensor = item.tensor_data
    return WriteResult(
        index=item.index,
        size_in_bytes=len(data),
        storage_data=StoredItem(
            relative_path=relative,
            offset=offset,
            length=len(data),
            crc32c=s3dlio.crc32c(data.data),
            dtype=None if tensor is None else dtype_name(tensor.properties.dtype),
            shape=None if tensor is None else tuple(tensor.chunk.sizes),
        ),
    )
