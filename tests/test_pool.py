"""Dropped buffers are recycled: the next fetch of a like size lands in the
same memory (asserted by address), never shows a previous object's bytes,
and the pool keeps no more than its budget (``S3DLIO_POOL_BYTES``)."""

import gc
import json
import os
import subprocess
import sys

import numpy as np

import s3dlio


def _addr(view):
    return np.frombuffer(view, dtype=np.uint8).ctypes.data


def _write(tmp_path, name, size, fill):
    path = tmp_path / name
    path.write_bytes(bytes([fill]) * size)
    return f"file://{path}"


def test_a_dropped_buffer_is_filled_again_in_place(tmp_path):
    a = _write(tmp_path, "a", 256 << 10, 1)
    b = _write(tmp_path, "b", 256 << 10, 2)
    first = s3dlio.get(a)
    addr = _addr(first)
    reused = s3dlio.buffer_stats()["pool_reused"]
    del first
    gc.collect()
    second = s3dlio.get(b)
    assert _addr(second) == addr
    assert bytes(second) == b"\x02" * (256 << 10)
    assert s3dlio.buffer_stats()["pool_reused"] == reused + 1


def test_recycled_memory_shows_only_the_new_object(tmp_path):
    big = _write(tmp_path, "big", 300_000, 0xAA)
    small = _write(tmp_path, "small", 290_000, 0x55)  # same size class
    view = s3dlio.get(big)
    addr = _addr(view)
    del view
    gc.collect()
    view = s3dlio.get(small)
    assert _addr(view) == addr
    assert len(view) == 290_000
    assert bytes(view) == b"\x55" * 290_000


def test_a_live_buffer_is_never_handed_out(tmp_path):
    uri = _write(tmp_path, "x", 64 << 10, 3)
    held = [s3dlio.get(uri) for _ in range(8)]
    assert len({_addr(v) for v in held}) == 8


def test_batches_recycle_their_one_buffer(tmp_path):
    uris = [_write(tmp_path, f"r{i}", 100_000, i) for i in range(16)]
    batch = s3dlio.get_batch(uris)
    addr = batch.address
    del batch
    gc.collect()
    again = s3dlio.get_batch(uris)
    assert again.address == addr
    assert [bytes(again[i])[:1] for i in range(16)] == [bytes([i]) for i in range(16)]


def _pool_in_child(tmp_path, env):
    uri = _write(tmp_path, "c", 1 << 20, 9)
    code = (
        "import gc, json, s3dlio\n"
        f"for _ in range(4): s3dlio.get({uri!r})\n"
        "gc.collect(); print(json.dumps(s3dlio.buffer_stats()))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, **env},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout)


def test_budget_zero_turns_recycling_off(tmp_path):
    stats = _pool_in_child(tmp_path, {"S3DLIO_POOL_BYTES": "0"})
    assert stats["pool_budget"] == 0
    assert (stats["pool_reused"], stats["pool_idle"]) == (0, 0)
    assert stats["pool_freed"] == stats["pool_made"] == 4


def test_budget_bounds_what_is_kept(tmp_path):
    stats = _pool_in_child(tmp_path, {"S3DLIO_POOL_BYTES": "2MiB"})
    assert stats["pool_budget"] == 2 << 20
    assert stats["pool_made"] == 1 and stats["pool_reused"] == 3
    assert stats["pool_idle_bytes"] <= 2 << 20
