"""CheckpointStore: sharded, checksummed, atomically published checkpoints."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from fault_proxy import SLOW_DOWN, FaultProxy

import s3dlio


def _shard(step: int, rank: int, size: int = 4096) -> np.ndarray:
    return np.random.default_rng([step, rank]).integers(0, 256, size, dtype=np.uint8)


@pytest.fixture(params=["file", "s3", "az", "direct"])
def store_uri(request) -> str:
    return request.getfixturevalue(f"{request.param}_prefix") + "/ckpt"


@pytest.mark.parametrize("world_size", [1, 4])
def test_round_trip(store_uri, world_size):
    store = s3dlio.CheckpointStore(store_uri)
    assert store.latest_step() is None and store.load_latest() is None
    assert store.list_checkpoints() == []
    for step in (100, 200):
        for rank in reversed(range(world_size)):  # order of arrival does not matter
            meta = {"lr": 0.5, "step": step} if rank == 0 else {"ignored": True}
            store.save(step, _shard(step, rank), rank=rank, world_size=world_size, user_meta=meta)
    assert store.latest_step() == 200
    for rank in range(world_size):
        assert bytes(store.load_latest(rank)) == _shard(200, rank).tobytes()
        assert bytes(store.read_shard_by_rank(100, rank)) == _shard(100, rank).tobytes()
    shards = store.read_all_shards(100)
    assert [r for r, _ in shards] == list(range(world_size))
    assert [bytes(v) for _, v in shards] == [_shard(100, r).tobytes() for r in range(world_size)]
    infos = store.list_checkpoints()
    assert [(i.step, i.world_size) for i in infos] == [(100, world_size), (200, world_size)]
    assert infos[1].user_meta == {"lr": 0.5, "step": 200}
    assert infos[0].created.tzinfo is not None


def test_incomplete_step_is_invisible(store_uri):
    store = s3dlio.CheckpointStore(store_uri)
    for rank in range(2):
        store.save(1, _shard(1, rank), rank=rank, world_size=2)
    # Step 2: only 3 of 4 ranks saved (the 4th crashed).
    for rank in range(3):
        store.save(2, _shard(2, rank), rank=rank, world_size=4)
    assert store.latest_step() == 1
    assert bytes(store.load_latest(1)) == _shard(1, 1).tobytes()
    assert [i.step for i in store.list_checkpoints()] == [1]
    with pytest.raises(FileNotFoundError, match="step-000000000002"):
        store.read_shard_by_rank(2, 0)
    store.save(2, _shard(2, 3), rank=3, world_size=4)  # the late rank completes it
    assert store.latest_step() == 2


def test_delete_moves_latest_back(store_uri):
    store = s3dlio.CheckpointStore(store_uri)
    for step in (1, 2, 3):
        store.save(step, _shard(step, 0))
    store.delete(3)
    assert store.latest_step() == 2
    assert bytes(store.load_latest()) == _shard(2, 0).tobytes()
    store.delete(1)
    assert [i.step for i in store.list_checkpoints()] == [2]
    store.delete(2)
    assert store.latest_step() is None and store.load_latest() is None
    with pytest.raises(FileNotFoundError):
        store.delete(2)


def test_corrupted_shard_raises_checksum_error(file_prefix):
    store = s3dlio.CheckpointStore(f"{file_prefix}/ckpt")
    for rank in range(2):
        store.save(7, _shard(7, rank), rank=rank, world_size=2)
    (shard,) = [
        u
        for u in s3dlio.list(f"{file_prefix}/ckpt/step-000000000007")
        if "rank-00001-of-00002." in u and u.endswith(".bin")
    ]
    data = bytearray(bytes(s3dlio.get(shard)))
    data[1234] ^= 0x01
    s3dlio.put(shard, data)
    with pytest.raises(s3dlio.ChecksumError, match="rank-00001-of-00002"):
        store.read_shard_by_rank(7, 1)
    with pytest.raises(s3dlio.ChecksumError, match="rank-00001-of-00002"):
        store.read_all_shards(7)
    with pytest.raises(s3dlio.ChecksumError):
        store.load_latest(1)
    assert bytes(store.read_shard_by_rank(7, 0)) == _shard(7, 0).tobytes()
    unchecked = s3dlio.CheckpointStore(f"{file_prefix}/ckpt", validate=False)
    assert bytes(unchecked.read_shard_by_rank(7, 1)) == bytes(data)


def test_save_takes_any_buffer_without_python_copies(file_prefix):
    store = s3dlio.CheckpointStore(f"{file_prefix}/ckpt")
    array = np.arange(1000, dtype=np.float32)
    store.save(1, array)
    store.save(2, memoryview(b"abc"))
    store.save(3, s3dlio.get_range(f"file://{os.path.abspath(__file__)}", 0, 10))
    assert np.array_equal(store.read_shard_by_rank(1, 0).numpy("float32"), array)
    assert bytes(store.load_latest()) == Path(__file__).read_bytes()[:10]
    with pytest.raises(ValueError):
        store.save(4, b"x", rank=2, world_size=2)
    with pytest.raises(TypeError):
        store.save(4, "not a buffer")


def test_failed_manifest_put_leaves_previous_step(s3_bucket, moto_server):
    """The Nth put (the manifest) fails: save raises, the step stays invisible."""
    with FaultProxy(upstream=moto_server) as proxy:
        options = {"AWS_ENDPOINT_URL": proxy.url, "S3DLIO_MAX_RETRIES": "0"}
        store = s3dlio.CheckpointStore(f"s3://{s3_bucket}/ckpt", options=options)
        store.save(1, _shard(1, 0))
        proxy.inject(
            [SLOW_DOWN], method="PUT", path=f"/{s3_bucket}/ckpt/step-000000000002/manifest.json"
        )
        with pytest.raises(s3dlio.S3dlioError, match=r"manifest\.json"):
            store.save(2, _shard(2, 0))
        assert store.latest_step() == 1
        assert bytes(store.load_latest()) == _shard(1, 0).tobytes()


WRITER = r"""
import sys, numpy as np, s3dlio
store = s3dlio.CheckpointStore(sys.argv[1])
print("ready", flush=True)
store.save(2, np.ones(int(sys.argv[2]), dtype=np.uint8))
print("saved", flush=True)
"""


@pytest.mark.timeout(120)
def test_writer_killed_mid_save_leaves_previous_step(file_prefix, tmp_path):
    base = f"{file_prefix}/ckpt"
    store = s3dlio.CheckpointStore(base)
    store.save(1, _shard(1, 0))
    proc = subprocess.Popen(
        [sys.executable, "-c", WRITER, base, str(1536 << 20)],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
    )
    assert proc.stdout.readline().strip() == b"ready"
    step_dir = Path(base.removeprefix("file://")) / "step-000000000002"
    deadline = time.monotonic() + 60
    while not any(step_dir.rglob(".s3dlio-tmp.*")):  # inside the 1.5 GiB shard write
        assert proc.poll() is None and time.monotonic() < deadline, "the shard write never began"
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    proc.stdout.close()
    assert store.latest_step() == 1
    assert bytes(store.load_latest()) == _shard(1, 0).tobytes()
    assert not (step_dir / "manifest.json").exists()
    assert not s3dlio.list(f"file://{step_dir}"), "no partial shard under any visible name"
    assert any(step_dir.rglob(".s3dlio-tmp.*")), "the killed write left its temporary file"
    store.delete(2)  # a step that never completed: removed with what the kill left
    assert not step_dir.exists()
