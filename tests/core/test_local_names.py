"""Local files (file://, direct://) at the edges of what a name or a file can
be: names up to NAME_MAX, files that are not regular (a FIFO, a device),
and directories whose symlinks loop."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from test_cli import EXE

import s3dlio

NAME_MAX = 255


@pytest.mark.parametrize("length", [200, 237, 250, NAME_MAX])
def test_put_and_get_names_up_to_name_max(tmp_path, length):
    name = "n" * (length - 4) + ".bin"
    uri = f"file://{tmp_path}/{name}"
    s3dlio.put(uri, b"long")
    assert bytes(s3dlio.get(uri)) == b"long"
    assert os.listdir(tmp_path) == [name], "no temporary file left"


def test_put_of_a_long_name_with_multibyte_characters(tmp_path):
    name = "é" * 127  # 254 bytes
    uri = f"file://{tmp_path}/{name}"
    s3dlio.put(uri, b"accent")
    assert bytes(s3dlio.get(uri)) == b"accent"


def test_cli_download_of_a_long_name(s3_prefix, tmp_path):
    name = "k" * NAME_MAX
    s3dlio.put(f"{s3_prefix}/{name}", b"long key")
    out = subprocess.run(
        [EXE, "download", f"{s3_prefix}/{name}", str(tmp_path / "dl")],
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "dl" / name).read_bytes() == b"long key"


# A child that reads one URI and reports how it ended; on today's code a
# FIFO with no writer blocks it in open() for ever, so the parent's timeout
# is what fails the test.
_READ = """
import sys, s3dlio
try:
    s3dlio.get(sys.argv[1])
except s3dlio.S3dlioError as e:
    print(type(e).__name__, e)
    sys.exit(3)
print("read")
"""


def _read_in_child(uri: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", _READ, uri],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=20,
        check=False,
    )


@pytest.mark.timeout(60)
@pytest.mark.parametrize("scheme", ["file", "direct"])
def test_get_of_a_fifo_is_refused_at_once(tmp_path, scheme):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    uri = f"{scheme}://{fifo}"
    out = _read_in_child(uri, tmp_path)
    assert out.returncode == 3, out.stderr
    assert uri in out.stdout and "not a regular file" in out.stdout, out.stdout
    with pytest.raises(s3dlio.ObjectNotFoundError, match="not a regular file"):
        s3dlio.stat(uri)
    assert not s3dlio.exists(uri)


@pytest.mark.timeout(60)
def test_cli_get_of_a_fifo_is_refused(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    out = subprocess.run(
        [EXE, "get", f"file://{fifo}"], capture_output=True, timeout=20, check=False
    )
    assert out.returncode == 1
    assert f"file://{fifo}" in out.stderr.decode()


def test_a_device_is_not_an_object():
    with pytest.raises(s3dlio.ObjectNotFoundError, match="not a regular file"):
        s3dlio.get("file:///dev/zero")


def test_list_skips_fifos_and_symlink_loops(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "a.bin").write_bytes(b"a")
    (tmp_path / "sub" / "b.bin").write_bytes(b"b")
    os.mkfifo(tmp_path / "pipe")
    (tmp_path / "self").symlink_to(".")
    (tmp_path / "again").symlink_to(".")
    (tmp_path / "sub" / "up").symlink_to("..")
    (tmp_path / "loop").symlink_to("loop")
    (tmp_path / "dangling").symlink_to("missing")
    base = f"file://{tmp_path}"
    assert s3dlio.list(base) == [f"{base}/a.bin", f"{base}/sub/b.bin"]
    assert s3dlio.list(base, recursive=False) == [f"{base}/a.bin"]


def test_list_follows_a_symlinked_directory_outside(tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "real").mkdir()
    (tmp_path / "real" / "x.bin").write_bytes(b"x")
    (tmp_path / "data" / "linked").symlink_to(tmp_path / "real")
    base = f"file://{tmp_path}/data"
    assert s3dlio.list(base, recursive=True) == [f"{base}/linked/x.bin"]
