"""The operation log: one line per request in the 13-column TSV, parsed back
(header, columns, order, times), zstd-compressed for a `.zst` name, a full
queue dropping lines and saying how many, and forked and spawned workers
each writing their own `<path>.<pid>`.
"""

from __future__ import annotations

import datetime as dt
import multiprocessing
import os
import re
import shutil
import subprocess
import sys
import threading
import warnings
from pathlib import Path

import pytest

import s3dlio

# JAX, when another test imported it into this process, warns at every
# fork that *JAX* is not fork-safe; that says nothing about s3dlio.
pytestmark = pytest.mark.filterwarnings(
    "ignore:os.fork\\(\\) was called.*JAX is multithreaded:RuntimeWarning"
)

HEADER = (
    "idx\tthread\top\tclient_id\tn_objects\tbytes\tendpoint\tfile\terror"
    "\tstart\tfirst_byte\tend\tduration_ns"
)
TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$")
JOIN_TIMEOUT_S = 60


@pytest.fixture(autouse=True)
def _no_log_left_running():
    yield
    s3dlio.stop_oplog()


def _ns(stamp: str) -> int:
    """An RFC 3339 time with nanoseconds as ns since the epoch."""
    assert TIME.match(stamp), stamp
    whole = dt.datetime.strptime(stamp[:19], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=dt.UTC)
    return int(whole.timestamp()) * 10**9 + int(stamp[20:29])


def _read(path: Path) -> str:
    if path.suffix == ".zst":
        zstd = shutil.which("zstd")
        assert zstd, "the zstd command decodes .zst logs in this test"
        return subprocess.run(
            [zstd, "-dc", str(path)], check=True, capture_output=True
        ).stdout.decode()
    return path.read_text()


def _rows(path: Path) -> list[dict[str, str]]:
    lines = _read(path).split("\n")
    assert lines[0] == HEADER and lines[-1] == ""
    names = HEADER.split("\t")
    rows = []
    for i, line in enumerate(lines[1:-1]):
        fields = line.split("\t")
        assert len(fields) == 13, line
        row = dict(zip(names, fields, strict=True))
        assert row["idx"] == str(i)
        start, end = _ns(row["start"]), _ns(row["end"])
        assert int(row["duration_ns"]) == end - start >= 0
        if row["first_byte"]:
            assert start <= _ns(row["first_byte"]) <= end
        rows.append(row)
    return rows


def _log_dir(tmp_path: Path) -> Path:
    """A folder for logs apart from the objects (`file_prefix` is `tmp_path`)."""
    logs = tmp_path / "logs"
    logs.mkdir()
    return logs


def test_the_log_is_parsed_back_in_order(tmp_path, file_prefix):
    log = _log_dir(tmp_path) / "ops.tsv"
    data = f"{file_prefix}/data"
    uri = f"{data}/a.bin"
    s3dlio.start_oplog(str(log))
    s3dlio.put(uri, b"q" * 1234)
    s3dlio.get(uri)
    s3dlio.get_range(uri, 4, 10)
    s3dlio.stat(uri)
    s3dlio.list(data + "/")
    with pytest.raises(FileNotFoundError):
        s3dlio.get(f"{data}/missing")
    s3dlio.delete(uri)
    s3dlio.stop_oplog()
    rows = _rows(log)
    seen = [(r["op"], r["n_objects"], r["bytes"], r["file"]) for r in rows]
    assert seen == [
        ("PUT", "1", "1234", uri),
        ("GET", "1", "1234", uri),
        ("GET_RANGE", "1", "10", uri),
        ("HEAD", "1", "0", uri),
        ("LIST", "1", "0", data + "/"),
        ("GET", "1", "0", f"{data}/missing"),
        ("DELETE", "1", "0", uri),
    ]
    assert {r["client_id"] for r in rows} == {f"s3dlio-{os.getpid()}"}
    assert {r["endpoint"] for r in rows} == {"file://"}
    assert all(r["thread"].isdigit() for r in rows)
    assert [r["error"] != "" for r in rows] == [False] * 5 + [True, False]
    assert "missing" in rows[5]["error"]
    assert all(r["first_byte"] == "" for r in rows)
    starts = [_ns(r["start"]) for r in rows]
    assert starts == sorted(starts)
    info = s3dlio.metrics()["oplog"]
    assert (info["path"], info["lines"], info["dropped"], info["active"]) == (
        str(log),
        7,
        0,
        False,
    )


def test_a_log_that_cannot_be_created_is_an_error_naming_it(tmp_path):
    path = tmp_path / "no-such-folder" / "ops.tsv"
    with pytest.raises(s3dlio.S3dlioError) as excinfo:
        s3dlio.start_oplog(str(path))
    assert str(path) in str(excinfo.value)
    assert s3dlio.metrics()["oplog"]["active"] is False


def test_a_zst_log_is_compressed_and_names_the_endpoint(tmp_path, s3_prefix, moto_server):
    log = tmp_path / "ops.tsv.zst"
    uris = [f"{s3_prefix}/z{i}.bin" for i in range(3)]
    s3dlio.start_oplog(str(log))
    for uri in uris:
        s3dlio.put(uri, b"z" * 5000)
    assert len(s3dlio.get_many(uris)) == 3
    s3dlio.stop_oplog()
    assert log.read_bytes()[:4] == b"\x28\xb5\x2f\xfd"  # the zstd frame magic
    rows = _rows(log)
    assert [r["op"] for r in rows] == ["PUT"] * 3 + ["GET"] * 3
    assert sorted(r["file"] for r in rows[3:]) == uris
    assert {r["endpoint"] for r in rows} == {moto_server.rstrip("/")}
    assert all(r["first_byte"] for r in rows)
    assert all(r["bytes"] == "5000" for r in rows)


def test_a_full_queue_drops_lines_and_counts_them(tmp_path, file_prefix, monkeypatch):
    """The log is a pipe nobody reads yet: the writer blocks once the pipe
    and its buffer are full, the queue (4 lines) fills, and every later line
    is dropped, not waited for."""
    monkeypatch.setenv("S3DLIO_OPLOG_QUEUE", "4")
    fifo = tmp_path / "ops.fifo"
    os.mkfifo(fifo)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    uri = f"{file_prefix}/d.bin"
    s3dlio.put(uri, b"d")
    requests = 6000
    s3dlio.start_oplog(str(fifo))
    for _ in range(requests):
        s3dlio.get(uri)
    dropped = s3dlio.metrics()["oplog"]["dropped"]
    assert dropped > 0
    os.set_blocking(reader, True)
    chunks: list[bytes] = []

    def drain() -> None:
        while chunk := os.read(reader, 1 << 16):
            chunks.append(chunk)

    thread = threading.Thread(target=drain)
    thread.start()
    s3dlio.stop_oplog()
    thread.join(timeout=JOIN_TIMEOUT_S)
    os.close(reader)
    assert not thread.is_alive()
    text = b"".join(chunks).decode()
    written = text.count("\n") - 1
    info = s3dlio.metrics()["oplog"]
    assert info["dropped"] == dropped
    assert written == info["lines"] == requests - dropped


def _get_in_worker(uri: str) -> None:
    """A worker's work: two requests, then return (the worker ends with
    `os._exit`, so the log must be finished without `atexit`)."""
    s3dlio.get(uri)
    s3dlio.stat(uri)


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_workers_write_their_own_logs(tmp_path, file_prefix, method):
    log = _log_dir(tmp_path) / "ops.tsv"
    uri = f"{file_prefix}/w.bin"
    s3dlio.put(uri, b"w" * 77)
    s3dlio.start_oplog(str(log))
    s3dlio.get(uri)
    ctx = multiprocessing.get_context(method)
    proc = ctx.Process(target=_get_in_worker, args=(uri,), daemon=True)
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", message=r".*multi-threaded.*fork.*", category=DeprecationWarning
        )
        proc.start()
    proc.join(timeout=JOIN_TIMEOUT_S)
    if proc.is_alive():
        proc.kill()
        pytest.fail(f"{method} worker did not finish")
    assert proc.exitcode == 0
    s3dlio.stop_oplog()
    mine = _rows(log)
    assert [(r["op"], r["client_id"]) for r in mine] == [("GET", f"s3dlio-{os.getpid()}")]
    theirs = _rows(Path(f"{log}.{proc.pid}"))
    assert [(r["op"], r["bytes"], r["client_id"]) for r in theirs] == [
        ("GET", "77", f"s3dlio-{proc.pid}"),
        ("HEAD", "0", f"s3dlio-{proc.pid}"),
    ]
    assert sorted(p.name for p in log.parent.iterdir()) == sorted(
        [log.name, f"{log.name}.{proc.pid}"]
    )


SCRIPT = """
import multiprocessing, os, sys
import s3dlio

def work(uri):
    s3dlio.get(uri)

if __name__ == "__main__":
    s3dlio.get(sys.argv[1])
    child = multiprocessing.get_context("spawn").Process(target=work, args=(sys.argv[1],))
    child.start()
    child.join(60)
    print(child.pid, child.exitcode)
"""


def test_the_environment_starts_the_log_for_a_process_and_its_children(tmp_path, file_prefix):
    """`S3DLIO_OPLOG` set before start: the process reading it first writes
    the file itself (finished at its normal exit), a spawned child, which
    inherits the variable, writes `<path>.<pid>`."""
    log = _log_dir(tmp_path) / "env.tsv.zst"
    uri = f"{file_prefix}/e.bin"
    s3dlio.put(uri, b"e" * 5)
    script = tmp_path / "run.py"
    script.write_text(SCRIPT)
    env = {**os.environ, "S3DLIO_OPLOG": str(log)}
    env.pop("S3DLIO_OPLOG_OWNER", None)
    done = subprocess.run(
        [sys.executable, str(script), uri],
        env=env,
        capture_output=True,
        text=True,
        timeout=JOIN_TIMEOUT_S,
        check=True,
    )
    child_pid, exitcode = done.stdout.split()
    assert exitcode == "0"
    parent, child = _rows(log), _rows(Path(f"{log}.{child_pid}"))
    assert [(r["op"], r["bytes"], r["file"]) for r in parent] == [("GET", "5", uri)]
    assert [(r["op"], r["client_id"]) for r in child] == [("GET", f"s3dlio-{child_pid}")]
    assert parent[0]["client_id"] != child[0]["client_id"]


def test_dataloader_workers_write_their_own_logs(tmp_path, file_prefix):
    torch = pytest.importorskip("torch", reason="torch is an optional framework")
    from s3dlio_torch import S3MapDataset

    log = _log_dir(tmp_path) / "ops.tsv"
    uris = [f"{file_prefix}/t{i}.bin" for i in range(8)]
    for uri in uris:
        s3dlio.put(uri, b"t" * 16)
    s3dlio.start_oplog(str(log))
    loader = torch.utils.data.DataLoader(
        S3MapDataset(uris),
        batch_size=2,
        num_workers=2,
        multiprocessing_context="fork",
        collate_fn=list,
    )
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", message=r".*multi-threaded.*fork.*", category=DeprecationWarning
        )
        assert sum(len(batch) for batch in loader) == len(uris)
    s3dlio.stop_oplog()
    assert _rows(log) == []  # the parent fetched nothing itself
    workers = sorted(log.parent.glob(f"{log.name}.*"))
    assert len(workers) == 2
    fetched = []
    for path in workers:
        rows = _rows(path)
        pid = path.name.rsplit(".", 1)[1]
        assert rows and {r["client_id"] for r in rows} == {f"s3dlio-{pid}"}
        fetched += [r["file"] for r in rows if r["op"] == "GET"]
    assert sorted(fetched) == sorted(uris)
