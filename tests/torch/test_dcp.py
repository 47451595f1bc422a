"""s3dlio_torch.dcp: torch.distributed.checkpoint storage on every backend
(one process; the two-rank job is in test_dcp_torchrun.py)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest
import torch
import torch.distributed.checkpoint as dcp
from torch.distributed.checkpoint.api import CheckpointException

import s3dlio
from s3dlio_torch.dcp import StorageReader, StorageWriter, StoredItem

pytestmark = pytest.mark.filterwarnings("ignore:torch.distributed is disabled:UserWarning")


def _state(seed: int) -> dict:
    g = torch.Generator().manual_seed(seed)
    return {
        "big": torch.randn(1100, 1024, generator=g),  # 4.3 MiB: a file of its own
        "small": torch.randn(7, 3, generator=g),
        "bf16": torch.randn(33, generator=g).to(torch.bfloat16),
        "ints": torch.arange(10, dtype=torch.int64) * seed,
        "view": torch.randn(8, 8, generator=g)[:, 2],  # not contiguous
        "empty": torch.zeros(0, 4),
        "extra": {"step": seed, "name": f"run {seed}"},
    }


def _blank() -> dict:
    return {
        "big": torch.zeros(1100, 1024),
        "small": torch.zeros(7, 3),
        "bf16": torch.zeros(33, dtype=torch.bfloat16),
        "ints": torch.zeros(10, dtype=torch.int64),
        "view": torch.zeros(8),
        "empty": torch.zeros(0, 4),
        "extra": {"step": -1, "name": ""},
    }


def _failure(error: CheckpointException) -> BaseException:
    """The error of the one rank, as DCP wraps it."""
    ((exception, _),) = error.failures.values()
    return exception


def _same(a: dict, b: dict) -> bool:
    return all(
        torch.equal(a[k], b[k]) if isinstance(a[k], torch.Tensor) else a[k] == b[k] for k in a
    )


def test_round_trip_on_every_backend(backend_prefix, file_prefix, seed):
    uri = f"{backend_prefix}/ckpt/step-1"
    saved = _state(1)
    if uri.startswith("gs://"):
        # fake-gcs-server refuses object_store's uploads: the checkpoint is
        # written on file:// and its objects copied there as they are.
        local = f"{file_prefix}/ckpt/step-1"
        dcp.save(saved, storage_writer=StorageWriter(local), no_dist=True)
        for name in s3dlio.list(local):
            seed(uri + name.removeprefix(local), bytes(s3dlio.get(name)))
    else:
        dcp.save(saved, storage_writer=StorageWriter(uri), no_dist=True)
    loaded = _blank()
    dcp.load(loaded, storage_reader=StorageReader(uri), no_dist=True)
    assert _same(saved, loaded)


def test_large_tensors_are_written_from_their_own_memory(file_prefix, monkeypatch):
    sent = []
    real = s3dlio.put_many

    def recording(items, *args, **kwargs):
        sent.extend(memoryview(data).obj.ctypes.data for _, data in items)
        return real(items, *args, **kwargs)

    monkeypatch.setattr(s3dlio, "put_many", recording)
    saved = _state(2)
    dcp.save(saved, storage_writer=StorageWriter(f"{file_prefix}/c"), no_dist=True)
    assert saved["big"].data_ptr() in sent  # no staging copy
    assert len(sent) == 2  # the big tensor, and one pack of the rest


def test_items_are_recorded_with_their_checksums(file_prefix):
    uri = f"{file_prefix}/c"
    dcp.save(_state(3), storage_writer=StorageWriter(uri), no_dist=True)
    metadata = StorageReader(uri).read_metadata()
    stored = list(metadata.storage_data.values())
    assert all(isinstance(s, StoredItem) for s in stored)
    big = next(s for s in stored if s.shape == (1100, 1024))
    data = s3dlio.get_range(f"{uri}/{big.relative_path}", big.offset, big.length)
    assert s3dlio.crc32c(data) == big.crc32c and big.dtype == "float32"


def test_a_corrupt_file_raises_a_checksum_error_naming_it(prefix):
    uri = f"{prefix}/c"
    dcp.save(_state(4), storage_writer=StorageWriter(uri), no_dist=True)
    metadata = StorageReader(uri).read_metadata()
    big = next(s for s in metadata.storage_data.values() if s.shape == (1100, 1024))
    path = f"{uri}/{big.relative_path}"
    data = bytearray(s3dlio.get(path).memoryview())
    data[len(data) // 2] ^= 0xFF
    s3dlio.put(path, data)
    with pytest.raises(CheckpointException, match=big.relative_path) as caught:
        dcp.load(_blank(), storage_reader=StorageReader(uri), no_dist=True)
    assert isinstance(_failure(caught.value), s3dlio.ChecksumError)
    loaded = _blank()  # unchecked, it loads the damaged bytes
    dcp.load(loaded, storage_reader=StorageReader(uri, validate=False), no_dist=True)
    assert not torch.equal(loaded["big"], _state(4)["big"])


SAVE_AND_DIE = """
import os, sys, warnings
warnings.simplefilter("ignore")
import torch, torch.distributed.checkpoint as dcp
import s3dlio
from s3dlio_torch.dcp import StorageWriter
real = s3dlio.put_many
def dying(items, *args, **kwargs):
    real(items[:1], *args, **kwargs)  # some of the new files land...
    os._exit(9)                       # ...then the process is killed
s3dlio.put_many = dying
state = {"big": torch.full((1100, 1024), 5.0), "small": torch.ones(3)}
dcp.save(state, storage_writer=StorageWriter(sys.argv[1]), no_dist=True)
"""


def test_a_save_killed_midway_leaves_the_previous_checkpoint(prefix, tmp_path):
    uri = f"{prefix}/same-place"
    first = {"big": torch.full((1100, 1024), 1.0), "small": torch.zeros(3)}
    dcp.save(first, storage_writer=StorageWriter(uri), no_dist=True)
    script = tmp_path / "die.py"
    script.write_text(textwrap.dedent(SAVE_AND_DIE))
    done = subprocess.run([sys.executable, str(script), uri], capture_output=True, check=False)
    assert done.returncode == 9, done.stderr[-2000:]
    assert len(s3dlio.list(uri)) > 3  # the dead save's file is there...
    loaded = {"big": torch.zeros(1100, 1024), "small": torch.ones(3)}
    dcp.load(loaded, storage_reader=StorageReader(uri), no_dist=True)
    assert torch.equal(loaded["big"], first["big"])  # ...but the checkpoint is the first
    assert torch.equal(loaded["small"], first["small"])


def test_a_checkpoint_id_must_be_a_uri(file_prefix):
    with pytest.raises(ValueError, match="not a URI"):
        StorageWriter("/tmp/plain/path")
    assert StorageReader.validate_checkpoint_id(f"{file_prefix}/x")
    assert not StorageWriter.validate_checkpoint_id("relative/path")
    missing = f"{file_prefix}/none"
    with pytest.raises(s3dlio.ObjectNotFoundError, match=f"{missing}/.metadata"):
        StorageReader(missing).read_metadata()
    with pytest.raises(CheckpointException, match=f"object not found: {missing}/.metadata"):
        dcp.load(_blank(), storage_reader=StorageReader(missing), no_dist=True)


def test_a_local_checkpoint_is_read_from_its_mapped_pages(prefix, monkeypatch):
    uri = f"{prefix}/mapped"
    saved = _state(5)
    dcp.save(saved, storage_writer=StorageWriter(uri), no_dist=True)
    seen = []
    real = s3dlio.get_ranges

    def recording(requests, *args, options=None, **kwargs):
        seen.append(options)
        return real(requests, *args, options=options, **kwargs)

    monkeypatch.setattr(s3dlio, "get_ranges", recording)
    loaded = _blank()
    dcp.load(loaded, storage_reader=StorageReader(uri), no_dist=True)
    assert _same(saved, loaded)
    local = uri.startswith("file://")
    assert all((o or {}).get("file_mmap") == ("true" if local else None) for o in seen), seen
