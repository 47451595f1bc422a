"""The local cache across processes and on a full disk: two processes that
miss the same object at once fetch it once (the other waits, then reads the
entry), a cache on a disk with no room left reads through, correct and
uncached, saying so once, and a child forked while a fetch is in flight
(holding its lock) never blocks a later read.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from fault_proxy import FaultProxy, stall

import s3dlio

RACER = """
import json, os, sys, time
import s3dlio
uri, cache, start = sys.argv[1:4]
while not os.path.exists(start):
    time.sleep(0.001)
data = s3dlio.get(uri, options={"cache_dir": cache})
m = s3dlio.metrics()
print(json.dumps({"cache": m["cache"], "len": len(data), "first": bytes(data[:1]).hex()}))
"""


def test_two_processes_missing_one_object_fetch_it_once(s3_prefix, tmp_path, moto_server):
    uri = f"{s3_prefix}/shared.bin"
    s3dlio.put(uri, b"\x07" * 200_000)
    cache, start = tmp_path / "cache", tmp_path / "start"
    with FaultProxy(moto_server) as proxy:
        # The first GET takes a second: the other process misses meanwhile.
        proxy.inject([stall(1.0)], method="GET", path="*/shared.bin")
        env = {**os.environ, "AWS_ENDPOINT_URL": proxy.url}
        racers = [
            subprocess.Popen(
                [sys.executable, "-c", RACER, uri, str(cache), str(start)],
                env=env,
                stdout=subprocess.PIPE,
            )
            for _ in range(2)
        ]
        time.sleep(0.5)  # both imported and waiting
        start.touch()
        outs = [json.loads(r.communicate(timeout=120)[0]) for r in racers]
        gets = proxy.requests_to("GET", "*/shared.bin")
    assert [o["len"] for o in outs] == [200_000, 200_000]
    assert {o["first"] for o in outs} == {"07"}
    assert sorted(o["cache"]["misses"] for o in outs) == [0, 1], outs
    assert sorted(o["cache"]["hits"] for o in outs) == [0, 1], outs
    assert len(gets) == 1, [g.path for g in gets]


FULL_DISK = """
import json, sys
import s3dlio
prefix, cache = sys.argv[1:3]
opts = {"cache_dir": cache, "cache_bytes": "1GiB"}
out = {}
big = s3dlio.get(prefix + "/big.bin", options=opts)
out["big_ok"] = bytes(big) == bytes(range(256)) * (3 * 4096)
s3dlio.get(prefix + "/big.bin", options=opts)
out["after_big"] = s3dlio.metrics(reset=True)["cache"]
small = s3dlio.get(prefix + "/small.bin", options=opts)
out["small_ok"] = bytes(small) == b"s" * 1000
out["after_small"] = s3dlio.metrics(reset=True)["cache"]
print(json.dumps(out))
"""


def _run_on_a_small_tmpfs(script: list[str], mount: Path) -> subprocess.CompletedProcess:
    """`script` run where `mount` is a 1 MiB tmpfs: in a mount namespace of
    its own (unshare), so nothing outside the test sees it."""
    unshare = shutil.which("unshare")
    if unshare is None:
        pytest.skip("no unshare(1) to mount a small tmpfs")
    command = f'mount -t tmpfs -o size=1m tmpfs "{mount}" && exec "$@"'
    args = [unshare, "--mount"] if os.geteuid() == 0 else [unshare, "-rm"]
    probe = subprocess.run(
        [*args, "sh", "-c", f'mount -t tmpfs -o size=1m tmpfs "{mount}"'],
        capture_output=True,
        timeout=30,
    )
    if probe.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {probe.stderr.decode().strip()}")
    return subprocess.run(
        [*args, "sh", "-c", command, "sh", *script], capture_output=True, timeout=180
    )


def test_a_full_disk_reads_through_and_says_so_once(s3_prefix, tmp_path):
    # 3 MiB: more than the 1 MiB disk, well under the 1 GiB budget.
    s3dlio.put(f"{s3_prefix}/big.bin", bytes(range(256)) * (3 * 4096))
    s3dlio.put(f"{s3_prefix}/small.bin", b"s" * 1000)
    mount = tmp_path / "small-disk"
    mount.mkdir()
    out = _run_on_a_small_tmpfs(
        [sys.executable, "-c", FULL_DISK, s3_prefix, str(mount / "cache")], mount
    )
    assert out.returncode == 0, out.stderr.decode()
    got = json.loads(out.stdout)
    assert got["big_ok"] and got["small_ok"]
    assert got["after_big"]["read_through"] == 2 and got["after_big"]["writes"] == 0
    assert got["after_big"]["misses"] == 2
    # The disk had room for a small one: kept.
    assert got["after_small"]["writes"] == 1
    err = out.stderr.decode()
    assert err.count("could not keep") == 1, err
    assert "big.bin" in err
    assert list(mount.iterdir()) == [], "the tmpfs was private to the child"


def _part_of(cache: Path, uri: str) -> Path:
    """The `.part` file of `uri`'s entry: FNV-1a 64 of the URI, as the library names it."""
    h = 0xCBF29CE484222325
    for b in uri.encode():
        h = ((h ^ b) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    name = f"{h:016x}"
    return cache / "objects" / name[:2] / f"{name}.part"


# Holds the fetch locks of the paths as a fetching process does: an
# exclusive open-file-description lock (struct flock: type, whence, start,
# len, pid 0) on each `.part` file.
HOLDER = """
import fcntl, os, struct, sys, time
whole = struct.pack("hhqqi", fcntl.F_WRLCK, os.SEEK_SET, 0, 0, 0)
held = []
for path in sys.argv[2:]:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    f = open(path, "a")
    fcntl.fcntl(f, fcntl.F_OFD_SETLKW, whole)
    held.append(f)
print("held", flush=True)
time.sleep(float(sys.argv[1]))
"""


def test_waiting_for_another_process_holds_no_thread(s3_prefix, tmp_path):
    """Objects another process is fetching are waited for off the runtime's
    few blocking threads: meanwhile an unrelated read still completes at
    once (a thread blocked per waiting object would starve it until the
    other process let go, and two processes waiting on each other would
    never finish)."""
    cache = tmp_path / "cache"
    options = {"cache_dir": str(cache)}
    held = [f"{s3_prefix}/held{i:02d}.bin" for i in range(16)]
    other = f"{s3_prefix}/other.bin"
    s3dlio.put_many([(u, bytes([i]) * 10_000) for i, u in enumerate(held)] + [(other, b"o" * 10)])
    s3dlio.get(other, options=options)  # the cache directory, made and marked
    parts = [str(_part_of(cache, u)) for u in held]
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, "4", *parts], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        got: list = []
        waiting = threading.Thread(
            target=lambda: got.extend(s3dlio.get_many(held, options=options))
        )
        waiting.start()
        time.sleep(0.3)  # every held object is being waited for
        t0 = time.monotonic()
        assert bytes(s3dlio.get_range(other, 0, 5, options=options)) == b"ooooo"
        assert time.monotonic() - t0 < 1.5, "an unrelated read waited for the other process"
        assert waiting.is_alive(), "the held objects were waited for"
    finally:
        holder.communicate(timeout=30)
    waiting.join(timeout=60)
    assert [bytes(v) for _, v in got] == [bytes([i]) * 10_000 for i in range(16)]
    assert list(cache.glob("objects/*/*.part")) == []


FORKER = """
import json, os, sys, threading, time
import s3dlio
uri, cache = sys.argv[1:3]
options = {"cache_dir": cache}
first = threading.Thread(target=s3dlio.get, args=(uri,), kwargs={"options": options})
first.start()
time.sleep(0.5)  # the GET is stalled: its fetch lock is held now
child = os.fork()
if child == 0:  # holds copies of every descriptor the parent had
    time.sleep(30)
    os._exit(0)
first.join()
s3dlio.metrics(reset=True)
t0 = time.monotonic()
data = s3dlio.get(uri, options=options)
took = time.monotonic() - t0
os.kill(child, 9)
os.waitpid(child, 0)
ok = bytes(data) == b"\\x05" * 100_000
print(json.dumps({"took": took, "ok": ok, "cache": s3dlio.metrics()["cache"]}))
"""


def test_a_fork_while_fetching_never_blocks_a_later_read(s3_prefix, tmp_path, moto_server):
    # The child inherits the fetch lock's descriptor, and with it the lock,
    # which stays on the entry once the parent renames it into place. A
    # read lock of the same kind waited there for the child's exit (29 s);
    # of a kind the fetch lock never meets, the entry is read at once.
    uri = f"{s3_prefix}/forked.bin"
    s3dlio.put(uri, b"\x05" * 100_000)
    with FaultProxy(moto_server) as proxy:
        proxy.inject([stall(1.5)], method="GET", path="*/forked.bin")
        env = {**os.environ, "AWS_ENDPOINT_URL": proxy.url}
        done = subprocess.run(
            [sys.executable, "-c", FORKER, uri, str(tmp_path / "cache")],
            env=env,
            capture_output=True,
            timeout=120,
        )
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    got = json.loads(done.stdout)
    assert got["ok"] and got["took"] < 10, got
    assert got["cache"]["hits"] == 1 and got["cache"]["misses"] == 0, got
