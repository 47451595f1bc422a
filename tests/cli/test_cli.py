"""The installed `s3dlio` command against file:// and s3:// (moto)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from terminal import run_on_terminal

import s3dlio

EXE = shutil.which("s3dlio", path=str(Path(sys.executable).parent)) or "s3dlio"
DATA = bytes(range(256)) * 4  # 1 KiB, every byte value


def run(*args: str, cwd: Path, input: bytes | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [EXE, *args], cwd=cwd, capture_output=True, input=input, timeout=120, check=False
    )


@pytest.fixture
def tree(prefix):
    """Objects a, dir/b, dir/sub/c under the prefix."""
    objects = {"a.bin": DATA, "dir/b.bin": b"bee", "dir/sub/c.bin": b"sea" * 100}
    s3dlio.put_many([(f"{prefix}/{k}", v) for k, v in objects.items()])
    return prefix, objects


def test_version_and_help(tmp_path):
    out = run("--version", cwd=tmp_path)
    assert out.returncode == 0 and out.stdout.decode().startswith("s3dlio ")
    out = run("--help", cwd=tmp_path)
    assert out.returncode == 0 and b"Examples:" in out.stdout and b"download" in out.stdout


def test_ls_plain_recursive_long_and_json(tree, tmp_path):
    prefix, objects = tree
    top = run("ls", prefix, cwd=tmp_path)
    assert top.returncode == 0
    assert top.stdout.decode().split() == [f"{prefix}/a.bin"]
    everything = run("ls", prefix, "-r", cwd=tmp_path).stdout.decode().split()
    assert everything == sorted(f"{prefix}/{k}" for k in objects)
    long = run("ls", prefix, "-r", "--long", cwd=tmp_path).stdout.decode().splitlines()
    assert len(long) == 3 and long[0].split()[0] == str(len(DATA))
    listed = json.loads(run("--json", "ls", prefix, "-r", cwd=tmp_path).stdout)
    assert [(e["uri"], e["size"]) for e in listed] == [
        (f"{prefix}/{k}", len(v)) for k, v in sorted(objects.items())
    ]


def test_stat_json(tree, tmp_path):
    prefix, _ = tree
    meta = json.loads(run("stat", f"{prefix}/a.bin", "--json", cwd=tmp_path).stdout)
    assert meta["uri"] == f"{prefix}/a.bin" and meta["size"] == len(DATA)


def test_get_is_binary_safe_and_ranges_are_exact(tree, tmp_path):
    prefix, _ = tree
    uri = f"{prefix}/a.bin"
    assert run("get", uri, cwd=tmp_path).stdout == DATA
    part = run("get", uri, "--offset", "10", "--length", "100", cwd=tmp_path)
    assert part.returncode == 0 and part.stdout == DATA[10:110]
    # Past the end: a range is cut at the end; an offset beyond it is an error.
    tail = run("get", uri, "--offset", "1000", "--length", "100", cwd=tmp_path)
    assert tail.stdout == DATA[1000:]
    assert run("get", uri, "--offset", str(len(DATA)), cwd=tmp_path).stdout == b""
    beyond = run("get", uri, "--offset", "5000", cwd=tmp_path)
    assert beyond.returncode == 1 and uri in beyond.stderr.decode()
    assert run("get", uri, "-o", "out.bin", cwd=tmp_path).returncode == 0
    assert (tmp_path / "out.bin").read_bytes() == DATA


def test_errors_are_one_line_with_exit_codes(tree, tmp_path):
    prefix, _ = tree
    missing = run("get", f"{prefix}/missing.bin", cwd=tmp_path)
    assert missing.returncode == 1
    lines = missing.stderr.decode().strip().splitlines()
    assert len(lines) == 1 and f"{prefix}/missing.bin" in lines[0]
    assert run("get", cwd=tmp_path).returncode == 2
    assert run("frobnicate", cwd=tmp_path).returncode == 2
    assert run("ls", "ftp://nowhere/x", cwd=tmp_path).returncode == 1


def test_download_prefix_keeps_layout(tree, tmp_path):
    prefix, objects = tree
    out = run("download", prefix, str(tmp_path / "dl"), "-j", "4", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stderr == b"", "no progress bar when stderr is not a terminal"
    for key, value in objects.items():
        assert (tmp_path / "dl" / key).read_bytes() == value
    single = run("download", f"{prefix}/dir/b.bin", str(tmp_path / "one"), cwd=tmp_path)
    assert single.returncode == 0 and (tmp_path / "one" / "b.bin").read_bytes() == b"bee"
    ranged = run(
        "download",
        f"{prefix}/a.bin",
        str(tmp_path / "r"),
        "--offset",
        "4",
        "--length",
        "6",
        cwd=tmp_path,
    )
    assert ranged.returncode == 0 and (tmp_path / "r" / "a.bin").read_bytes() == DATA[4:10]


def test_failed_download_leaves_no_partial_file(tree, tmp_path):
    prefix, _ = tree
    dest = tmp_path / "dl"
    out = run("download", f"{prefix}/missing.bin", str(dest), cwd=tmp_path)
    assert out.returncode == 1 and "missing.bin" in out.stderr.decode()
    assert not (dest / "missing.bin").exists()
    leftovers = list(dest.rglob("*")) if dest.exists() else []
    assert [p for p in leftovers if p.is_file()] == []


def test_upload_cp_and_rm(prefix, tmp_path):
    src = tmp_path / "src"
    (src / "nested").mkdir(parents=True)
    (src / "x.txt").write_bytes(b"ex")
    (src / "nested" / "y.txt").write_bytes(b"why")
    assert run("upload", str(src), f"{prefix}/up/", cwd=tmp_path).returncode == 0
    assert s3dlio.list(f"{prefix}/up") == [f"{prefix}/up/nested/y.txt", f"{prefix}/up/x.txt"]
    assert run("upload", str(src / "x.txt"), f"{prefix}/single", cwd=tmp_path).returncode == 0
    assert bytes(s3dlio.get(f"{prefix}/single/x.txt")) == b"ex"

    copy_dst = f"file://{tmp_path}/copied.txt"
    assert run("cp", f"{prefix}/up/nested/y.txt", copy_dst, cwd=tmp_path).returncode == 0
    assert (tmp_path / "copied.txt").read_bytes() == b"why"
    assert run("cp", copy_dst, f"{prefix}/back.txt", cwd=tmp_path).returncode == 0
    assert bytes(s3dlio.get(f"{prefix}/back.txt")) == b"why"

    assert run("rm", f"{prefix}/back.txt", cwd=tmp_path).returncode == 0
    assert not s3dlio.exists(f"{prefix}/back.txt")
    # stdin is not a terminal here, so a recursive delete does not ask.
    assert run("rm", f"{prefix}/up", "-r", cwd=tmp_path).returncode == 0
    assert s3dlio.list(f"{prefix}/up") == []
    assert run("rm", f"{prefix}/back.txt", cwd=tmp_path).returncode == 1


@pytest.mark.timeout(120)
def test_progress_bar_on_a_terminal_only(file_prefix, tmp_path):
    s3dlio.put_many([(f"{file_prefix}/big/{i:03d}", os.urandom(1 << 20)) for i in range(200)])
    status, output = run_on_terminal(
        [EXE, "download", f"{file_prefix}/big", str(tmp_path / "dl"), "-j", "2"], tmp_path
    )
    assert status == 0
    assert b"objects" in output and b"/200 objects" in output, output[-500:]
    piped = run("download", f"{file_prefix}/big", str(tmp_path / "dl2"), cwd=tmp_path)
    assert piped.returncode == 0 and piped.stderr == b""
    quiet_status, quiet = run_on_terminal(
        [EXE, "download", "-q", f"{file_prefix}/big", str(tmp_path / "dl3")], tmp_path
    )
    assert quiet_status == 0 and b"objects" not in quiet


@pytest.mark.timeout(120)
def test_ctrl_c_stops_cleanly_without_partial_files(file_prefix, tmp_path):
    sizes = 4 << 20
    s3dlio.put_many([(f"{file_prefix}/many/{i:03d}", os.urandom(sizes)) for i in range(300)])
    dest = tmp_path / "dl"
    proc = subprocess.Popen(
        [EXE, "download", f"{file_prefix}/many", str(dest), "-j", "1"],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 30
    while not (dest.exists() and any(dest.iterdir())) and time.monotonic() < deadline:
        time.sleep(0.01)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert b"interrupted" in err
    finished = [p for p in dest.iterdir() if not p.name.startswith(".")]
    assert len(finished) < 300, "stopped before the end"
    assert all(p.stat().st_size == sizes for p in finished), "no partial file under a final name"


def test_malformed_process_variable_is_refused_naming_it(tmp_path):
    clean = {k: v for k, v in os.environ.items() if not k.startswith("S3DLIO_")}
    proc = subprocess.run(
        [EXE, "ls", f"file://{tmp_path}/"],
        env={**clean, "S3DLIO_POOL_BYTES": "lots"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode != 0
    assert 'S3DLIO_POOL_BYTES="lots"' in proc.stderr, proc.stderr
    # Set after the import, it is refused by the command itself (usage error).
    code = (
        "import os, sys, s3dlio\n"
        "os.environ['S3DLIO_POOL_IDLE_MS'] = 'soon'\n"
        f"sys.exit(s3dlio.cli_main(['s3dlio', 'ls', 'file://{tmp_path}/']))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code],
        env=clean,
        cwd=tmp_path,  # not the checkout, whose s3dlio/ has no extension
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.startswith(
        's3dlio: error: invalid argument: option S3DLIO_POOL_IDLE_MS="soon"'
    )
