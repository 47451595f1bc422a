"""direct://: O_DIRECT reads and writes bypass the page cache, return exact
bytes for unaligned sizes and ranges, and are refused (unless fallback is
asked for) where the filesystem does not support O_DIRECT.

Page cache residency is measured with mincore(2) over a fresh mapping of
the file: mapping does not read anything in, so it shows only what the
page cache already holds.
"""

from __future__ import annotations

import mmap
import os
import platform
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from page_cache import evict, resident_pages

import s3dlio

MiB = 1024 * 1024
PAGE = mmap.PAGESIZE


def _pattern(size: int, seed: int = 0) -> bytes:
    return np.random.default_rng(seed).integers(0, 256, size, dtype=np.uint8).tobytes()


# --- the page cache is bypassed ------------------------------------------------------


def test_direct_reads_bypass_the_page_cache(tmp_path):
    path = tmp_path.resolve() / "cold.bin"
    size = 8 * MiB + 123
    data = _pattern(size, seed=1)
    s3dlio.put(f"direct://{path}", data)
    evict(path)
    assert resident_pages(path) == 0

    assert bytes(s3dlio.get(f"direct://{path}")) == data
    assert bytes(s3dlio.get_range(f"direct://{path}", 4097, 10_000)) == data[4097:14_097]
    assert bytes(s3dlio.get_range(f"direct://{path}", size - 50)) == data[-50:]
    assert resident_pages(path) <= 1

    # The same check does see a buffered read.
    assert bytes(s3dlio.get(f"file://{path}")) == data
    assert resident_pages(path) > 0


# --- exact bytes for unaligned sizes and ranges ----------------------------------------


@pytest.mark.parametrize("size", [0, 1, 4095, 4096, 4097, MiB + 1])
def test_unaligned_sizes_round_trip(tmp_path, size):
    path = tmp_path.resolve() / f"obj-{size}.bin"
    uri = f"direct://{path}"
    data = _pattern(size, seed=size)
    s3dlio.put(uri, data)
    assert path.read_bytes() == data
    assert bytes(s3dlio.get(uri)) == data
    assert s3dlio.stat(uri).size == size

    for offset, length in [(0, 1), (1, 4095), (4095, 2), (4096, None), (size // 3, 5000)]:
        if offset > size:
            continue
        expected = data[offset:] if length is None else data[offset : offset + length]
        assert bytes(s3dlio.get_range(uri, offset, length)) == expected, (offset, length)


def test_file_written_by_python_reads_back(tmp_path):
    path = tmp_path.resolve() / "plain.bin"
    data = _pattern(3 * 4096 + 17, seed=2)
    path.write_bytes(data)
    assert bytes(s3dlio.get(f"direct://{path}")) == data


# --- filesystems that refuse O_DIRECT ------------------------------------------------------


def _tmpfs_dir() -> Path:
    with open("/proc/mounts") as mounts:
        for line in mounts:
            fields = line.split()
            if len(fields) >= 3 and fields[1] == "/dev/shm" and fields[2] == "tmpfs":
                return Path("/dev/shm")
    pytest.skip("/dev/shm is not a tmpfs mount here")


def _refuses_o_direct(directory: Path) -> bool:
    fd, name = tempfile.mkstemp(dir=directory, prefix="s3dlio-probe-")
    os.close(fd)
    try:
        os.close(os.open(name, os.O_RDONLY | os.O_DIRECT))
        return False
    except OSError:
        return True
    finally:
        os.unlink(name)


@pytest.fixture
def tmpfs_file() -> Iterator[Path]:
    """A fresh path (not yet created) on the tmpfs at /dev/shm; removed afterwards."""
    directory = Path(tempfile.mkdtemp(dir=_tmpfs_dir(), prefix="s3dlio-test-"))
    try:
        yield directory / "x.bin"
    finally:
        for child in directory.iterdir():
            child.unlink()
        directory.rmdir()


@pytest.fixture
def refusing_file(tmpfs_file, tmp_path) -> Iterator[Path]:
    """A fresh path on a filesystem that refuses O_DIRECT: the tmpfs where it
    still does (Linux < 6.6), else a ramfs mounted for the test (as root)."""
    if _refuses_o_direct(tmpfs_file.parent):
        yield tmpfs_file
        return
    mount_point = tmp_path / "ramfs"
    mount_point.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "ramfs", "s3dlio-test", str(mount_point)], capture_output=True
    )
    if mounted.returncode != 0:
        pytest.skip(
            f"tmpfs accepts O_DIRECT on Linux {platform.release()} and no ramfs can be "
            f"mounted here: {mounted.stderr.decode(errors='replace').strip()}"
        )
    try:
        assert _refuses_o_direct(mount_point)
        yield mount_point / "x.bin"
    finally:
        subprocess.run(["umount", str(mount_point)], check=True)


def _assert_o_direct_refusal(exc: BaseException, uri: str) -> None:
    assert isinstance(exc, s3dlio.S3dlioError)
    assert not isinstance(exc, FileNotFoundError)
    assert uri in str(exc)
    assert "O_DIRECT" in str(exc)


def test_get_is_refused_where_o_direct_is(refusing_file):
    refusing_file.write_bytes(b"no O_DIRECT here")
    uri = f"direct://{refusing_file}"
    with pytest.raises(s3dlio.S3dlioError) as excinfo:
        s3dlio.get(uri)
    _assert_o_direct_refusal(excinfo.value, uri)


def test_put_is_refused_where_o_direct_is(refusing_file):
    uri = f"direct://{refusing_file}"
    with pytest.raises(s3dlio.S3dlioError) as excinfo:
        s3dlio.put(uri, b"no O_DIRECT here")
    _assert_o_direct_refusal(excinfo.value, uri)
    assert list(refusing_file.parent.iterdir()) == [], "nothing half-written is left"


def test_fallback_where_o_direct_is_refused(refusing_file):
    """With S3DLIO_DIRECT_FALLBACK=true the same calls work, buffered."""
    options = {"S3DLIO_DIRECT_FALLBACK": "true"}
    uri = f"direct://{refusing_file}"
    data = _pattern(10_000, seed=5)
    s3dlio.put(uri, data, options=options)
    assert refusing_file.read_bytes() == data
    assert bytes(s3dlio.get(uri, options=options)) == data
    assert bytes(s3dlio.get_range(uri, 4097, 100, options=options)) == data[4097:4197]


def test_get_on_procfs_is_refused():
    """procfs refuses O_DIRECT on every kernel: the refusal is an error that
    says so, not a not-found."""
    uri = "direct:///proc/version"
    with pytest.raises(s3dlio.S3dlioError) as excinfo:
        s3dlio.get(uri)
    _assert_o_direct_refusal(excinfo.value, uri)


def test_fallback_on_tmpfs(tmpfs_file):
    """With S3DLIO_DIRECT_FALLBACK=true, tmpfs works (buffered where refused)."""
    options = {"S3DLIO_DIRECT_FALLBACK": "true"}
    uri = f"direct://{tmpfs_file}"
    data = _pattern(10_000, seed=3)
    s3dlio.put(uri, data, options=options)
    assert tmpfs_file.read_bytes() == data
    assert bytes(s3dlio.get(uri, options=options)) == data
    assert bytes(s3dlio.get_range(uri, 4097, 100, options=options)) == data[4097:4197]
