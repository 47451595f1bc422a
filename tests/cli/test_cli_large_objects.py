"""The command line with objects larger than what it may hold: a download
(or `get -o`, or `cp` to a file) writes a part at a time, never the whole
object in memory, and never a file mixed from two versions of an object;
an upload of a large file reads its parts as it sends them."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from fault_proxy import FaultProxy, stall
from test_cli import EXE

import s3dlio

MiB = 1024 * 1024
PARTS = {"S3DLIO_RANGE_PART_SIZE": str(MiB)}


def _data(size: int, seed: int) -> bytes:
    return np.random.default_rng(seed).integers(0, 256, size, dtype=np.uint8).tobytes()


# Runs the command and prints its peak RSS. Measured from this small
# process, not from the test's: a child's peak counts the memory of the
# process it was forked from.
_MEASURE = """
import resource, subprocess, sys
status = subprocess.run(sys.argv[1:]).returncode
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024)
sys.exit(status)
"""


def _run_measured(args: list[str], cwd: Path, env: dict[str, str]) -> tuple[int, bytes, int]:
    """Exit status, stderr and peak RSS (bytes) of one run of the command."""
    out = subprocess.run(
        [sys.executable, "-c", _MEASURE, EXE, *args],
        cwd=cwd,
        env={**os.environ, **env},
        capture_output=True,
        timeout=120,
        check=False,
    )
    return out.returncode, out.stderr, int(out.stdout.split()[-1])


def _temporaries(directory: Path) -> list[Path]:
    return [p for p in directory.iterdir() if p.name.startswith(".")]


@pytest.mark.timeout(180)
def test_download_holds_a_few_parts_not_the_object(s3_bucket, tmp_path):
    size = 96 * MiB
    uri = f"s3://{s3_bucket}/big.bin"
    data = _data(size, seed=96)
    s3dlio.put(uri, data)

    status, err, peak = _run_measured(["download", uri, str(tmp_path / "dl")], tmp_path, PARTS)
    assert status == 0, err
    assert (tmp_path / "dl" / "big.bin").read_bytes() == data
    # The whole object held once would alone be 96 MiB; 8 parts of 1 MiB in
    # flight plus the program are far less.
    assert peak < 48 * MiB, f"peak RSS {peak / MiB:.0f} MiB for a {size // MiB} MiB object"
    assert _temporaries(tmp_path / "dl") == []

    # A range across several parts, to a file with `get -o`.
    out = tmp_path / "range.bin"
    offset, length = MiB + MiB // 2, 3 * MiB + 5
    args = ["get", uri, "-o", str(out), "--offset", str(offset), "--length", str(length)]
    status, err, _ = _run_measured(args, tmp_path, PARTS)
    assert status == 0, err
    assert out.read_bytes() == data[offset : offset + length]

    # cp to a file:// destination, from a local source (copied by the kernel).
    copy = tmp_path / "copy.bin"
    args = ["cp", f"file://{out}", f"file://{copy}"]
    assert _run_measured(args, tmp_path, PARTS)[0] == 0
    assert copy.read_bytes() == data[offset : offset + length]


@pytest.mark.timeout(120)
def test_object_replaced_during_a_download_fails_it(s3_bucket, moto_server, tmp_path):
    key = "changing.bin"
    uri = f"s3://{s3_bucket}/{key}"
    s3dlio.put(uri, _data(8 * MiB, seed=1))
    dest = tmp_path / "dl"
    with FaultProxy(moto_server) as proxy:
        # The first part is held back until the object has been replaced.
        proxy.inject([stall(3.0)], method="GET", path=f"/{s3_bucket}/{key}")
        proc = subprocess.Popen(
            [EXE, "download", uri, str(dest)],
            cwd=tmp_path,
            env={**os.environ, **PARTS, "AWS_ENDPOINT_URL": proxy.url},
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + 30
        while not proxy.requests_to("GET", f"/{s3_bucket}/{key}"):
            assert time.monotonic() < deadline, "the download never asked for a part"
            time.sleep(0.05)
        s3dlio.put(uri, _data(8 * MiB, seed=2))
        _, err = proc.communicate(timeout=60)
    assert proc.returncode != 0, "a download mixing two versions succeeded"
    assert uri.encode() in err and b"changed while it was being read" in err, err
    assert not (dest / key).exists()
    assert _temporaries(dest) == [] if dest.exists() else True


@pytest.mark.timeout(120)
@pytest.mark.parametrize("store", ["az_prefix", "gs_prefix"])
def test_download_in_parts_from_azure_and_gcs(store, request, seed, tmp_path):
    uri = f"{request.getfixturevalue(store)}/parts.bin"
    data = _data(3 * MiB + 5, seed=3)
    seed(uri, data)
    status, err, _ = _run_measured(["download", uri, str(tmp_path / "dl")], tmp_path, PARTS)
    assert status == 0, err
    assert (tmp_path / "dl" / "parts.bin").read_bytes() == data


@pytest.mark.timeout(180)
def test_upload_reads_parts_as_it_sends_them(s3_bucket, tmp_path):
    data = _data(128 * MiB, seed=7)
    (tmp_path / "big.bin").write_bytes(data)
    parts = {"S3DLIO_MULTIPART_THRESHOLD": str(5 * MiB), "S3DLIO_MULTIPART_PART_SIZE": str(5 * MiB)}
    uri = f"s3://{s3_bucket}/up"
    status, err, peak = _run_measured(["upload", str(tmp_path / "big.bin"), uri], tmp_path, parts)
    assert status == 0, err
    # The file read whole would alone be 128 MiB; 8 parts of 5 MiB are 40
    # (measured: 65 MiB in all, against 118 for 96 MiB read whole).
    assert peak < 96 * MiB, f"peak RSS {peak / MiB:.0f} MiB for a 128 MiB file"
    assert bytes(s3dlio.get(f"{uri}/big.bin")) == data
    etag = s3dlio.stat(f"{uri}/big.bin").etag
    assert etag is not None and etag.strip('"').endswith("-26"), etag  # 26 parts of 5 MiB

    # cp from a local file takes the same path.
    status, err, _ = _run_measured(
        ["cp", f"file://{tmp_path}/big.bin", f"{uri}/copy"], tmp_path, parts
    )
    assert status == 0, err
    assert bytes(s3dlio.get(f"{uri}/copy")) == data
