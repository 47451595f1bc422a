"""Storage that misbehaves, through a fault-injecting proxy in front of moto:
bodies cut short in transit, 500/503 answers and connection resets on
uploads, failed checkpoint pieces, a failing command-line download, and
slow answers. Nothing is lost or returned short: a fault is retried (and
the data is intact) or raised naming the URI, and what was stored before
stays stored.

Each test has its own proxy (so its own client: the library keeps one per
options dict) and its own bucket.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from fault_proxy import (
    INTERNAL_ERROR,
    PASS,
    RESET,
    SLOW_DOWN,
    TRUNCATE,
    FaultProxy,
    stall,
    truncate,
)

import s3dlio

EXE = shutil.which("s3dlio", path=str(Path(sys.executable).parent)) or "s3dlio"


@pytest.fixture
def proxy(moto_server):
    with FaultProxy(moto_server) as proxy:
        yield proxy


def _data(size: int, seed: int = 0) -> bytes:
    return np.random.default_rng(seed).integers(0, 256, size, dtype=np.uint8).tobytes()


@pytest.fixture
def s3_object(s3_bucket):
    """(uri, request path, data) of a 300 kB object written straight to moto."""
    key = "faults/obj.bin"
    data = _data(300_000, 42)
    s3dlio.put(f"s3://{s3_bucket}/{key}", data)
    return f"s3://{s3_bucket}/{key}", f"/{s3_bucket}/{key}", data


def _options(proxy: FaultProxy, retries: int, **extra: str) -> dict[str, str]:
    return {"AWS_ENDPOINT_URL": proxy.url, "S3DLIO_MAX_RETRIES": str(retries), **extra}


def _kinds(proxy: FaultProxy, method: str, path: str) -> list[str]:
    return [r.fault.kind for r in proxy.requests_to(method, path)]


# --- bodies cut short -----------------------------------------------------------------


@pytest.mark.timeout(60)
def test_truncated_body_is_retried(proxy, s3_object):
    uri, path, data = s3_object
    proxy.inject([TRUNCATE], method="GET", path=path)
    view = s3dlio.get(uri, options=_options(proxy, 3))
    assert len(view) == len(data) and bytes(view) == data
    assert _kinds(proxy, "GET", path) == ["truncate", "pass"]


@pytest.mark.timeout(60)
@pytest.mark.parametrize("fraction", [0.0, 0.5, 0.99])
def test_truncated_body_without_retries_is_an_error(proxy, s3_object, fraction):
    uri, path, _ = s3_object
    proxy.inject([truncate(fraction)], method="GET", path=path)
    with pytest.raises(s3dlio.S3dlioError) as excinfo:
        s3dlio.get(uri, options=_options(proxy, 0))
    assert not isinstance(excinfo.value, FileNotFoundError)
    assert uri in str(excinfo.value)
    assert _kinds(proxy, "GET", path) == ["truncate"]


@pytest.mark.timeout(60)
def test_truncated_range_is_retried(proxy, s3_object):
    uri, path, data = s3_object
    proxy.inject([TRUNCATE], method="GET", path=path)
    view = s3dlio.get_range(uri, 1000, 50_000, options=_options(proxy, 3))
    assert bytes(view) == data[1000:51_000]
    assert _kinds(proxy, "GET", path) == ["truncate", "pass"]


@pytest.mark.timeout(60)
@pytest.mark.parametrize("retries", [3, 0])
def test_truncated_part_of_a_large_object(proxy, s3_object, retries):
    """A large object comes as parallel ranged parts; one of them cut short
    is retried, or (retries off) fails the whole get: never a short view."""
    uri, path, data = s3_object
    proxy.inject([PASS, TRUNCATE], method="GET", path=path)
    options = _options(proxy, retries, S3DLIO_RANGE_PART_SIZE="65536")
    if retries:
        assert bytes(s3dlio.get(uri, options=options)) == data
        assert sorted(_kinds(proxy, "GET", path)).count("truncate") == 1
        assert len(proxy.requests_to("GET", path)) == 6  # 5 parts + 1 retry
    else:
        with pytest.raises(s3dlio.S3dlioError) as excinfo:
            s3dlio.get(uri, options=options)
        assert uri in str(excinfo.value)


@pytest.mark.timeout(60)
def test_truncated_bodies_in_get_many_and_get_batch(proxy, s3_bucket):
    objects = {f"s3://{s3_bucket}/many/{i}": _data(20_000 + i, i) for i in range(6)}
    s3dlio.put_many(list(objects.items()))
    uris = list(objects)
    victim = f"/{s3_bucket}/many/3"
    proxy.inject([TRUNCATE], method="GET", path=victim)
    got = s3dlio.get_many(uris, options=_options(proxy, 3))
    assert [(u, bytes(v)) for u, v in got] == list(objects.items())
    proxy.inject([truncate(0.25)], method="GET", path=victim)
    batch = s3dlio.get_batch(uris, options=_options(proxy, 3))
    assert [bytes(batch[i]) for i in range(len(uris))] == list(objects.values())
    assert _kinds(proxy, "GET", victim) == ["truncate", "pass", "truncate", "pass"]
    proxy.inject([TRUNCATE], method="GET", path=victim)
    with pytest.raises(s3dlio.S3dlioError) as excinfo:
        s3dlio.get_many(uris, options=_options(proxy, 0))
    assert uris[3] in str(excinfo.value)


# --- uploads ------------------------------------------------------------------------------

PUT_FAULTS = {"503": SLOW_DOWN, "500": INTERNAL_ERROR, "reset": RESET}


@pytest.mark.timeout(60)
@pytest.mark.parametrize("fault", list(PUT_FAULTS))
def test_put_fault_is_retried(proxy, s3_bucket, fault):
    uri, path = f"s3://{s3_bucket}/put/{fault}.bin", f"/{s3_bucket}/put/{fault}.bin"
    data = _data(100_000, 7)
    proxy.inject([PUT_FAULTS[fault]] * 2, method="PUT", path=path)
    s3dlio.put(uri, data, options=_options(proxy, 3))
    assert _kinds(proxy, "PUT", path) == [fault, fault, "pass"]
    assert bytes(s3dlio.get(uri)) == data


@pytest.mark.timeout(60)
@pytest.mark.parametrize("fault", list(PUT_FAULTS))
def test_put_fault_without_retries_stores_nothing(proxy, s3_bucket, fault):
    uri, path = f"s3://{s3_bucket}/put/{fault}.bin", f"/{s3_bucket}/put/{fault}.bin"
    proxy.inject([PUT_FAULTS[fault]] * 5, method="PUT", path=path)
    with pytest.raises(s3dlio.S3dlioError) as excinfo:
        s3dlio.put(uri, _data(100_000, 8), options=_options(proxy, 0))
    assert uri in str(excinfo.value)
    assert not isinstance(excinfo.value, FileNotFoundError)
    assert _kinds(proxy, "PUT", path) == [fault]
    assert s3dlio.exists(uri) is False


@pytest.mark.timeout(60)
@pytest.mark.parametrize("fault", list(PUT_FAULTS))
def test_failed_overwrite_leaves_the_previous_object(proxy, s3_bucket, fault):
    uri, path = f"s3://{s3_bucket}/put/keep.bin", f"/{s3_bucket}/put/keep.bin"
    old = _data(50_000, 9)
    s3dlio.put(uri, old)
    proxy.inject([PUT_FAULTS[fault]] * 5, method="PUT", path=path)
    with pytest.raises(s3dlio.S3dlioError):
        s3dlio.put(uri, _data(60_000, 10), options=_options(proxy, 0))
    assert bytes(s3dlio.get(uri)) == old


@pytest.mark.timeout(60)
def test_put_many_with_a_failing_item(proxy, s3_bucket):
    items = [(f"s3://{s3_bucket}/pm/{i}", _data(1000, i)) for i in range(8)]
    proxy.inject([INTERNAL_ERROR], method="PUT", path=f"/{s3_bucket}/pm/5")
    with pytest.raises(s3dlio.S3dlioError) as excinfo:
        s3dlio.put_many(items, options=_options(proxy, 0))
    assert items[5][0] in str(excinfo.value)
    assert s3dlio.exists(items[5][0]) is False
    # With retries the same call stores everything.
    proxy.inject([INTERNAL_ERROR], method="PUT", path=f"/{s3_bucket}/pm/5")
    s3dlio.put_many(items, options=_options(proxy, 3))
    assert [bytes(v) for _, v in s3dlio.get_many([u for u, _ in items])] == [d for _, d in items]


# --- checkpoints --------------------------------------------------------------------------

CHECKPOINT_PIECES = {  # `*`: the fresh name each save gives its shard
    "shard": "step-000000000002/attempt-0/rank-00001-of-00002.*.bin",
    "record": "step-000000000002/attempt-0/rank-00001-of-00002.json",
    "manifest": "step-000000000002/manifest.json",
    "index entry": "published/step-000000000002",
}


@pytest.mark.timeout(60)
@pytest.mark.parametrize("piece", list(CHECKPOINT_PIECES))
def test_checkpoint_save_that_fails_leaves_the_previous_step(proxy, s3_bucket, piece):
    base = f"s3://{s3_bucket}/ckpt"
    store = s3dlio.CheckpointStore(base, options=_options(proxy, 0))
    first = [_data(10_000, 20), _data(10_000, 21)]
    for rank, shard in enumerate(first):
        store.save(1, shard, rank=rank, world_size=2)
    assert store.latest_step() == 1
    second = [_data(12_000, 22), _data(12_000, 23)]
    store.save(2, second[0], rank=0, world_size=2)
    path = f"/{s3_bucket}/ckpt/{CHECKPOINT_PIECES[piece]}"
    before = len(proxy.requests_to("PUT", path))
    proxy.inject([INTERNAL_ERROR], method="PUT", path=path)
    with pytest.raises(s3dlio.S3dlioError) as excinfo:
        store.save(2, second[1], rank=1, world_size=2)
    named = f"{base}/{CHECKPOINT_PIECES[piece]}".split("*")
    assert all(part in str(excinfo.value) for part in named), str(excinfo.value)
    assert _kinds(proxy, "PUT", path)[before:] == ["500"]
    # Step 1 is still the one loaded, whole and checked, by every rank.
    assert store.latest_step() == 1
    assert [bytes(store.load_latest(rank)) for rank in range(2)] == first
    # Saving again once storage behaves publishes step 2.
    store.save(2, second[1], rank=1, world_size=2)
    assert store.latest_step() == 2
    assert [bytes(v) for _, v in store.read_all_shards(2)] == second


# --- the command line ---------------------------------------------------------------------


def _download(proxy: FaultProxy, uri: str, dest: Path, retries: int):
    env = {**os.environ, "S3DLIO_MAX_RETRIES": str(retries)}
    return subprocess.run(
        [EXE, "download", uri, str(dest), "--endpoint-url", proxy.url, "-q"],
        cwd=dest.parent,
        env=env,
        capture_output=True,
        timeout=60,
        check=False,
    )


@pytest.mark.timeout(90)
@pytest.mark.parametrize("fault", ["truncate", "500", "reset"])
def test_cli_download_through_a_failing_proxy(proxy, s3_object, tmp_path, fault):
    uri, path, data = s3_object
    dest = tmp_path / "dl"
    faults = {"truncate": TRUNCATE, "500": INTERNAL_ERROR, "reset": RESET}
    proxy.inject([faults[fault]] * 3, method="GET", path=path)
    out = _download(proxy, uri, dest, retries=0)
    assert out.returncode == 1, out.stderr
    lines = out.stderr.decode().strip().splitlines()
    assert len(lines) == 1 and uri in lines[0]
    leftovers = [p for p in dest.rglob("*") if p.is_file()] if dest.exists() else []
    assert leftovers == [], "no partial or temporary file"
    # With retries the same download succeeds, byte for byte.
    proxy.inject([faults[fault]], method="GET", path=path)
    out = _download(proxy, uri, dest, retries=3)
    assert out.returncode == 0, out.stderr
    assert (dest / "obj.bin").read_bytes() == data
    assert [p.name for p in dest.iterdir()] == ["obj.bin"]


# --- slow answers ---------------------------------------------------------------------------


@pytest.mark.timeout(60)
def test_stalled_gets_in_get_many_keep_order(proxy, s3_bucket):
    objects = [(f"s3://{s3_bucket}/slow/{i:02d}", _data(5000 + i, 100 + i)) for i in range(20)]
    s3dlio.put_many(objects)
    for i in (2, 9, 17):
        proxy.inject([stall(0.5)], method="GET", path=f"/{s3_bucket}/slow/{i:02d}")
    uris = [u for u, _ in objects]
    start = time.monotonic()
    got = s3dlio.get_many(uris, max_in_flight=8, options=_options(proxy, 0))
    elapsed = time.monotonic() - start
    assert [(u, bytes(v)) for u, v in got] == objects
    stalled = [r for r in proxy.requests if r.fault.kind == "stall"]
    assert len(stalled) == 3
    assert 0.5 <= elapsed < 5, f"{elapsed:.2f} s: the stalls overlap the other requests"
