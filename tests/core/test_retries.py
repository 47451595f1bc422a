"""Retries and timeouts on S3, through a fault-injecting proxy in front of
moto: transient 503s and connection resets are retried (and the data is
intact), with retries off they surface as errors naming the URI, and a
stalled server is given up on after the request timeout.

Each test has its own proxy (so its own client: the library keeps one per
options dict) and its own bucket.
"""

from __future__ import annotations

import time

import numpy as np
import pytest
from fault_proxy import RESET, SLOW_DOWN, FaultProxy, stall

import s3dlio


@pytest.fixture
def proxy(moto_server):
    with FaultProxy(moto_server) as proxy:
        yield proxy


@pytest.fixture
def s3_object(s3_bucket):
    """(uri, request path, data) of an object written straight to moto."""
    key = "retry/obj.bin"
    data = np.random.default_rng(42).integers(0, 256, 300_000, dtype=np.uint8).tobytes()
    s3dlio.put(f"s3://{s3_bucket}/{key}", data)
    return f"s3://{s3_bucket}/{key}", f"/{s3_bucket}/{key}", data


def _options(proxy: FaultProxy, **extra: str) -> dict[str, str]:
    return {"AWS_ENDPOINT_URL": proxy.url, **extra}


@pytest.mark.timeout(60)
def test_503_slow_down_is_retried(proxy, s3_object):
    uri, path, data = s3_object
    proxy.inject([SLOW_DOWN, SLOW_DOWN], method="GET", path=path)
    view = s3dlio.get(uri, options=_options(proxy, S3DLIO_MAX_RETRIES="3"))
    assert bytes(view) == data
    gets = proxy.requests_to("GET", path)
    assert [r.fault.kind for r in gets] == ["503", "503", "pass"]


@pytest.mark.timeout(60)
def test_connection_reset_is_retried(proxy, s3_object):
    uri, path, data = s3_object
    proxy.inject([RESET, RESET], method="GET", path=path)
    view = s3dlio.get(uri, options=_options(proxy, S3DLIO_MAX_RETRIES="3"))
    assert bytes(view) == data
    gets = proxy.requests_to("GET", path)
    assert [r.fault.kind for r in gets] == ["reset", "reset", "pass"]


@pytest.mark.timeout(60)
def test_503_without_retries_is_an_error(proxy, s3_object):
    uri, path, _ = s3_object
    proxy.inject([SLOW_DOWN] * 5, method="GET", path=path)
    with pytest.raises(s3dlio.S3dlioError) as excinfo:
        s3dlio.get(uri, options=_options(proxy, S3DLIO_MAX_RETRIES="0"))
    assert not isinstance(excinfo.value, FileNotFoundError)
    assert uri in str(excinfo.value)
    assert len(proxy.requests_to("GET", path)) == 1


@pytest.mark.timeout(30)
def test_stalled_server_times_out(proxy, s3_object):
    uri, path, _ = s3_object
    proxy.inject([stall(60)], method="GET", path=path)
    options = _options(proxy, S3DLIO_MAX_RETRIES="0", S3DLIO_REQUEST_TIMEOUT="1")
    start = time.monotonic()
    with pytest.raises(s3dlio.S3dlioError) as excinfo:
        s3dlio.get(uri, options=options)
    elapsed = time.monotonic() - start
    assert elapsed < 10, f"gave up after {elapsed:.1f} s"
    assert uri in str(excinfo.value)
