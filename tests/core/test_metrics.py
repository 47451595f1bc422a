"""Metrics per operation and scheme (`s3dlio.metrics()`): requests and bytes
exact for a known workload on file:// and s3:// (moto), retries and 503s
counted through the fault proxy, percentiles monotone and within the
measured wall time, `reset` starting a new interval, a forked child starting
from zero, and the Prometheus text well formed.

Each test reads the counters of its own interval (`metrics(reset=True)`
first) and runs nothing concurrently, so counts are exact.
"""

from __future__ import annotations

import os
import re
import ssl
import subprocess
import sys
import time
import warnings

import nginx_server
import pytest
from fault_proxy import SLOW_DOWN, FaultProxy

import s3dlio

# JAX, when another test imported it into this process, warns at every
# fork that *JAX* is not fork-safe; that says nothing about s3dlio.
pytestmark = pytest.mark.filterwarnings(
    "ignore:os.fork\\(\\) was called.*JAX is multithreaded:RuntimeWarning"
)

SIZES = [1, 1000, 4096, 70_000, 123_457]


def _workload(prefix: str) -> dict[str, tuple[int, int]]:
    """Run a known workload under `prefix`; (requests, bytes) expected per op."""
    uris = [f"{prefix}/m{i}.bin" for i in range(len(SIZES))]
    for uri, size in zip(uris, SIZES, strict=True):
        s3dlio.put(uri, b"x" * size)
    assert [len(v) for _, v in s3dlio.get_many(uris)] == SIZES
    assert len(s3dlio.get(uris[1])) == SIZES[1]
    assert len(s3dlio.get_range(uris[4], 10, 100)) == 100
    assert s3dlio.stat(uris[2]).size == SIZES[2]
    assert len(s3dlio.list(prefix + "/")) == len(SIZES)
    s3dlio.delete(uris[0])
    return {
        "put": (len(SIZES), sum(SIZES)),
        "get": (len(SIZES) + 1, sum(SIZES) + SIZES[1]),
        "get_range": (1, 100),
        "head": (1, 0),
        "list": (1, 0),
        "delete": (1, 0),
    }


def test_counts_and_bytes_are_exact(prefix):
    scheme = prefix.split("://")[0]
    s3dlio.metrics(reset=True)
    expected = _workload(prefix)
    m = s3dlio.metrics()
    seen = {op: (m[op][scheme]["requests"], m[op][scheme]["bytes"]) for op in expected}
    assert seen == expected
    for op in expected:
        entry = m[op][scheme]
        assert entry["errors"] == 0 and entry["errors_by_kind"] == {}
        assert entry["retries"] == 0 and entry["throttled"] == 0
        assert entry["in_flight_peak"] >= 1
        assert set(entry["latency_s"]) == {"p50", "p90", "p99", "max"}
    # get_many of 5 asks for all at once.
    assert m["get"][scheme]["in_flight_peak"] <= len(SIZES)
    if scheme == "s3":
        fb, total = m["get"][scheme]["first_byte_s"], m["get"][scheme]["latency_s"]
        assert 0 < fb["p50"] <= fb["max"] <= total["max"]
    else:
        assert m["get"][scheme]["first_byte_s"]["max"] == 0


def test_counts_and_bytes_are_exact_on_azure(az_prefix):
    s3dlio.metrics(reset=True)
    expected = _workload(az_prefix)
    m = s3dlio.metrics()
    assert {op: (m[op]["az"]["requests"], m[op]["az"]["bytes"]) for op in expected} == expected


def test_errors_are_counted_by_kind(file_prefix):
    s3dlio.metrics(reset=True)
    with pytest.raises(FileNotFoundError):
        s3dlio.get(f"{file_prefix}/missing.bin")
    entry = s3dlio.metrics()["get"]["file"]
    assert (entry["requests"], entry["errors"], entry["bytes"]) == (1, 1, 0)
    assert entry["errors_by_kind"] == {"not_found": 1}


def test_percentiles_are_monotone_and_within_the_wall_time(file_prefix):
    uris = [f"{file_prefix}/p{i}.bin" for i in range(20)]
    for uri in uris:
        s3dlio.put(uri, os.urandom(20_000))
    s3dlio.metrics(reset=True)
    longest = 0.0
    for _ in range(5):
        for uri in uris:
            t0 = time.perf_counter()
            s3dlio.get(uri)
            longest = max(longest, time.perf_counter() - t0)
    entry = s3dlio.metrics()["get"]["file"]
    assert entry["requests"] == 100
    q = entry["latency_s"]
    assert 0 < q["p50"] <= q["p90"] <= q["p99"] <= q["max"] <= longest


def test_reset_starts_a_new_interval(file_prefix):
    uri = f"{file_prefix}/r.bin"
    s3dlio.put(uri, b"abc")
    s3dlio.get(uri)
    before = s3dlio.metrics(reset=True)
    assert before["get"]["file"]["requests"] >= 1
    assert "get" not in s3dlio.metrics()
    s3dlio.get(uri)
    assert s3dlio.metrics()["get"]["file"]["requests"] == 1


@pytest.fixture
def proxy(moto_server):
    with FaultProxy(moto_server) as proxy:
        yield proxy


@pytest.mark.timeout(60)
def test_retries_and_503s_are_counted(proxy, s3_bucket):
    uri, path = f"s3://{s3_bucket}/retry/m.bin", f"/{s3_bucket}/retry/m.bin"
    s3dlio.put(uri, b"y" * 50_000)
    options = {"AWS_ENDPOINT_URL": proxy.url, "S3DLIO_MAX_RETRIES": "3"}
    s3dlio.metrics(reset=True)
    proxy.inject([SLOW_DOWN, SLOW_DOWN], method="GET", path=path)
    assert len(s3dlio.get(uri, options=options)) == 50_000
    assert [r.fault.kind for r in proxy.requests_to("GET", path)] == ["503", "503", "pass"]
    entry = s3dlio.metrics()["get"]["s3"]
    assert (entry["requests"], entry["bytes"], entry["errors"]) == (1, 50_000, 0)
    assert (entry["retries"], entry["throttled"]) == (2, 2)
    # With retries off, the 503 is the error.
    s3dlio.metrics(reset=True)
    proxy.inject([SLOW_DOWN], method="GET", path=path)
    with pytest.raises(s3dlio.S3dlioError):
        s3dlio.get(uri, options={**options, "S3DLIO_MAX_RETRIES": "0"})
    entry = s3dlio.metrics()["get"]["s3"]
    counts = (entry["requests"], entry["errors"], entry["retries"], entry["throttled"])
    assert counts == (1, 1, 0, 1)
    assert entry["errors_by_kind"] == {"backend": 1}


@pytest.mark.timeout(60)
def test_retries_and_503s_are_counted_over_https(moto_server, s3_bucket, tmp_path):
    """HTTPS goes through object_store's own HTTP client, under the same
    connector, so its attempts are seen as well."""
    nginx_server._make_certificate(tmp_path)
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")
    uri, path = f"s3://{s3_bucket}/tls/m.bin", f"/{s3_bucket}/tls/m.bin"
    s3dlio.put(uri, b"t" * 3000)
    with FaultProxy(moto_server, tls=tls) as proxy:
        assert proxy.url.startswith("https://")
        options = {
            "AWS_ENDPOINT_URL": proxy.url,
            "S3DLIO_CA_BUNDLE": str(nginx_server.certificate(tmp_path)),
            "S3DLIO_MAX_RETRIES": "3",
        }
        proxy.inject([SLOW_DOWN, SLOW_DOWN, SLOW_DOWN], method="GET", path=path)
        s3dlio.metrics(reset=True)
        assert len(s3dlio.get(uri, options=options)) == 3000
        assert len(proxy.requests_to("GET", path)) == 4
    entry = s3dlio.metrics()["get"]["s3"]
    assert (entry["requests"], entry["retries"], entry["throttled"]) == (1, 3, 3)


def test_a_forked_child_starts_from_zero(file_prefix):
    uri = f"{file_prefix}/f.bin"
    s3dlio.put(uri, b"z" * 10)
    s3dlio.get(uri)
    assert s3dlio.metrics()["get"]["file"]["requests"] >= 1
    read, write = os.pipe()
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r".*fork.*", category=DeprecationWarning)
        pid = os.fork()
    if pid == 0:  # the child: nothing counted yet, then exactly its own get
        try:
            empty = "get" not in s3dlio.metrics()
            s3dlio.get(uri)
            own = s3dlio.metrics()["get"]["file"]["requests"] == 1
            os.write(write, b"ok" if empty and own else b"no")
        finally:
            os._exit(0)
    os.close(write)
    try:
        assert os.read(read, 2) == b"ok"
    finally:
        os.close(read)
        os.waitpid(pid, 0)


OFF_CHILD = """
import os, sys, s3dlio
uri, log = sys.argv[1], sys.argv[2]
s3dlio.put(uri, b"z" * 10)
s3dlio.get(uri)
print("get" in s3dlio.metrics())
s3dlio.start_oplog(log)
s3dlio.get(uri)
s3dlio.stop_oplog()
print(s3dlio.metrics()["get"]["file"]["requests"])
"""


@pytest.mark.parametrize("value", ["false", "0", "off"])
def test_counting_can_be_turned_off_but_not_under_the_oplog(file_prefix, tmp_path, value):
    # S3DLIO_METRICS=false (what the overhead benchmark compares against)
    # counts nothing; the op-log, which needs the timing, counts again.
    env = {**os.environ, "S3DLIO_METRICS": value}
    out = subprocess.run(
        [sys.executable, "-c", OFF_CHILD, f"{file_prefix}/off.bin", str(tmp_path / "ops.tsv")],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout.split()
    assert out == ["False", "1"]


PROM_LINE = re.compile(
    r"^(# (HELP|TYPE) s3dlio_[a-z_]+ .+"
    r'|s3dlio_[a-z_]+\{op="[a-z_]+",scheme="[a-z]+"(,(kind|quantile)="[a-z_0-9.]+")?\}'
    r" [0-9.e+-]+"
    r'|s3dlio_endpoint_[a-z_]+\{endpoint="[a-z]+://[^"]*",bucket="[^"]*"\} [0-9]+'
    r"|s3dlio_cache_[a-z_]+_total [0-9]+)$"
)


def test_prometheus_text_is_well_formed(file_prefix):
    uri = f"{file_prefix}/prom.bin"
    s3dlio.put(uri, b"p" * 100)
    s3dlio.metrics(reset=True)
    for _ in range(3):
        s3dlio.get(uri)
    text = s3dlio.metrics_prometheus()
    assert text.endswith("\n")
    for line in text.splitlines():
        assert PROM_LINE.match(line), line
    assert 's3dlio_requests_total{op="get",scheme="file"} 3' in text.splitlines()
    assert 's3dlio_bytes_total{op="get",scheme="file"} 300' in text.splitlines()
    assert re.search(r's3dlio_request_seconds\{op="get",scheme="file",quantile="0.99"\} ', text)
    types = re.findall(r"^# TYPE (\S+) (\S+)$", text, re.MULTILINE)
    assert ("s3dlio_request_seconds", "summary") in types
    assert ("s3dlio_requests_total", "counter") in types


def test_a_multipart_put_and_a_split_get_count_their_parts(s3_prefix):
    mib = 1 << 20
    options = {
        "S3DLIO_MULTIPART_THRESHOLD": str(5 * mib),
        "S3DLIO_MULTIPART_PART_SIZE": str(5 * mib),
        "S3DLIO_RANGE_PART_SIZE": str(1 * mib),
    }
    uri, size = f"{s3_prefix}/big.bin", 11 * mib + 7
    s3dlio.metrics(reset=True)
    s3dlio.put(uri, os.urandom(size), options=options)
    assert len(s3dlio.get(uri, options=options)) == size
    m = s3dlio.metrics()
    counts = {
        op: (m[op]["s3"]["requests"], m[op]["s3"]["bytes"]) for op in ("put", "put_part", "get")
    }
    # One put of the whole object and its three parts; one get, its twelve
    # ranged parts not retries of each other.
    assert counts == {"put": (1, size), "put_part": (3, size), "get": (1, size)}
    assert m["get"]["s3"]["retries"] == 0
    assert m["put_part"]["s3"]["in_flight_peak"] >= 1
