"""The library keeps working in child processes started after it was used.

The parent fetches first (so runtimes, thread pools and connection pools
exist), then a child started with fork or spawn fetches the same URIs and
sends back sizes and digests. Children are joined with a timeout: a hang
is a failure, not a stuck test run.
"""

from __future__ import annotations

import contextlib
import hashlib
import multiprocessing
import queue
import time
import traceback
import warnings

import pytest

import s3dlio

# JAX, when another test imported it into this process, warns at every
# fork that *JAX* is not fork-safe; that says nothing about s3dlio.
pytestmark = pytest.mark.filterwarnings(
    "ignore:os.fork\\(\\) was called.*JAX is multithreaded:RuntimeWarning"
)

JOIN_TIMEOUT_S = 60


def _digest(view) -> tuple[int, str]:
    return len(view), hashlib.sha256(view).hexdigest()


def _child_fetch(uris, results):
    """Runs in the child: fetch each URI, one by one and as a batch."""
    try:
        single = [(uri, *_digest(s3dlio.get(uri))) for uri in uris]
        batch = [(uri, *_digest(view)) for uri, view in s3dlio.get_many(uris)]
        results.put(("ok", single, batch))
    except BaseException:  # report everything to the parent
        results.put(("error", traceback.format_exc(), None))


def _run_in_child(method: str, uris: list[str]):
    ctx = multiprocessing.get_context(method)
    results = ctx.Queue()
    proc = ctx.Process(target=_child_fetch, args=(uris, results), daemon=True)
    try:
        with warnings.catch_warnings():
            # Python 3.12+ warns that forking a process with threads may
            # deadlock; surviving exactly that is what these tests check.
            warnings.filterwarnings(
                "ignore", message=r".*multi-threaded.*fork.*", category=DeprecationWarning
            )
            proc.start()
        message = None
        deadline = time.monotonic() + JOIN_TIMEOUT_S
        while time.monotonic() < deadline:
            try:
                message = results.get(timeout=0.2)
                break
            except queue.Empty:
                if not proc.is_alive():
                    # It may have sent its result just before exiting.
                    with contextlib.suppress(queue.Empty):
                        message = results.get(timeout=1)
                    break
        proc.join(timeout=max(1.0, deadline - time.monotonic()))
        if proc.is_alive():
            proc.kill()
            proc.join(timeout=10)
            pytest.fail(f"{method} child did not finish within {JOIN_TIMEOUT_S} s")
        assert proc.exitcode == 0, f"{method} child exited with {proc.exitcode}"
        assert message is not None, f"{method} child sent no result"
        status, single, batch = message
        assert status == "ok", f"{method} child failed:\n{single}"
        return single, batch
    finally:
        if proc.is_alive():
            proc.kill()
            proc.join(timeout=10)
        proc.close()
        results.close()
        results.join_thread()


@pytest.fixture
def used_uris(file_prefix, s3_prefix):
    """Objects on both backends, already fetched by this (parent) process."""
    uris = []
    for i, base in enumerate([file_prefix, s3_prefix] * 2):
        uri = f"{base}/fork-{i}.bin"
        s3dlio.put(uri, bytes([i]) * (1000 * (i + 1)) + b"tail")
        uris.append(uri)
    expected = [(uri, *_digest(s3dlio.get(uri))) for uri in uris]
    assert [(u, *_digest(v)) for u, v in s3dlio.get_many(uris)] == expected
    return uris, expected


@pytest.mark.timeout(150)
@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_child_process_after_use(used_uris, method):
    uris, expected = used_uris
    single, batch = _run_in_child(method, uris)
    assert single == expected
    assert batch == expected
    # The parent is unaffected by its child.
    assert [(u, *_digest(s3dlio.get(u))) for u in uris] == expected


@pytest.mark.timeout(150)
def test_two_forks_in_a_row(used_uris):
    uris, expected = used_uris
    for _ in range(2):
        single, batch = _run_in_child("fork", uris)
        assert single == expected
        assert batch == expected
