"""No multipart upload is left behind: every failure and every
cancellation aborts it (stores keep, and bill for, the parts of an upload
nobody completes), and a part size S3 would refuse is refused up front."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from fault_proxy import INTERNAL_ERROR, PASS, FaultProxy, delayed, stall

import s3dlio

MiB = 1 << 20
BIG = np.random.default_rng(5).integers(0, 256, 11 * MiB, dtype=np.uint8)


def _options(proxy: FaultProxy) -> dict[str, str]:
    return {
        "AWS_ENDPOINT_URL": proxy.url,
        "S3DLIO_MAX_RETRIES": "0",
        "S3DLIO_MULTIPART_THRESHOLD": str(5 * MiB),
        "S3DLIO_MULTIPART_PART_SIZE": str(5 * MiB),
    }


def _open_uploads(moto: str, bucket: str) -> list[str]:
    """Keys with a multipart upload in progress, as the store lists them."""
    with urllib.request.urlopen(f"{moto}/{bucket}?uploads", timeout=10) as answer:
        return re.findall(r"<Key>([^<]*)</Key>", answer.read().decode())


def _wait_for(predicate, what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


@pytest.mark.parametrize("part_size", [1, MiB, 5 * MiB - 1])
def test_a_part_size_s3_refuses_is_refused_before_any_request(s3_prefix, part_size):
    with pytest.raises(s3dlio.InvalidArgumentError, match="S3DLIO_MULTIPART_PART_SIZE"):
        s3dlio.put(f"{s3_prefix}/x", b"x", options={"S3DLIO_MULTIPART_PART_SIZE": str(part_size)})
    assert not s3dlio.exists(f"{s3_prefix}/x")


def test_a_failed_completion_is_aborted(s3_bucket, moto_server):
    with FaultProxy(upstream=moto_server) as proxy:
        # The first POST starts the upload, the second completes it: fail that.
        proxy.inject([PASS, INTERNAL_ERROR], method="POST", path=f"/{s3_bucket}/big")
        with pytest.raises(s3dlio.S3dlioError, match="big"):
            s3dlio.put(f"s3://{s3_bucket}/big", BIG, options=_options(proxy))
        assert len(proxy.requests_to("PUT", f"/{s3_bucket}/big")) == 3, "three parts sent"
    assert _open_uploads(moto_server, s3_bucket) == []
    assert not s3dlio.exists(f"s3://{s3_bucket}/big")


def test_a_failing_item_of_put_many_aborts_the_upload_in_progress(s3_bucket, moto_server):
    with FaultProxy(upstream=moto_server) as proxy:
        proxy.inject([stall(3)], method="PUT", path=f"/{s3_bucket}/big")  # first part
        proxy.inject([delayed(INTERNAL_ERROR, 1.0)], method="PUT", path=f"/{s3_bucket}/small")
        items = [(f"s3://{s3_bucket}/big", BIG), (f"s3://{s3_bucket}/small", b"s")]
        with pytest.raises(s3dlio.S3dlioError, match="small"):
            s3dlio.put_many(items, options=_options(proxy))
        assert proxy.requests_to("POST", f"/{s3_bucket}/big"), "the upload had begun"
        assert _open_uploads(moto_server, s3_bucket) == []


# SIGINT raises KeyboardInterrupt in the child even if it inherited SIGINT
# ignored (a suite run in the background of a shell without job control).
INTERRUPTED_PUT = r"""
import signal, sys, numpy as np, s3dlio
signal.signal(signal.SIGINT, signal.default_int_handler)
options = {"AWS_ENDPOINT_URL": sys.argv[2], "S3DLIO_MAX_RETRIES": "0",
           "S3DLIO_MULTIPART_THRESHOLD": str(5 << 20), "S3DLIO_MULTIPART_PART_SIZE": str(5 << 20)}
try:
    s3dlio.put(sys.argv[1], np.zeros(11 << 20, dtype=np.uint8), options=options)
except KeyboardInterrupt:
    print("interrupted", flush=True)
"""


@pytest.mark.timeout(90)
def test_ctrl_c_during_a_multipart_put_aborts_it(s3_bucket, moto_server):
    with FaultProxy(upstream=moto_server) as proxy:
        proxy.inject([stall(60)] * 3, method="PUT", path=f"/{s3_bucket}/big")
        proc = subprocess.Popen(
            [sys.executable, "-c", INTERRUPTED_PUT, f"s3://{s3_bucket}/big", proxy.url],
            cwd=Path(__file__).parent,
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            _wait_for(lambda: proxy.requests_to("PUT", f"/{s3_bucket}/big"), "a part PUT")
            assert _open_uploads(moto_server, s3_bucket) == ["big"]
            proc.send_signal(signal.SIGINT)
            out, _ = proc.communicate(timeout=30)
        finally:
            proc.kill()
        assert out.strip() == "interrupted"
        assert _open_uploads(moto_server, s3_bucket) == []
