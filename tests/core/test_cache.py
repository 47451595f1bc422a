"""The local cache of remote objects (`cache_dir`, `S3DLIO_CACHE_DIR`), on
s3:// (moto): a second read served from disk with no GET (the library's own
counters), a copy validated by one HEAD or by a listing's answer, an object
replaced upstream fetched again, LRU eviction within the budget, a writer
killed midway leaving no entry, a directory that is not the cache's refused,
an object larger than the budget read through, hits as views of the
entry's mapped pages with `file_mmap`, and what this process writes or
removes never served from an old copy.

Races between processes and a full disk are in `test_cache_processes.py`.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import s3dlio

SIZE = 100_000


def _objects(prefix: str, n: int, size: int = SIZE) -> list[str]:
    uris = [f"{prefix}/o{i:03d}.bin" for i in range(n)]
    s3dlio.put_many([(u, bytes([i % 251]) * size) for i, u in enumerate(uris)])
    return uris


def _entries(cache: Path) -> list[Path]:
    return sorted(p for p in (cache / "objects").glob("*/*") if len(p.name) == 16)


def test_a_second_read_comes_from_the_cache_with_no_get(s3_prefix, tmp_path):
    cache = tmp_path / "cache"
    uris = _objects(s3_prefix, 12)
    options = {"cache_dir": str(cache)}
    s3dlio.metrics(reset=True)
    first = [bytes(v) for _, v in s3dlio.get_many(uris, options=options)]
    m = s3dlio.metrics(reset=True)
    assert m["get"]["s3"]["requests"] == 12
    assert m["cache"]["misses"] == 12 and m["cache"]["writes"] == 12
    assert m["cache"]["hits"] == 0
    assert len(_entries(cache)) == 12
    assert (cache / ".s3dlio-cache").is_file()

    second = [bytes(v) for _, v in s3dlio.get_many(uris, options=options)]
    m = s3dlio.metrics(reset=True)
    assert second == first
    assert "get" not in m or "s3" not in m["get"], m.get("get")
    assert m["cache"]["hits"] == 12 and m["cache"]["hit_bytes"] == 12 * SIZE
    assert m["cache"]["misses"] == 0
    # Validated by one HEAD each (no listing said what they are).
    assert m["head"]["s3"]["requests"] == 12
    assert m["cache"]["validations"] == 12 and m["cache"]["stale"] == 0

    # get, get_range and get_batch are served from it too.
    assert bytes(s3dlio.get(uris[3], options=options)) == first[3]
    assert bytes(s3dlio.get_range(uris[4], 10, 20, options=options)) == first[4][10:30]
    batch = s3dlio.get_batch(uris[:3], options=options)
    assert [bytes(v) for v in batch] == first[:3]
    m = s3dlio.metrics(reset=True)
    assert "get" not in m and "get_range" not in m, m
    assert m["cache"]["hits"] == 5
    assert "\ns3dlio_cache_hits_total " in s3dlio.metrics_prometheus()


def test_a_listing_validates_the_copies_with_no_request(s3_prefix, tmp_path):
    options = {"cache_dir": str(tmp_path / "cache")}
    uris = _objects(s3_prefix, 6)
    listed = sorted(m.uri for m in s3dlio.list_meta(s3_prefix + "/", options=options))
    assert listed == uris
    s3dlio.get_many(uris, options=options)
    s3dlio.metrics(reset=True)
    s3dlio.get_many(uris, options=options)
    m = s3dlio.metrics(reset=True)
    assert set(m) & {"get", "head", "get_range"} == set(), m
    assert m["cache"]["hits"] == 6

    # Replaced upstream, then listed again: the listing says it changed.
    s3dlio.put(uris[0], b"new" * 10)
    s3dlio.list_meta(s3_prefix + "/", options=options)
    assert bytes(s3dlio.get(uris[0], options=options)) == b"new" * 10
    m = s3dlio.metrics(reset=True)
    assert m["get"]["s3"]["requests"] == 1 and m["cache"]["misses"] == 1


def test_an_object_replaced_upstream_is_fetched_again(s3_prefix, tmp_path):
    options = {"cache_dir": str(tmp_path / "cache")}
    uri = f"{s3_prefix}/x.bin"
    s3dlio.put(uri, b"a" * SIZE)
    assert bytes(s3dlio.get(uri, options=options)) == b"a" * SIZE
    # Same size, other bytes: the ETag tells them apart.
    s3dlio.put(uri, b"b" * SIZE)
    s3dlio.metrics(reset=True)
    assert bytes(s3dlio.get(uri, options=options)) == b"b" * SIZE
    m = s3dlio.metrics(reset=True)
    assert m["cache"]["stale"] == 1 and m["cache"]["misses"] == 1
    assert m["get"]["s3"]["requests"] == 1
    assert bytes(s3dlio.get(uri, options=options)) == b"b" * SIZE
    assert s3dlio.metrics(reset=True)["cache"]["hits"] == 1

    # cache_validate="never" trusts the copy: no request at all.
    never = {**options, "cache_validate": "never"}
    s3dlio.put(uri, b"c" * SIZE)
    assert bytes(s3dlio.get(uri, options=never)) == b"b" * SIZE
    m = s3dlio.metrics(reset=True)
    assert set(m) & {"get", "head"} == set(), m

    # Deleted upstream: an error, not the stale copy.
    s3dlio.delete(uri)
    with pytest.raises(FileNotFoundError, match=r"x\.bin"):
        s3dlio.get(uri, options=options)


def test_what_this_process_writes_or_removes_is_not_served_from_the_cache(s3_prefix, tmp_path):
    # Trusted copies (never validated, or validated by a listing made
    # before the write) would otherwise outlive a put or delete of ours.
    cache = tmp_path / "cache"
    never = {"cache_dir": str(cache), "cache_validate": "never"}
    listed = {"cache_dir": str(cache)}
    uri, other = f"{s3_prefix}/w.bin", f"{s3_prefix}/v.bin"
    s3dlio.put_many([(uri, b"a" * SIZE), (other, b"v" * SIZE)])
    assert bytes(s3dlio.get(uri, options=never)) == b"a" * SIZE
    s3dlio.put(uri, b"b" * SIZE, options=never)
    assert bytes(s3dlio.get(uri, options=never)) == b"b" * SIZE

    with s3dlio.ObjectWriter(uri, options=never) as writer:
        writer.write(b"c" * SIZE)
    assert bytes(s3dlio.get(uri, options=never)) == b"c" * SIZE

    # A listing's answer, made before the put, no longer vouches for it.
    assert len(s3dlio.list_meta(s3_prefix + "/", options=listed)) == 2
    assert bytes(s3dlio.get(other, options=listed)) == b"v" * SIZE
    s3dlio.put(other, b"V" * SIZE, options=listed)
    s3dlio.metrics(reset=True)
    assert bytes(s3dlio.get(other, options=listed)) == b"V" * SIZE
    assert bytes(s3dlio.get(other, options=listed)) == b"V" * SIZE
    m = s3dlio.metrics(reset=True)
    assert m["cache"]["misses"] == 1 and m["cache"]["hits"] == 1, m["cache"]

    s3dlio.delete(uri, options=never)
    with pytest.raises(FileNotFoundError, match=r"w\.bin"):
        s3dlio.get(uri, options=never)
    assert len(_entries(cache)) == 1  # the other object's


def test_a_batch_row_of_another_size_than_the_copy_replaces_it(s3_prefix, tmp_path, capfd):
    # The copy is trusted (never), but the caller knows the object's new
    # size: the row is fetched, and what it fetched replaces the copy.
    never = {"cache_dir": str(tmp_path / "cache"), "cache_validate": "never"}
    uri = f"{s3_prefix}/grown.bin"
    s3dlio.put(uri, b"a" * SIZE)
    assert bytes(s3dlio.get(uri, options=never)) == b"a" * SIZE
    s3dlio.put(uri, b"b" * (SIZE + 10))  # by a writer without the cache
    s3dlio.metrics(reset=True)
    batch = s3dlio.get_batch([uri], sizes=[SIZE + 10], options=never)
    assert bytes(batch[0]) == b"b" * (SIZE + 10)
    m = s3dlio.metrics(reset=True)["cache"]
    assert m["misses"] == 1 and m["writes"] == 1, m
    assert bytes(s3dlio.get(uri, options=never)) == b"b" * (SIZE + 10)
    assert s3dlio.metrics(reset=True)["cache"]["hits"] == 1
    assert "could not keep" not in capfd.readouterr().err


def test_the_least_recently_used_go_first_and_the_budget_holds(s3_prefix, tmp_path):
    cache = tmp_path / "cache"
    uris = _objects(s3_prefix, 8)
    entry = SIZE + 200  # bytes and trailer, about
    options = {"cache_dir": str(cache), "cache_bytes": str(5 * entry + 100)}
    for uri in uris[:5]:
        s3dlio.get(uri, options=options)
        time.sleep(0.02)  # access times a clock tick apart
    assert len(_entries(cache)) == 5
    s3dlio.get(uris[0], options=options)  # o000 is now the most recent
    time.sleep(0.02)
    s3dlio.metrics(reset=True)
    s3dlio.get(uris[5], options=options)
    m = s3dlio.metrics(reset=True)
    assert m["cache"]["evictions"] >= 1
    held = s3dlio_cache_stats(cache)
    assert held["bytes"] <= 5 * entry + 100
    # o001 (least recently used) went; o000 (used again) stayed.
    s3dlio.get(uris[0], options=options)
    assert s3dlio.metrics(reset=True)["cache"]["hits"] == 1
    s3dlio.get(uris[1], options=options)
    assert s3dlio.metrics(reset=True)["cache"]["misses"] == 1
    for uri in uris:
        s3dlio.get(uri, options=options)
        assert s3dlio_cache_stats(cache)["bytes"] <= 5 * entry + 100


def s3dlio_cache_stats(cache: Path) -> dict:
    """`s3dlio cache stats DIR --json`, through the installed command."""
    import json
    import shutil

    exe = shutil.which("s3dlio", path=str(Path(sys.executable).parent)) or "s3dlio"
    out = subprocess.run(
        [exe, "--json", "cache", "stats", str(cache)], capture_output=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def _clear(cache: Path) -> int:
    """`s3dlio cache clear DIR --json`: the objects removed."""
    import json
    import shutil

    exe = shutil.which("s3dlio", path=str(Path(sys.executable).parent)) or "s3dlio"
    out = subprocess.run(
        [exe, "--json", "cache", "clear", str(cache)], capture_output=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)["objects"]


def test_the_command_line_reports_and_clears_only_its_own_directory(s3_prefix, tmp_path):
    import shutil

    exe = shutil.which("s3dlio", path=str(Path(sys.executable).parent)) or "s3dlio"
    cache = tmp_path / "cache"
    uris = _objects(s3_prefix, 3)
    s3dlio.get_many(uris, options={"cache_dir": str(cache)})
    stats = s3dlio_cache_stats(cache)
    assert stats["objects"] == 3 and stats["bytes"] > 3 * SIZE
    out = subprocess.run([exe, "cache", "stats", str(cache)], capture_output=True, timeout=60)
    assert out.returncode == 0 and b"holds 3 objects" in out.stdout, out
    out = subprocess.run([exe, "cache", "clear", str(cache)], capture_output=True, timeout=60)
    assert out.returncode == 0 and b"removed 3 objects" in out.stdout, out
    assert _entries(cache) == [] and (cache / ".s3dlio-cache").is_file()
    assert s3dlio_cache_stats(cache)["objects"] == 0

    # A directory that is not a cache: refused, untouched.
    other = tmp_path / "other"
    other.mkdir()
    (other / "mine.txt").write_text("keep me")
    for action in ("stats", "clear"):
        out = subprocess.run([exe, "cache", action, str(other)], capture_output=True, timeout=60)
        assert out.returncode != 0 and b"not an s3dlio cache" in out.stderr, out
    assert (other / "mine.txt").read_text() == "keep me"


def test_a_directory_holding_other_files_is_refused(s3_prefix, tmp_path):
    uri = _objects(s3_prefix, 1)[0]
    other = tmp_path / "data"
    other.mkdir()
    (other / "mine.txt").write_text("keep me")
    with pytest.raises(ValueError, match=r"S3DLIO_CACHE_DIR=.*data.*mine\.txt"):
        s3dlio.get(uri, options={"cache_dir": str(other)})
    assert sorted(p.name for p in other.iterdir()) == ["mine.txt"]
    with pytest.raises(ValueError, match="cache_validate"):
        s3dlio.get(uri, options={"cache_dir": str(tmp_path / "c"), "cache_validate": "maybe"})


def test_an_object_larger_than_the_budget_is_read_through(s3_prefix, tmp_path, capfd):
    cache = tmp_path / "cache"
    uris = _objects(s3_prefix, 2)
    options = {"cache_dir": str(cache), "cache_bytes": str(SIZE // 2)}
    s3dlio.metrics(reset=True)
    for uri in uris * 2:
        assert len(s3dlio.get(uri, options=options)) == SIZE
    m = s3dlio.metrics(reset=True)
    assert m["cache"]["read_through"] == 4 and m["cache"]["writes"] == 0
    assert m["get"]["s3"]["requests"] == 4
    assert _entries(cache) == []
    err = capfd.readouterr().err
    assert err.count("larger than the whole budget") == 1, err
    assert "o000.bin" in err


def test_a_ranged_read_fetches_the_whole_object_once(s3_prefix, tmp_path):
    options = {"cache_dir": str(tmp_path / "cache")}
    uri = f"{s3_prefix}/big.bin"
    data = os.urandom(3 * 1024 * 1024 + 17)
    s3dlio.put(uri, data)
    s3dlio.metrics(reset=True)
    ranges = [(0, 100), (1_000_000, 5000), (len(data) - 10, 10)]
    for offset, length in ranges:
        got = s3dlio.get_range(uri, offset, length, options=options)
        assert bytes(got) == data[offset : offset + length]
    m = s3dlio.metrics(reset=True)
    assert m["cache"]["misses"] == 1 and m["cache"]["hits"] == 2
    assert m["get"]["s3"]["bytes"] == len(data)
    assert bytes(s3dlio.get(uri, options=options)) == data
    assert s3dlio.metrics(reset=True)["cache"]["hits"] == 1
    # Past the end: the documented range error, naming the object.
    with pytest.raises(ValueError, match=r"big\.bin"):
        s3dlio.get_range(uri, len(data) + 1, 1, options=options)


def test_a_hit_is_a_view_of_the_mapped_entry_with_file_mmap(s3_prefix, tmp_path):
    cache = tmp_path / "cache"
    uri = _objects(s3_prefix, 1, size=1 << 20)[0]
    options = {"cache_dir": str(cache), "file_mmap": "true"}
    s3dlio.get(uri, options=options)
    view = s3dlio.get(uri, options=options)
    import numpy as np

    address = np.frombuffer(view, dtype=np.uint8).ctypes.data
    (entry,) = _entries(cache)
    maps = Path("/proc/self/maps").read_text().splitlines()
    mapped = [line for line in maps if line.endswith(str(entry))]
    assert mapped, "the entry is mapped"
    spans = [tuple(int(x, 16) for x in line.split()[0].split("-")) for line in mapped]
    assert any(lo <= address < hi for lo, hi in spans)
    assert bytes(view) == bytes([0]) * (1 << 20)
    # A mapped view keeps the entry in use (its read lock lives with the
    # mapping): not removed until the view is gone.
    assert _clear(cache) == 0 and len(_entries(cache)) == 1
    assert bytes(view) == bytes([0]) * (1 << 20)
    del view
    assert _clear(cache) == 1 and _entries(cache) == []


KILLED_WRITER = """
import sys, s3dlio
s3dlio.get_range(sys.argv[1], 0, 10, options={"cache_dir": sys.argv[2]})
"""


def test_a_writer_killed_midway_leaves_no_entry(s3_prefix, tmp_path):
    cache = tmp_path / "cache"
    uri = f"{s3_prefix}/large.bin"
    data = os.urandom(96 * 1024 * 1024)
    s3dlio.put(uri, data)
    child = subprocess.Popen([sys.executable, "-c", KILLED_WRITER, uri, str(cache)])
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            temporaries = list((cache / "objects").glob("*/*.part"))
            if any(t.stat().st_size > 0 for t in temporaries if t.exists()):
                break
            assert child.poll() is None, "the child finished before it was killed"
            time.sleep(0.002)
        else:
            pytest.fail("no .part file appeared")
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.wait(timeout=30)
    assert child.returncode == -signal.SIGKILL
    assert _entries(cache) == [], "no entry from a killed writer"
    (abandoned,) = (cache / "objects").glob("*/*.part")
    assert abandoned.stat().st_size < len(data)
    # A scan of the cache (stats) removes the .part nobody holds.
    assert s3dlio_cache_stats(cache)["objects"] == 0
    assert list((cache / "objects").glob("*/*.part")) == []
    # The next reader fetches it whole and right.
    options = {"cache_dir": str(cache)}
    s3dlio.metrics(reset=True)
    assert bytes(s3dlio.get_range(uri, 5, 100, options=options)) == data[5:105]
    assert s3dlio.metrics(reset=True)["cache"]["misses"] == 1
    assert len(_entries(cache)) == 1
    assert list((cache / "objects").glob("*/*.part")) == []


@pytest.mark.parametrize("cloud", ["az", "gs"])
def test_azure_and_gcs_objects_are_cached_too(cloud, request, tmp_path, seed):
    prefix = request.getfixturevalue(f"{cloud}_prefix")
    uris = [f"{prefix}/c{i}.bin" for i in range(3)]
    for i, uri in enumerate(uris):
        seed(uri, bytes([i]) * 70_000)
    options = {"cache_dir": str(tmp_path / "cache")}
    first = [bytes(v) for _, v in s3dlio.get_many(uris, options=options)]
    s3dlio.metrics(reset=True)
    again = [bytes(v) for _, v in s3dlio.get_many(uris, options=options)]
    m = s3dlio.metrics(reset=True)
    assert again == first == [bytes([i]) * 70_000 for i in range(3)]
    assert "get" not in m, m.get("get")
    assert m["cache"]["hits"] == 3 and m["head"][cloud]["requests"] == 3
    # Replaced upstream: fetched again.
    seed(uris[0], b"z" * 70_000)
    assert bytes(s3dlio.get(uris[0], options=options)) == b"z" * 70_000
    assert s3dlio.metrics(reset=True)["cache"]["stale"] == 1
