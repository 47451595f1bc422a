"""The datasets and shard readers through the local cache (s3://, moto):
a second DataLoader epoch of ``S3MapDataset`` makes no request at all (in
the main process, by the library's counters; in DataLoader workers, by the
requests a proxy in front of the store saw), and ``read_tar`` and
``read_parquet`` read a cached shard with no request, a tar shard's members
being views of the entry's mapped pages.
"""

from __future__ import annotations

import io
import os
import tarfile

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch
from fault_proxy import FaultProxy

import s3dlio
from s3dlio_torch import S3MapDataset

# JAX, when another test imported it into this process, warns at every
# fork that *JAX* is not fork-safe; that says nothing about s3dlio.
pytestmark = pytest.mark.filterwarnings(
    "ignore:os.fork\\(\\) was called.*JAX is multithreaded:RuntimeWarning"
)

N, SIZE = 24, 50_000


def _dataset(prefix: str, cache: str) -> S3MapDataset:
    s3dlio.put_many([(f"{prefix}/s{i:03d}.bin", bytes([i]) * SIZE) for i in range(N)])
    return S3MapDataset(prefix + "/", options={"cache_dir": cache})


def _epoch(dataset: S3MapDataset, workers: int) -> list[int]:
    loader = torch.utils.data.DataLoader(
        dataset, batch_size=8, shuffle=True, num_workers=workers, collate_fn=list
    )
    return sorted(int(t[0]) for batch in loader for t in batch)


def test_a_second_epoch_makes_no_request(s3_prefix, tmp_path):
    dataset = _dataset(s3_prefix, str(tmp_path / "cache"))
    s3dlio.metrics(reset=True)
    assert _epoch(dataset, 0) == list(range(N))
    first = s3dlio.metrics(reset=True)
    assert first["cache"]["misses"] == N and first["get"]["s3"]["requests"] == N
    assert _epoch(dataset, 0) == list(range(N))
    second = s3dlio.metrics(reset=True)
    # The listing that made the dataset validates every copy: no HEAD either.
    assert set(second) & {"get", "get_range", "head"} == set(), second
    assert second["cache"]["hits"] == N and second["cache"]["hit_bytes"] == N * SIZE


def test_dataloader_workers_read_a_second_epoch_from_the_cache(
    s3_prefix, tmp_path, moto_server, monkeypatch
):
    with FaultProxy(moto_server) as proxy:
        monkeypatch.setenv("AWS_ENDPOINT_URL", proxy.url)
        dataset = _dataset(s3_prefix, str(tmp_path / "cache"))
        assert _epoch(dataset, 2) == list(range(N))
        fetched = len(proxy.requests_to("GET", "*/s*.bin"))
        assert _epoch(dataset, 2) == list(range(N))
        again = proxy.requests_to("GET", "*/s*.bin")[fetched:]
        heads = proxy.requests_to("HEAD", "*/s*.bin")
    assert fetched == N
    assert again == [] and heads == []


def _tar(members: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def test_a_cached_tar_shard_is_read_as_views_of_its_mapped_entry(s3_prefix, tmp_path):
    cache = tmp_path / "cache"
    members = {f"k{i}.bin": os.urandom(20_000 + i) for i in range(5)}
    uri = f"{s3_prefix}/shard-000.tar"
    s3dlio.put(uri, _tar(members))
    options = {"cache_dir": str(cache)}
    assert {n: bytes(v) for n, v in s3dlio.read_tar(uri, options=options)} == members
    s3dlio.metrics(reset=True)
    again = s3dlio.read_tar(uri, options=options)
    m = s3dlio.metrics(reset=True)
    assert {n: bytes(v) for n, v in again} == members
    assert "get" not in m and m["cache"]["hits"] == 1
    (entry,) = (p for p in (cache / "objects").glob("*/*") if len(p.name) == 16)
    with open("/proc/self/maps") as maps:
        spans = [
            tuple(int(a, 16) for a in line.split()[0].split("-"))
            for line in maps
            if line.rstrip("\n").endswith(str(entry))
        ]
    assert spans and all(any(lo <= v.address < hi for lo, hi in spans) for _, v in again)

    # Indexing (ranged header reads) is served from the entry too.
    assert [m.name for m in s3dlio.tar_index(uri, options=options)] == list(members)
    m = s3dlio.metrics(reset=True)
    assert set(m) & {"get", "get_range"} == set(), m


def test_a_cached_parquet_file_is_read_with_no_request(s3_prefix, tmp_path):
    table = pa.table({"id": list(range(1000)), "x": [float(i) / 3 for i in range(1000)]})
    sink = io.BytesIO()
    pq.write_table(table, sink, row_group_size=250)
    uri = f"{s3_prefix}/t.parquet"
    s3dlio.put(uri, sink.getvalue())
    options = {"cache_dir": str(tmp_path / "cache")}
    s3dlio.metrics(reset=True)
    first = pa.table(s3dlio.read_parquet(uri, columns=["x"], options=options))
    m = s3dlio.metrics(reset=True)
    assert m["cache"]["misses"] == 1 and m["cache"]["writes"] == 1
    second = pa.table(s3dlio.read_parquet(uri, columns=["x"], options=options))
    m = s3dlio.metrics(reset=True)
    assert first.equals(table.select(["x"])) and second.equals(first)
    assert set(m) & {"get", "get_range"} == set(), m
    assert m["cache"]["hits"] >= 1  # the footer (a file this small: all of it)
