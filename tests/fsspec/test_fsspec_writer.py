"""Files opened ``"wb"`` (``s3dlio.ObjectWriter``): streamed as they are
written (a multipart upload in parts, a temporary file locally),
published only on close, and aborted, leaving nothing, when they fail,
when their ``with`` block raises, or when they are collected unclosed."""

from __future__ import annotations

import gc
import os
import re
import threading
import time
import urllib.request

import numpy as np
import pytest
from fault_proxy import INTERNAL_ERROR, PASS, FaultProxy, stall

import s3dlio
from s3dlio.fsspec import S3dlioFileSystem

MiB = 1 << 20
PARTS = {"S3DLIO_MULTIPART_THRESHOLD": str(5 * MiB), "S3DLIO_MULTIPART_PART_SIZE": str(5 * MiB)}
DATA = np.random.default_rng(7).integers(0, 256, 12 * MiB, dtype=np.uint8)


def _open_uploads(moto: str, bucket: str) -> list[str]:
    """Keys with a multipart upload in progress, as the store lists them."""
    with urllib.request.urlopen(f"{moto}/{bucket}?uploads", timeout=10) as answer:
        return re.findall(r"<Key>([^<]*)</Key>", answer.read().decode())


def _write_in_pieces(f, data: np.ndarray, piece: int = 3 * MiB + 17) -> None:
    for start in range(0, len(data), piece):
        assert f.write(data[start : start + piece]) == len(data[start : start + piece])


def test_a_multipart_write_is_visible_only_after_close(s3_bucket, moto_server):
    fs = S3dlioFileSystem(options=PARTS)
    uri = f"s3://{s3_bucket}/w/big.bin"
    f = fs.open(uri, "wb")
    _write_in_pieces(f, DATA)
    assert f.tell() == len(DATA)
    # Two full parts are on their way: an upload is open, nothing visible.
    assert _open_uploads(moto_server, s3_bucket) == ["w/big.bin"]
    assert not fs.exists(uri)
    f.close()
    assert _open_uploads(moto_server, s3_bucket) == []
    assert fs.cat_file(uri) == DATA.tobytes()
    f.close()  # closing again does nothing


@pytest.mark.parametrize("scheme", ["file", "direct", "s3", "az"])
def test_a_write_is_published_on_close_on_every_writable_backend(request, scheme):
    prefix = request.getfixturevalue(f"{scheme}_prefix")
    fs = S3dlioFileSystem()
    uri = f"{prefix}/sub/small.bin"
    with fs.open(uri, "wb") as f:
        f.write(b"hello ")
        f.write(memoryview(b"world"))
        assert not fs.exists(uri)
    assert fs.cat_file(uri) == b"hello world"


def test_a_local_write_stays_under_a_temporary_name_until_close(tmp_path):
    fs = S3dlioFileSystem()
    uri = f"file://{tmp_path}/x.bin"
    with fs.open(uri, "wb") as f:
        f.write(b"abc")
        (tmp,) = os.listdir(tmp_path)
        assert tmp != "x.bin"
    assert os.listdir(tmp_path) == ["x.bin"]


@pytest.mark.parametrize("scheme", ["file", "s3"])
def test_a_with_block_that_raises_leaves_nothing(request, scheme, moto_server):
    prefix = request.getfixturevalue(f"{scheme}_prefix")
    fs = S3dlioFileSystem(options=PARTS)
    uri = f"{prefix}/failed.bin"

    def produce() -> None:
        with fs.open(uri, "wb") as f:
            _write_in_pieces(f, DATA)
            raise KeyError("the producer failed")

    with pytest.raises(KeyError):
        produce()
    assert not fs.exists(uri)
    assert fs.find(prefix) == []
    if scheme == "s3":
        assert _open_uploads(moto_server, prefix.split("/")[2]) == []


@pytest.mark.parametrize("scheme", ["file", "s3"])
def test_a_writer_collected_unclosed_leaves_nothing(request, scheme, moto_server):
    prefix = request.getfixturevalue(f"{scheme}_prefix")
    fs = S3dlioFileSystem(options=PARTS)
    uri = f"{prefix}/dropped.bin"
    f = fs.open(uri, "wb")
    _write_in_pieces(f, DATA)
    del f
    gc.collect()
    assert not fs.exists(uri)
    assert fs.find(prefix) == []
    if scheme == "s3":
        s3dlio.list(prefix)  # a blocking call waits for the abort it started
        assert _open_uploads(moto_server, prefix.split("/")[2]) == []


def test_a_failed_part_aborts_the_object_and_closes_the_writer(s3_bucket, moto_server):
    with FaultProxy(upstream=moto_server) as proxy:
        options = {"AWS_ENDPOINT_URL": proxy.url, "S3DLIO_MAX_RETRIES": "0", **PARTS}
        proxy.inject([PASS, INTERNAL_ERROR], method="PUT", path=f"/{s3_bucket}/bad.bin")
        writer = s3dlio.ObjectWriter(f"s3://{s3_bucket}/bad.bin", options=options)

        def write_all() -> None:
            for start in range(0, len(DATA), MiB):
                writer.write(DATA[start : start + MiB])
            writer.close()

        with pytest.raises(s3dlio.S3dlioError, match=r"bad\.bin"):
            write_all()
        assert writer.closed
        with pytest.raises(ValueError, match=r"bad\.bin: the writer is closed"):
            writer.write(b"more")
        writer.close()  # nothing to publish: does nothing
    assert not s3dlio.exists(f"s3://{s3_bucket}/bad.bin")
    assert _open_uploads(moto_server, s3_bucket) == []


def test_abort_discards_what_was_written(s3_prefix):
    writer = s3dlio.ObjectWriter(f"{s3_prefix}/a.bin", options=PARTS)
    writer.write(DATA[: 6 * MiB])
    assert writer.written == 6 * MiB
    writer.abort()
    assert writer.closed
    assert not s3dlio.exists(f"{s3_prefix}/a.bin")


def test_an_empty_file_is_an_empty_object(prefix):
    fs = S3dlioFileSystem()
    fs.touch(f"{prefix}/empty")
    assert fs.info(f"{prefix}/empty")["size"] == 0
    assert fs.cat_file(f"{prefix}/empty") == b""


def test_a_bad_destination_fails_at_open_naming_it(tmp_path):
    (tmp_path / "f").write_bytes(b"x")
    with pytest.raises(s3dlio.S3dlioError, match="f/under"):
        s3dlio.ObjectWriter(f"file://{tmp_path}/f/under")
    with pytest.raises(TypeError, match="buffer"):
        s3dlio.ObjectWriter(f"file://{tmp_path}/g").write("text")  # type: ignore[arg-type]


def test_the_gil_is_released_while_a_writer_waits_for_its_parts(s3_bucket, moto_server):
    with FaultProxy(upstream=moto_server) as proxy:
        proxy.inject([stall(1.0)], method="PUT", path=f"/{s3_bucket}/slow.bin")
        options = {"AWS_ENDPOINT_URL": proxy.url, **PARTS}
        writer = s3dlio.ObjectWriter(f"s3://{s3_bucket}/slow.bin", options=options)
        writer.write(DATA[: 5 * MiB])  # one full part, sent (and stalled) in the background
        ticks, done = [0], threading.Event()

        def count() -> None:
            while not done.is_set():
                ticks[0] += 1
                time.sleep(0.001)

        counter = threading.Thread(target=count)
        counter.start()
        start = time.monotonic()
        writer.close()  # waits for the stalled part
        done.set()
        counter.join()
        assert time.monotonic() - start >= 0.9
        assert ticks[0] > 100, "another thread ran while close() waited"
    assert s3dlio.get(f"s3://{s3_bucket}/slow.bin").to_bytes() == DATA[: 5 * MiB].tobytes()
