"""Nothing a caller asks for aborts the interpreter or leaks a panic.

An object larger than the memory the process can hold is refused with
``s3dlio.OutOfMemoryError`` (a ``MemoryError``) before anything is
allocated; sizes whose sum overflows are an ``InvalidArgumentError``. Each
case runs in a fresh interpreter, so a crash fails the test instead of
killing pytest, and the child goes on to read a small object afterwards:
the interpreter survives. Nothing here allocates more than a few MiB: the
large "objects" are sparse files, or a server that only announces a size.

What this machine does with a huge request, measured: with the kernel's
heuristic overcommit (``vm.overcommit_memory=0``) a single ``malloc`` larger
than RAM + swap returns NULL, and one below it succeeds lazily and the
process is OOM-killed when the fill touches it. So the allocator checks a
large buffer against ``MemAvailable`` (and a cgroup's headroom) first, and
treats NULL (e.g. under ``RLIMIT_AS``) as a refusal too.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest
from loopback_http import LoopbackServer

import s3dlio

MEMORY = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
HUGE = 2 * MEMORY  # more than the machine has, whatever it is


def _run_child(code: str, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    out = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        cwd=Path(__file__).parent,  # not the source tree, which has no extension
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert out.returncode == 0, f"child died ({out.returncode}): {out.stderr[-3000:]}"
    assert "panicked" not in out.stderr and "PanicException" not in out.stderr, out.stderr
    return out


CHILD_PRELUDE = """
import asyncio, resource, sys
import s3dlio

def expect(kind, call, *named):
    try:
        call()
    except kind as e:
        assert isinstance(e, s3dlio.S3dlioError), type(e).__mro__
        for name in named:
            assert name in str(e), (name, str(e))
        print(type(e).__name__, "|", e)
        return
    except BaseException as e:
        print("WRONG", type(e).__mro__, e)
        raise
    raise AssertionError("no error")
"""


@pytest.fixture
def files(tmp_path):
    small = tmp_path / "small.bin"
    small.write_bytes(bytes(range(256)) * 4)
    big = tmp_path / "big.bin"
    with open(big, "wb") as f:
        f.truncate(HUGE)  # sparse: no disk, no memory
    return f"file://{small}", f"file://{big}"


@pytest.mark.timeout(120)
def test_an_object_larger_than_memory_is_a_memory_error(files):
    small, big = files
    direct = big.replace("file://", "direct://")
    out = _run_child(
        CHILD_PRELUDE
        + """
small, big, direct = sys.argv[1:4]
expect(MemoryError, lambda: s3dlio.get(big), big)
expect(MemoryError, lambda: s3dlio.get_range(big, 0), big)
expect(MemoryError, lambda: s3dlio.get_many([small, big]))
expect(MemoryError, lambda: asyncio.run(s3dlio.get_async(big)), big)
expect(MemoryError, lambda: s3dlio.get_batch([big]), big)
expect(MemoryError, lambda: s3dlio.get(direct), direct)
expect(MemoryError, lambda: s3dlio.get_batch([small], sizes=10**14), small)
assert len(s3dlio.get(small)) == 1024
print("alive")
""",
        small,
        big,
        direct,
    )
    assert out.stdout.count("OutOfMemoryError |") == 7, out.stdout
    assert out.stdout.rstrip().endswith("alive")
    assert "only" in out.stdout and "available" in out.stdout  # says how much there is


@pytest.mark.timeout(60)
def test_an_allocation_the_system_refuses_is_a_memory_error(files, tmp_path):
    """Under an address-space limit the allocator gets NULL: a
    MemoryError, not an abort (the limit leaves the child 1 GiB more)."""
    small, _ = files
    mid = tmp_path / "mid.bin"
    with open(mid, "wb") as f:
        f.truncate(3 << 30)
    out = _run_child(
        CHILD_PRELUDE
        + """
small, mid = sys.argv[1:3]
assert len(s3dlio.get(small)) == 1024
size = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmSize"))
resource.setrlimit(resource.RLIMIT_AS, (size * 1024 + (1 << 30), resource.RLIM_INFINITY))
expect(MemoryError, lambda: s3dlio.get(mid), mid)
assert len(s3dlio.get(small)) == 1024
print("alive")
""",
        small,
        f"file://{mid}",
    )
    assert "refused" in out.stdout, out.stdout
    assert out.stdout.rstrip().endswith("alive")


@pytest.mark.timeout(60)
def test_sizes_that_overflow_are_invalid_arguments(files):
    small, _ = files
    for sizes in ([2**64 - 1, 2], [2**63, 2**63], [2**63]):
        with pytest.raises(s3dlio.InvalidArgumentError) as excinfo:
            s3dlio.get_batch([small] * len(sizes), sizes=sizes)
        assert small in str(excinfo.value)
    assert len(s3dlio.get(small)) == 1024


class _HugeObjectServer(LoopbackServer):
    """An S3 endpoint whose every object announces HUGE bytes: ranges are
    answered (zeros), the whole body never is."""

    def __init__(self):
        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _answer(self):
                rng = self.headers.get("Range")
                if rng and self.command == "GET":
                    first, last = (int(x) for x in rng.split("=")[1].split("-"))
                    last = min(last, HUGE - 1)
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {first}-{last}/{HUGE}")
                    self.send_header("Content-Length", str(last - first + 1))
                else:
                    self.send_response(200)
                    self.send_header("Content-Length", str(HUGE))
                self.send_header("ETag", '"huge"')
                self.send_header("Last-Modified", "Mon, 01 Jan 2024 00:00:00 GMT")
                self.end_headers()
                if rng and self.command == "GET":
                    self.wfile.write(bytes(last - first + 1))
                self.close_connection = True

            do_GET = do_HEAD = _answer

        super().__init__(Handler)


@pytest.mark.timeout(120)
def test_a_remote_object_larger_than_memory_is_a_memory_error(files):
    """The refusal unwinds from the runtime's tasks to the call (sync,
    async, many, batch) as OutOfMemoryError, printing nothing."""
    small, _ = files
    with _HugeObjectServer() as server:
        out = _run_child(
            CHILD_PRELUDE
            + """
small, endpoint = sys.argv[1:3]
o = {"AWS_ENDPOINT_URL": endpoint, "S3DLIO_MAX_RETRIES": "0"}
uri = "s3://bucket/huge.bin"
expect(MemoryError, lambda: s3dlio.get(uri, options=o), uri)
expect(MemoryError, lambda: asyncio.run(s3dlio.get_async(uri, options=o)), uri)
expect(MemoryError, lambda: s3dlio.get_many([uri], options=o))
expect(MemoryError, lambda: asyncio.run(s3dlio.get_many_async([uri], options=o)))
expect(MemoryError, lambda: s3dlio.get_batch([uri], options=o), uri)
assert len(s3dlio.get(small)) == 1024
print("alive")
""",
            small,
            server.url,
        )
    assert out.stdout.count("OutOfMemoryError |") == 5, out.stdout
    assert out.stdout.rstrip().endswith("alive")


def test_out_of_memory_error_is_a_memory_error_and_an_s3dlio_error():
    assert issubclass(s3dlio.OutOfMemoryError, MemoryError)
    assert issubclass(s3dlio.OutOfMemoryError, s3dlio.S3dlioError)
