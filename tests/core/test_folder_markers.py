"""Folder markers: the zero-byte `dir/` keys the S3 and GCS consoles'
"Create folder" makes are not objects. Listings skip them, so everything
built on a listing (get_many, the datasets, read_table, the CLI) works
on a prefix that has them; a real zero-byte object is still listed."""

from __future__ import annotations

import shutil
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
from emulator_requests import gcs_upload

import s3dlio

EXE = shutil.which("s3dlio", path=str(Path(sys.executable).parent)) or "s3dlio"
MARKERS = ["dm2/", "dm2/sub/", "dm2/sub/deeper/"]
OBJECTS = {"dm2/a.bin": b"a" * 100, "dm2/sub/b.bin": b"b" * 200, "dm2/empty.bin": b""}


def _raw_put(moto: str, bucket: str, key: str, data: bytes) -> None:
    """A PUT as the S3 console makes it, not through s3dlio."""
    headers = {"Content-Type": "application/octet-stream"}
    put = urllib.request.Request(f"{moto}/{bucket}/{key}", data, headers, method="PUT")
    urllib.request.urlopen(put, timeout=10).close()


@pytest.fixture(params=["s3", "gs"])
def marked(request, moto_server, fake_gcs) -> str:
    """A prefix holding objects and folder markers, written without s3dlio."""
    if request.param == "s3":
        bucket = request.getfixturevalue("s3_bucket")
        for key, data in {**dict.fromkeys(MARKERS, b""), **OBJECTS}.items():
            _raw_put(moto_server, bucket, key, data)
        return f"s3://{bucket}/dm2"
    bucket = request.getfixturevalue("gs_bucket")
    for key, data in {**dict.fromkeys(MARKERS, b""), **OBJECTS}.items():
        gcs_upload(fake_gcs, bucket, key, data)
    return f"gs://{bucket}/dm2"


def test_listings_skip_folder_markers(marked):
    expected = sorted(f"{marked}/{k.removeprefix('dm2/')}" for k in OBJECTS)
    assert s3dlio.list(marked) == expected
    assert s3dlio.list(marked + "/") == expected
    assert [m.uri for m in s3dlio.list_meta(marked, recursive=False)] == sorted(
        u for u in expected if "/sub/" not in u
    )
    assert s3dlio.list(f"{marked}/sub/deeper") == []
    fetched = s3dlio.get_many(s3dlio.list(marked))
    assert {u: bytes(v) for u, v in fetched} == {
        f"{marked}/{k.removeprefix('dm2/')}": v for k, v in OBJECTS.items()
    }
    import pyarrow as pa

    assert pa.table(s3dlio.read_table(marked)).num_rows == len(OBJECTS)


def test_datasets_over_a_prefix_with_markers(marked):
    torch_datasets = pytest.importorskip("s3dlio_torch")
    assert len(torch_datasets.S3MapDataset(marked)) == len(OBJECTS)
    items = list(torch_datasets.S3IterableDataset(marked))
    assert sorted(len(t) for t in items) == [0, 100, 200]


def test_cli_over_a_prefix_with_markers(tmp_path, moto_server, s3_bucket):
    for key, data in {**dict.fromkeys(MARKERS, b""), **OBJECTS}.items():
        _raw_put(moto_server, s3_bucket, key, data)

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([EXE, *args], cwd=tmp_path, capture_output=True, timeout=60)

    listed = run("ls", f"s3://{s3_bucket}/dm2", "-r")
    assert listed.returncode == 0, listed.stderr
    assert sorted(listed.stdout.decode().split()) == sorted(
        f"s3://{s3_bucket}/{k}" for k in OBJECTS
    )
    removed = run("rm", f"s3://{s3_bucket}/dm2/", "-r")
    assert removed.returncode == 0, removed.stderr
    assert s3dlio.list(f"s3://{s3_bucket}/dm2") == []
