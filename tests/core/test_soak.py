"""Long runs leak nothing: 50k gets (and 5k get_many calls) of one small
file hold RSS flat and give every buffer back, and 1,000 concurrent ``get_many_async`` calls all
complete, correctly, with their buffers freed afterwards."""

from __future__ import annotations

import asyncio
import gc
import json
import subprocess
import sys
import time

import pytest

import s3dlio

MiB = 1 << 20

# RSS is read from /proc/self/status (VmRSS) in a fresh interpreter, so the
# test runner's own allocations do not blur it.
SOAK_CHILD = r"""
import json, sys, time
import s3dlio

uri, other, size = sys.argv[1], sys.argv[2], int(sys.argv[3])

def rss():
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise KeyError("VmRSS")

start_buffers = s3dlio.buffer_stats()["buffers"]
start = time.monotonic()
for i in range(50_000):
    view = s3dlio.get(uri)
    if len(view) != size or view[i % size] != (i % size) % 256:
        raise AssertionError(f"get {i}: wrong bytes")
    if i == 4_999:
        del view
        after_5k = rss()
del view
after_50k = rss()
# The parallel engine too: 5,000 get_many calls of two files.
for i in range(5_000):
    views = s3dlio.get_many([uri, other, uri], max_in_flight=2)
    if i == 499:
        del views
        after_500_many = rss()
del views
print(json.dumps({
    "after_5k": after_5k,
    "after_50k": after_50k,
    "after_500_many": after_500_many,
    "after_5k_many": rss(),
    "start_buffers": start_buffers,
    "end_buffers": s3dlio.buffer_stats()["buffers"],
    "seconds": time.monotonic() - start,
}))
"""


@pytest.mark.timeout(120)
def test_50k_gets_hold_rss_flat_and_free_every_buffer(tmp_path):
    size = 4096
    (tmp_path / "small.bin").write_bytes(bytes(i % 256 for i in range(size)))
    (tmp_path / "other.bin").write_bytes(b"other")
    uris = [f"file://{tmp_path}/small.bin", f"file://{tmp_path}/other.bin"]
    out = subprocess.run(
        [sys.executable, "-c", SOAK_CHILD, *uris, str(size)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=100,
        check=False,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    r = json.loads(out.stdout)
    grown = r["after_50k"] - r["after_5k"]
    assert grown < 4 * MiB, f"RSS grew {grown / MiB:.2f} MiB over 45k gets"
    grown = r["after_5k_many"] - r["after_500_many"]
    assert grown < 4 * MiB, f"RSS grew {grown / MiB:.2f} MiB over 4,500 get_many calls"
    assert r["end_buffers"] == r["start_buffers"], r


@pytest.mark.timeout(120)
def test_1000_concurrent_get_many_async(file_prefix, s3_prefix):
    local = [(f"{file_prefix}/a/{i:02d}", bytes([i]) * (100 + i)) for i in range(30)]
    remote = [(f"{s3_prefix}/a/{i:02d}", bytes([200 + i]) * (50 + i)) for i in range(5)]
    s3dlio.put_many(local + remote)
    data = dict(local + remote)
    uris = [u for u, _ in local]

    def request(i: int) -> list[str]:
        picked = [uris[(i + k * 7) % len(uris)] for k in range(3)]
        if i % 20 == 0:  # one task in twenty also fetches from S3
            picked.append(remote[i % len(remote)][0])
        return picked

    gc.collect()  # buffers other tests left to the collector
    buffers_before = s3dlio.buffer_stats()["buffers"]

    async def main():
        tasks = [s3dlio.get_many_async(request(i), max_in_flight=4) for i in range(1000)]
        return await asyncio.wait_for(asyncio.gather(*tasks), timeout=90)

    start = time.monotonic()
    results = asyncio.run(main())
    elapsed = time.monotonic() - start
    assert len(results) == 1000
    for i, pairs in enumerate(results):
        assert [u for u, _ in pairs] == request(i)
        assert all(bytes(v) == data[u] for u, v in pairs), f"task {i}"
    del results, pairs
    gc.collect()  # asyncio futures that held results may sit in reference cycles
    assert s3dlio.buffer_stats()["buffers"] == buffers_before
    assert elapsed < 60, f"{elapsed:.1f} s"
