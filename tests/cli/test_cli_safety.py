"""The command line refuses what would lose or hide data, and cleans up
after itself: colliding download destinations, termination signals and
killed runs, `rm -r` and `ls` of one object, and uploads of directories
holding symlinks, FIFOs and names that are not UTF-8."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from datetime import UTC
from pathlib import Path

import pytest
from fault_proxy import FaultProxy, stall
from test_cli import DATA, EXE, run

import s3dlio

TMP_PREFIX = ".s3dlio-tmp."


def _temporaries(directory: Path) -> list[Path]:
    return [p for p in directory.iterdir() if p.name.startswith(TMP_PREFIX)]


# --- download: destinations that collide ---------------------------------------------


def test_download_refuses_two_sources_with_one_destination(s3_prefix, tmp_path):
    first, second = f"{s3_prefix}/c1/x.bin", f"{s3_prefix}/c2/x.bin"
    s3dlio.put(first, b"one")
    s3dlio.put(second, b"two")
    dest = tmp_path / "dest"
    out = run("download", first, second, str(dest), cwd=tmp_path)
    assert out.returncode == 1, out.stderr
    lines = out.stderr.decode().strip().splitlines()
    assert len(lines) == 1, lines
    assert first in lines[0] and second in lines[0] and str(dest / "x.bin") in lines[0]
    assert not dest.exists() or list(dest.iterdir()) == [], "nothing was transferred"


def test_download_refuses_an_object_where_another_needs_a_directory(s3_prefix, tmp_path):
    s3dlio.put(f"{s3_prefix}/a/x", b"file")
    s3dlio.put(f"{s3_prefix}/b/x/y", b"below")
    dest = tmp_path / "dest"
    out = run("download", f"{s3_prefix}/a/x", f"{s3_prefix}/b", str(dest), cwd=tmp_path)
    assert out.returncode == 1, out.stderr
    err = out.stderr.decode()
    assert f"{s3_prefix}/a/x" in err and f"{s3_prefix}/b/x/y" in err, err
    assert not dest.exists() or list(dest.iterdir()) == []


def test_download_of_the_same_source_twice_is_one_transfer(s3_prefix, tmp_path):
    uri = f"{s3_prefix}/x.bin"
    s3dlio.put(uri, DATA)
    out = run("download", uri, uri, str(tmp_path / "dest"), cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "dest" / "x.bin").read_bytes() == DATA


# --- download: SIGTERM and SIGKILL ------------------------------------------------------


def _stalled_download(s3_bucket: str, moto_server: str, proxy: FaultProxy, dest: Path):
    """A download whose only GET is held back by the proxy, started and
    waited for until its temporary file exists."""
    key = "held.bin"
    s3dlio.put(f"s3://{s3_bucket}/{key}", DATA)
    proxy.inject([stall(60.0)], method="GET", path=f"/{s3_bucket}/{key}")
    proc = subprocess.Popen(
        [EXE, "download", f"s3://{s3_bucket}/{key}", str(dest)],
        env={**os.environ, "AWS_ENDPOINT_URL": proxy.url},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 30
    while not (dest.exists() and _temporaries(dest)):
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
        assert time.monotonic() < deadline, "the download never started writing"
        time.sleep(0.01)
    return proc, key


@pytest.mark.timeout(120)
def test_sigterm_during_download_removes_its_temporary_file(s3_bucket, moto_server, tmp_path):
    dest = tmp_path / "dl"
    with FaultProxy(moto_server) as proxy:
        proc, key = _stalled_download(s3_bucket, moto_server, proxy, dest)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 128 + signal.SIGTERM, err
    assert b"terminated" in err, err
    assert _temporaries(dest) == []
    assert not (dest / key).exists()


@pytest.mark.timeout(120)
def test_next_download_removes_what_a_killed_one_left(s3_bucket, moto_server, tmp_path):
    dest = tmp_path / "dl"
    with FaultProxy(moto_server) as proxy:
        proc, key = _stalled_download(s3_bucket, moto_server, proxy, dest)
        proc.kill()
        proc.communicate(timeout=30)
    left = _temporaries(dest)
    assert len(left) == 1, "SIGKILL cannot be handled: the temporary file stays"
    assert re.search(rf"\.{proc.pid}\.\d+$", left[0].name), left[0].name
    # Another live process's temporary file is never touched.
    live = dest / f"{TMP_PREFIX}other.bin.{os.getpid()}.0"
    live.write_bytes(b"in flight")
    out = run("download", f"s3://{s3_bucket}/{key}", str(dest), cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert (dest / key).read_bytes() == DATA
    assert _temporaries(dest) == [live]


# --- rm -r and ls of one object ----------------------------------------------------------


def test_rm_recursive_of_an_object_deletes_it(prefix, tmp_path):
    uri = f"{prefix}/one.bin"
    s3dlio.put(uri, DATA)
    s3dlio.put(f"{prefix}/one.bin.keep", DATA)
    out = run("rm", "-r", uri, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert not s3dlio.exists(uri)
    assert s3dlio.exists(f"{prefix}/one.bin.keep"), "only that object"


def test_rm_recursive_of_nothing_is_not_found(prefix, tmp_path):
    uri = f"{prefix}/nothing"
    out = run("rm", "-r", uri, cwd=tmp_path)
    assert out.returncode == 1
    assert f"not found: {uri}" in out.stderr.decode(), out.stderr


def test_ls_of_one_object_prints_it(prefix, tmp_path):
    uri = f"{prefix}/one.bin"
    s3dlio.put(uri, DATA)
    out = run("ls", uri, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stdout.decode().split() == [uri]
    long = run("ls", "--long", uri, cwd=tmp_path).stdout.decode().split()
    assert long[0] == str(len(DATA)) and long[-1] == uri


@pytest.mark.parametrize("tail", ["", "/"])
def test_ls_of_an_empty_prefix_prints_nothing(prefix, tmp_path, tail):
    out = run("ls", f"{prefix}/nothing-here{tail}", cwd=tmp_path)
    assert (out.returncode, out.stdout) == (0, b""), out.stderr


def test_ls_long_shows_utc_times(prefix, tmp_path):
    s3dlio.put(f"{prefix}/d/one.bin", DATA)
    line = run("ls", "--long", f"{prefix}/d", cwd=tmp_path).stdout.decode().split()
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", line[1]), line
    modified = s3dlio.stat(f"{prefix}/d/one.bin").last_modified
    assert modified is not None
    assert line[1] == modified.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# --- upload of a directory -----------------------------------------------------------------


def _upload(src: Path, dest: str, *flags: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [EXE, "upload", *flags, str(src), dest],
        capture_output=True,
        timeout=60,
        check=False,
    )


@pytest.fixture
def tree_with_links(tmp_path) -> Path:
    """src/{a.bin, sub/b.bin, self -> ., again -> ., sub/up -> .., link.bin -> a.bin,
    dangling -> missing}."""
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    (src / "a.bin").write_bytes(b"a")
    (src / "sub" / "b.bin").write_bytes(b"b")
    (src / "self").symlink_to(".")
    (src / "again").symlink_to(".")
    (src / "sub" / "up").symlink_to("..")
    (src / "link.bin").symlink_to("a.bin")
    (src / "dangling").symlink_to("missing")
    return src


@pytest.mark.timeout(120)
def test_upload_does_not_follow_directory_symlinks(tree_with_links, s3_prefix):
    out = _upload(tree_with_links, s3_prefix)
    assert out.returncode == 0, out.stderr
    assert s3dlio.list(s3_prefix, recursive=True) == [
        f"{s3_prefix}/{k}" for k in ("a.bin", "link.bin", "sub/b.bin")
    ]
    assert bytes(s3dlio.get(f"{s3_prefix}/link.bin")) == b"a"
    err = out.stderr.decode()
    for name in ("self", "again", "sub/up", "dangling"):
        assert f"{tree_with_links / name}" in err, err
    assert "warning" in err


@pytest.mark.timeout(120)
def test_upload_follows_directory_symlinks_with_loop_detection(
    tree_with_links, tmp_path, s3_prefix
):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "o.bin").write_bytes(b"o")
    (tree_with_links / "out").symlink_to(outside)
    out = _upload(tree_with_links, s3_prefix, "--follow-symlinks")
    assert out.returncode == 0, out.stderr
    assert s3dlio.list(s3_prefix, recursive=True) == [
        f"{s3_prefix}/{k}" for k in ("a.bin", "link.bin", "out/o.bin", "sub/b.bin")
    ]
    err = out.stderr.decode()
    assert f"{tree_with_links / 'self'}" in err and "loop" in err, err


@pytest.mark.timeout(120)
def test_upload_skips_a_fifo_naming_it(tmp_path, s3_prefix):
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.bin").write_bytes(b"a")
    os.mkfifo(src / "pipe")
    out = _upload(src, s3_prefix)
    assert out.returncode == 0, out.stderr
    assert s3dlio.list(s3_prefix, recursive=True) == [f"{s3_prefix}/a.bin"]
    assert f"{src / 'pipe'}" in out.stderr.decode()


@pytest.mark.timeout(120)
def test_upload_refuses_a_name_that_is_not_utf8(tmp_path, s3_prefix):
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.bin").write_bytes(b"a")
    bad = os.path.join(os.fsencode(src), b"caf\xe9.bin")
    with open(bad, "wb") as f:
        f.write(b"latin-1")
    out = _upload(src, s3_prefix)
    assert out.returncode == 1
    err = out.stderr.decode(errors="replace")
    assert "caf\\xE9.bin" in err and "UTF-8" in err, err
    assert s3dlio.list(s3_prefix, recursive=True) == [], "refused before any transfer"


def test_upload_of_a_missing_path_names_it(tmp_path, s3_prefix):
    out = _upload(tmp_path / "missing", s3_prefix)
    assert out.returncode == 1
    assert str(tmp_path / "missing") in out.stderr.decode()


def test_upload_refuses_two_files_with_one_key(tmp_path, s3_prefix):
    for d in ("one", "two"):
        (tmp_path / d).mkdir()
        (tmp_path / d / "x.bin").write_bytes(d.encode())
    files = [str(tmp_path / d / "x.bin") for d in ("one", "two")]
    out = subprocess.run(
        [EXE, "upload", *files, s3_prefix], capture_output=True, timeout=60, check=False
    )
    assert out.returncode == 1
    err = out.stderr.decode()
    assert "one/x.bin" in err and "two/x.bin" in err and f"{s3_prefix}/x.bin" in err, err
    assert s3dlio.list(s3_prefix, recursive=True) == []
