"""s3dlio_torch.io_report: the share of an epoch spent waiting for data."""

from __future__ import annotations

import time
from typing import Any

import pytest
import torch
from fault_proxy import FaultProxy, stall
from torch.utils.data import DataLoader

import s3dlio
from s3dlio_torch import S3MapDataset, io_report
from s3dlio_torch.epoch_io import batch_bytes

pytestmark = [
    # JAX, imported by earlier tests of the session, warns at every fork.
    pytest.mark.filterwarnings(
        "ignore:os.fork\\(\\) was called.*JAX is multithreaded:RuntimeWarning"
    ),
    pytest.mark.filterwarnings("ignore:.*multi-threaded.*fork.*:DeprecationWarning"),
]

SIZE = 1024
COUNT = 32
BATCH = 4


@pytest.fixture
def dataset_prefix(file_prefix: str) -> str:
    s3dlio.put_many([(f"{file_prefix}/{i:03d}.bin", bytes([i]) * SIZE) for i in range(COUNT)])
    return file_prefix


def slow(tensor: torch.Tensor) -> torch.Tensor:
    time.sleep(0.02)
    return tensor


def test_a_slow_step_waits_little(dataset_prefix):
    loader = DataLoader(S3MapDataset(dataset_prefix), batch_size=BATCH)
    report = io_report(loader)
    assert len(report) == COUNT // BATCH
    for batch in report:
        assert batch.shape == (BATCH, SIZE)
        time.sleep(0.05)
    epoch = report.last
    assert (epoch.epoch, epoch.batches, epoch.bytes) == (0, COUNT // BATCH, COUNT * SIZE)
    assert epoch.epoch_s >= 0.05 * COUNT // BATCH
    assert 0 < epoch.waiting_s < epoch.epoch_s
    assert epoch.waiting_share < 0.5, str(epoch)
    as_dict = epoch.to_dict()
    for key in ("epoch_s", "waiting_s", "waiting_share", "batches", "bytes"):
        assert key in as_dict
    assert as_dict["waiting_share"] == epoch.waiting_share


def test_a_slow_dataset_waits_most(dataset_prefix):
    loader = DataLoader(S3MapDataset(dataset_prefix, transform=slow), batch_size=BATCH)
    report = io_report(loader)
    for _ in range(2):
        for _batch in report:
            pass
    assert [e.epoch for e in report.epochs] == [0, 1]
    epoch = report.last
    assert epoch.waiting_s >= 0.02 * COUNT
    assert epoch.waiting_share > 0.5, str(epoch)
    line = str(epoch)
    assert line.startswith("epoch 1: ") and "waiting for data" in line and "\n" not in line
    assert f"{COUNT // BATCH} batches" in line


def test_an_epoch_stopped_early_is_reported_so_far(dataset_prefix):
    report = io_report(DataLoader(S3MapDataset(dataset_prefix), batch_size=BATCH))
    with pytest.raises(RuntimeError, match="no epoch"):
        _ = report.last
    for i, _batch in enumerate(report):
        if i == 2:
            break
    assert report.last.batches == 3 and report.last.bytes == 3 * BATCH * SIZE


def test_batch_bytes_counts_nested_payloads():
    batch: Any = {
        "x": torch.zeros(4, 8, dtype=torch.float32),
        "meta": [b"abc", ("k", bytearray(5))],
    }
    assert batch_bytes(batch) == 4 * 8 * 4 + 3 + 5


def test_request_counts_come_from_metrics_when_the_library_has_them(dataset_prefix, monkeypatch):
    counts = {"requests": 0}

    def metrics(reset: bool = False) -> dict[str, Any]:
        counts["requests"] += 5
        return {"GET": {"file": {"requests": counts["requests"]}}}

    report = io_report([torch.zeros(2)])
    list(report)
    assert report.last.requests is None or hasattr(s3dlio, "metrics")
    monkeypatch.setattr(s3dlio, "metrics", metrics, raising=False)
    list(report)
    assert report.last.requests == {"GET": 5}
    assert "requests GET=5" in str(report.last)


@pytest.mark.timeout(60)
def test_storage_time_tells_slow_storage_from_slow_work(moto_server, s3_bucket, dataset_prefix):
    # Two DataLoader workers: the main process makes no request, so what
    # storage_s counts is the workers' time with GETs in flight.
    uris = [f"s3://{s3_bucket}/slow/{i}.bin" for i in range(8)]
    s3dlio.put_many([(u, bytes([i]) * SIZE) for i, u in enumerate(uris)])
    with FaultProxy(moto_server) as proxy:
        proxy.inject([stall(0.15)] * len(uris), method="GET", path=f"/{s3_bucket}/slow/*")
        data = S3MapDataset(uris, options={"AWS_ENDPOINT_URL": proxy.url})
        report = io_report(DataLoader(data, batch_size=2, num_workers=2))
        assert sum(len(b) for b in report) == len(uris)
    slow_storage = report.last
    # Four batches, each one stalled request pair: 0.15 s of storage each.
    assert slow_storage.readers == 2
    assert slow_storage.storage_s is not None and slow_storage.storage_s >= 0.55, slow_storage
    assert "storage busy" in str(slow_storage) and "of 2 readers" in str(slow_storage)

    files = S3MapDataset(dataset_prefix, transform=slow)  # 20 ms of work per sample
    report = io_report(DataLoader(files, batch_size=BATCH, num_workers=2))
    list(report)
    slow_work = report.last
    assert slow_work.waiting_share > 0.5, slow_work
    assert slow_work.storage_share is not None and slow_work.storage_share < 0.1, slow_work
    assert slow_storage.storage_share is not None
    assert slow_storage.storage_share > 4 * slow_work.storage_share
