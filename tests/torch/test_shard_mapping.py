"""A file:// tar shard is mapped, not read, by default (``read_tar``,
``S3WebDataset``): its members are views of the page cache, told apart
from a copy by /proc/self/maps. ``S3DLIO_FILE_MMAP=false`` (or the
``file_mmap`` option) reads it instead. A shard truncated in place while
mapped ends the process that touches it, in the main process or in a
DataLoader worker, and the process first says which shard and byte.
"""

from __future__ import annotations

import io
import signal
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

import s3dlio
from s3dlio_torch import S3WebDataset

REPO = Path(__file__).resolve().parents[2]


def shard(path: Path, samples: int = 6, size: int = 50_000) -> str:
    """A tar shard of ``samples`` (``bin``, ``cls``) at ``path``; its URI."""
    with tarfile.open(path, "w") as tar:
        for i in range(samples):
            for field, data in (("bin", bytes([i]) * size), ("cls", str(i).encode())):
                info = tarfile.TarInfo(f"s{i:03d}.{field}")
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    return f"file://{path}"


def mapped_at(path: Path, address: int) -> bool:
    """Whether ``address`` lies in a mapping of the file at ``path`` here."""
    with open("/proc/self/maps") as maps:
        for line in maps:
            fields = line.split(maxsplit=5)
            if len(fields) == 6 and fields[5].rstrip("\n") == str(path):
                start, end = (int(a, 16) for a in fields[0].split("-"))
                if start <= address < end:
                    return True
    return False


def test_read_tar_maps_a_file_shard_unless_told_not_to(tmp_path, monkeypatch):
    path = tmp_path.resolve() / "a.tar"
    uri = shard(path)
    (name, view), *_ = s3dlio.read_tar(uri)
    assert name == "s000.bin" and bytes(view) == bytes(50_000)
    assert mapped_at(path, view.address)
    del view, _
    (_, view), *_ = s3dlio.read_tar(uri, options={"file_mmap": "false"})
    assert not mapped_at(path, view.address)
    monkeypatch.setenv("S3DLIO_FILE_MMAP", "false")
    (_, view), *_ = s3dlio.read_tar(uri)
    assert not mapped_at(path, view.address)


def test_s3webdataset_fields_are_views_of_the_mapped_shard(tmp_path, monkeypatch):
    path = tmp_path.resolve() / "a.tar"
    uri = shard(path)
    first = next(iter(S3WebDataset([uri], shuffle=False)))
    assert bytes(first["bin"].numpy()) == bytes(50_000)
    assert mapped_at(path, first["bin"].data_ptr())
    monkeypatch.setenv("S3DLIO_FILE_MMAP", "false")
    first = next(iter(S3WebDataset([uri], shuffle=False)))
    assert not mapped_at(path, first["bin"].data_ptr())


def run(script: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=120
    )


def test_a_shard_truncated_while_mapped_ends_the_process_naming_it(tmp_path):
    path = tmp_path.resolve() / "a.tar"
    uri = shard(path)
    done = run(
        f"""
import os, s3dlio
members = s3dlio.read_tar({uri!r})
os.truncate({str(path)!r}, 0)
print(bytes(members[-2][1])[:1])
"""
    )
    assert done.returncode == -signal.SIGBUS, done
    assert f"reading the mapped object {uri} at byte " in done.stderr, done.stderr
    assert "truncated in place while mapped" in done.stderr


@pytest.mark.timeout(120)
def test_a_dataloader_worker_names_the_shard_truncated_under_it(tmp_path):
    # The main process maps a shard first, so the handler was installed
    # before the fork, and torch puts its own in the worker after it: the
    # worker's first mapping must install it again, on top of torch's.
    path = tmp_path.resolve() / "a.tar"
    uri = shard(path)
    done = run(
        f"""
import os, s3dlio
from torch.utils.data import DataLoader
from s3dlio_torch import S3WebDataset
kept = s3dlio.read_tar({uri!r})

def truncate_then_touch(sample):
    os.truncate({str(path)!r}, 0)
    return bytes(sample["bin"].numpy())

data = S3WebDataset([{uri!r}], shuffle=False, transform=truncate_then_touch)
try:
    next(iter(DataLoader(data, batch_size=None, num_workers=1)))
except RuntimeError as error:
    print("main:", error)
"""
    )
    assert "main: DataLoader worker" in done.stdout, done
    assert f"reading the mapped object {uri} at byte " in done.stderr, done.stderr
