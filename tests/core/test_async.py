"""Concurrency: the asyncio API, cancellation, and the GIL being released
during blocking calls."""

from __future__ import annotations

import asyncio
import sys
import threading
import time

import numpy as np
import pytest

import s3dlio

MiB = 1024 * 1024


def _put_mixed(file_prefix: str, s3_prefix: str, n: int, tag: str) -> list[tuple[str, bytes]]:
    """n objects, alternating file:// and s3://, with distinct small payloads."""
    items = []
    for i in range(n):
        base = file_prefix if i % 2 == 0 else s3_prefix
        items.append((f"{base}/{tag}/{i:04d}", f"{tag}-{i}".encode()))
    s3dlio.put_many([it for it in items if it[0].startswith("file://")])
    s3dlio.put_many([it for it in items if it[0].startswith("s3://")])
    return items


# --- asyncio -------------------------------------------------------------------


def test_get_async_with_asyncio_run(prefix):
    uri = f"{prefix}/async.bin"
    data = bytes(range(256)) * 40
    s3dlio.put(uri, data)
    view = asyncio.run(s3dlio.get_async(uri))
    assert isinstance(view, s3dlio.BytesView)
    assert bytes(view) == data
    assert view.address % 64 == 0


def test_get_async_awaited_in_a_coroutine(prefix):
    uri = f"{prefix}/async2.bin"
    s3dlio.put(uri, b"awaited")

    async def main():
        return await s3dlio.get_async(uri)

    assert bytes(asyncio.run(main())) == b"awaited"


def test_get_async_missing_raises_not_found(prefix):
    uri = f"{prefix}/missing"

    async def main():
        return await s3dlio.get_async(uri)

    with pytest.raises(FileNotFoundError) as excinfo:
        asyncio.run(main())
    assert uri in str(excinfo.value)


@pytest.mark.timeout(60)
def test_get_many_async_100_uris_in_order(file_prefix, s3_prefix):
    items = _put_mixed(file_prefix, s3_prefix, 100, "am")
    uris = [u for u, _ in items][::-1]
    expected = [d for _, d in items][::-1]

    async def main():
        return await s3dlio.get_many_async(uris, max_in_flight=16)

    result = asyncio.run(main())
    assert isinstance(result, list)
    assert [u for u, _ in result] == uris
    assert [bytes(v) for _, v in result] == expected


def test_get_many_async_empty():
    async def main():
        return await s3dlio.get_many_async([])

    assert asyncio.run(main()) == []


@pytest.mark.timeout(60)
def test_50_concurrent_get_async(file_prefix, s3_prefix):
    items = _put_mixed(file_prefix, s3_prefix, 50, "gather")

    async def main():
        return await asyncio.gather(*(s3dlio.get_async(u) for u, _ in items))

    views = asyncio.run(main())
    assert len(views) == 50
    assert [bytes(v) for v in views] == [d for _, d in items]


@pytest.mark.timeout(60)
def test_cancelled_get_many_async_does_not_break_later_calls(file_prefix, s3_prefix):
    items = _put_mixed(file_prefix, s3_prefix, 300, "cancel")
    uris = [u for u, _ in items]
    expected = [d for _, d in items]

    async def fetch():
        return await s3dlio.get_many_async(uris, max_in_flight=4)

    async def cancel_then_fetch_again():
        task = asyncio.create_task(fetch())
        await asyncio.sleep(0)  # the task starts and is now waiting on I/O
        assert not task.done()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert task.cancelled()
        # Same loop, same URIs: works, and returns everything in order.
        again = await s3dlio.get_many_async(uris)
        return [(u, bytes(v)) for u, v in again]

    assert asyncio.run(cancel_then_fetch_again()) == list(zip(uris, expected, strict=True))

    # A fresh event loop and the blocking API work too.
    async def one():
        return await s3dlio.get_async(uris[1])

    assert bytes(asyncio.run(one())) == expected[1]
    assert [bytes(v) for _, v in s3dlio.get_many(uris)] == expected


# --- the GIL --------------------------------------------------------------------


@pytest.mark.timeout(120)
def test_get_many_releases_the_gil(tmp_path):
    """While one thread is inside get_many, another thread runs Python code.

    The interpreter's switch interval is raised so that a thread holding the
    GIL is never forced to hand it over: if get_many held the GIL for the
    whole call, the main thread could not record a single timestamp inside
    any call's [start, end] window. With the GIL released it records many.
    """
    root = tmp_path.resolve()
    n_objects, size, repeats = 16, 4 * MiB, 4
    block = np.random.default_rng(9).integers(0, 256, size, dtype=np.uint8).tobytes()
    uris = []
    for i in range(n_objects):
        path = root / f"gil-{i:02d}.bin"
        path.write_bytes(block)
        uris.append(f"file://{path}")
    assert len(s3dlio.get_many(uris)) == n_objects  # warm-up: runtime, page cache

    windows: list[tuple[float, float]] = []
    errors: list[BaseException] = []
    done = threading.Event()

    def worker():
        try:
            for _ in range(repeats):
                t0 = time.perf_counter()
                result = s3dlio.get_many(uris)
                t1 = time.perf_counter()
                windows.append((t0, t1))
                assert [u for u, _ in result] == uris
                assert all(len(v) == size for _, v in result)
                del result
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)
        finally:
            done.set()

    ticks: list[float] = []
    old_interval = sys.getswitchinterval()
    sys.setswitchinterval(100.0)
    try:
        thread = threading.Thread(target=worker, daemon=True)
        thread.start()
        while not done.is_set():
            ticks.append(time.perf_counter())
            done.wait(0.0005)  # blocks, so the worker can take the GIL back
        thread.join(timeout=60)
    finally:
        sys.setswitchinterval(old_interval)

    assert not thread.is_alive()
    assert not errors, errors
    assert len(windows) == repeats
    inside = sum(1 for t in ticks if any(t0 < t < t1 for t0, t1 in windows))
    assert inside >= 1, (
        f"the main thread made no progress during {repeats} get_many calls "
        f"(call times {[round(t1 - t0, 4) for t0, t1 in windows]} s): GIL held"
    )
