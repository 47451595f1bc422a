"""Dropped buffers are recycled: the next fetch of a like size lands in the
same memory (asserted by address), never shows a previous object's bytes,
and the pool keeps no more than its budget (``S3DLIO_POOL_BYTES``)."""

import gc
import json
import os
import subprocess
import sys

import numpy as np
import pytest

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


def _child(tmp_path, code, env):
    clean = {k: v for k, v in os.environ.items() if not k.startswith("S3DLIO_POOL")}
    out = subprocess.run(
        [sys.executable, "-c", code],
        env={**clean, **env},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout)


def test_idle_slabs_are_freed_after_the_idle_limit(tmp_path):
    uri = _write(tmp_path, "e", 1 << 20, 4)
    code = (
        "import gc, json, time, s3dlio\n"
        f"held = [s3dlio.get({uri!r}) for _ in range(3)]\n"
        "del held; gc.collect()\n"
        "parked = s3dlio.buffer_stats()\n"
        "deadline = time.monotonic() + 10\n"
        "while s3dlio.buffer_stats()['pool_idle'] and time.monotonic() < deadline:\n"
        "    time.sleep(0.05)\n"
        "print(json.dumps([parked, s3dlio.buffer_stats()]))\n"
    )
    parked, later = _child(tmp_path, code, {"S3DLIO_POOL_IDLE_MS": "200"})
    assert parked["pool_idle"] == 3
    assert (later["pool_idle"], later["pool_idle_bytes"]) == (0, 0)
    assert later["pool_freed"] == 3
    # Without an idle limit they stay.
    parked, kept = _child(tmp_path, code.replace("+ 10", "+ 0.5"), {"S3DLIO_POOL_IDLE_MS": "0"})
    assert kept["pool_idle"] == 3 and kept["pool_freed"] == 0


def test_the_default_budget_keeps_a_large_held_set_for_the_next_fetch(tmp_path):
    """A loader that holds 320 MiB, drops it and fetches it again lands the
    second fetch in the first one's memory (more than the old fixed 256 MiB)."""
    count, size = 20, 16 << 20
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    if memory // 8 < count * size + (64 << 20):
        pytest.skip("an eighth of this machine's memory is below the working set")
    uris = [_write(tmp_path, f"big{i}", size, i) for i in range(count)]
    code = (
        "import gc, json, s3dlio\n"
        f"uris = {uris!r}\n"
        "held = s3dlio.get_many(uris); del held; gc.collect()\n"
        "before = s3dlio.buffer_stats()\n"
        "held = s3dlio.get_many(uris)\n"
        "ok = all(bytes(v[:1]) == bytes([i]) for i, (_, v) in enumerate(held))\n"
        "print(json.dumps([before, s3dlio.buffer_stats(), ok]))\n"
    )
    before, after, ok = _child(tmp_path, code, {})
    assert before["pool_budget"] >= max(256 << 20, memory // 8 - (1 << 20))
    assert before["pool_idle_bytes"] >= count * size
    assert after["pool_reused"] - before["pool_reused"] == count
    assert after["pool_made"] == before["pool_made"]
    assert ok
