"""S3ParquetDataset: batches of Parquet columns as tensors over the Arrow
buffers, row groups dealt to ranks and workers, shuffle, resume."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch
from torch.utils.data import DataLoader

import s3dlio
from s3dlio_torch import S3ParquetDataset

pytestmark = [
    # JAX, imported by earlier tests of the session, warns at every fork.
    pytest.mark.filterwarnings(
        "ignore:os.fork\\(\\) was called.*JAX is multithreaded:RuntimeWarning"
    ),
    pytest.mark.filterwarnings("ignore:.*multi-threaded.*fork.*:DeprecationWarning"),
]

# Rows per row group of each file: uneven, one empty file's worth of groups.
GROUPS = [[40, 40, 17], [25], [33, 33]]
N = sum(sum(g) for g in GROUPS)  # 188
WIDTH = 3


def make_files(prefix: str) -> list[str]:
    """Files of ``GROUPS``; row ``i`` (global) has ``id = i``, ``vec`` =
    ``[i, i, i]`` (float32), ``name = f"row {i}"``."""
    uris, first = [], 0
    for f, groups in enumerate(GROUPS):
        n = sum(groups)
        ids = np.arange(first, first + n, dtype=np.int64)
        table = pa.table(
            {
                "id": ids,
                "vec": pa.FixedSizeListArray.from_arrays(
                    pa.array(np.repeat(ids, WIDTH).astype(np.float32)), WIDTH
                ),
                "name": [f"row {i}" for i in ids],
                "unused": np.zeros(n),
            }
        )
        sink = pa.BufferOutputStream()
        with pq.ParquetWriter(sink, table.schema) as writer:
            start = 0
            for rows in groups:
                writer.write_table(table.slice(start, rows))
                start += rows
        uri = f"{prefix}/pq/part-{f}.parquet"
        s3dlio.put(uri, sink.getvalue())
        uris.append(uri)
        first += n
    return uris


def ids_of(batch: dict) -> list[int]:
    """The rows of a batch, checking every column against the id."""
    ids = batch["id"].tolist()
    assert batch["id"].dtype == torch.int64
    assert torch.equal(
        batch["vec"], torch.tensor(ids, dtype=torch.float32)[:, None].expand(-1, WIDTH)
    )
    assert batch["name"].to_pylist() == [f"row {i}" for i in ids]
    return ids


@pytest.fixture
def files(file_prefix) -> list[str]:
    return make_files(file_prefix)


def test_every_row_in_order_in_batches(prefix):
    uris = make_files(prefix)
    ds = S3ParquetDataset(f"{prefix}/pq/", columns=["id", "vec", "name"], batch_size=16)
    assert ds.files == uris
    batches = list(DataLoader(ds, batch_size=None))
    assert sum((ids_of(b) for b in batches), []) == list(range(N))
    assert [len(b["id"]) for b in batches] == [16] * (N // 16) + [N % 16]
    assert set(batches[0]) == {"id", "vec", "name"}
    assert isinstance(batches[0]["name"], pa.Array)
    assert ds.batches_per_epoch() == len(batches)


def test_a_batch_within_a_row_group_is_its_arrow_buffer(files, monkeypatch):
    decoded = {}
    real = s3dlio._core.read_parquet

    def recording(uris, **kwargs):
        table = real(uris, **kwargs)
        key = (uris[0], tuple(kwargs["row_groups"]))
        decoded[key] = (table.tensor("id").address, table.tensor("vec").address)
        return table

    monkeypatch.setattr(s3dlio._core, "read_parquet", recording)
    ds = S3ParquetDataset(files, columns=["id", "vec"], batch_size=8)
    it = iter(ds)
    first, second = next(it), next(it)
    ids, vec = decoded[(files[0], (0,))]  # the first row group's columns
    assert first["id"].data_ptr() == ids and second["id"].data_ptr() == ids + 8 * 8
    assert first["vec"].data_ptr() == vec and second["vec"].data_ptr() == vec + 8 * WIDTH * 4


@pytest.mark.parametrize("drop_last", [False, True])
def test_two_ranks_two_workers_every_row_once(files, drop_last):
    per_rank = []
    for rank in range(2):
        ds = S3ParquetDataset(
            files,
            columns=["id", "vec", "name"],
            batch_size=10,
            shuffle=True,
            seed=5,
            shuffle_buffer=20,
            rank=rank,
            world_size=2,
            drop_last=drop_last,
        )
        loader = DataLoader(ds, batch_size=None, num_workers=2, multiprocessing_context="fork")
        per_rank.append([ids_of(b) for b in loader])
    assert len(per_rank[0]) == len(per_rank[1]) > 0, "every rank takes as many steps"
    rows = [i for batches in per_rank for b in batches for i in b]
    if drop_last:
        assert all(len(b) == 10 for batches in per_rank for b in batches)
        assert len(set(rows)) == len(rows), "no row twice"
    else:
        assert set(rows) == set(range(N)), "no row lost"
        assert len(rows) - N < 2 * 2 * 40, "only the padding that evens the ranks"


def test_shuffle_is_fixed_by_seed_and_epoch(files):
    def order(epoch, seed=1):
        ds = S3ParquetDataset(files, columns=["id"], batch_size=7, shuffle=True, seed=seed)
        ds.set_epoch(epoch)
        return [i for b in ds for i in b["id"].tolist()]

    assert order(0) == order(0) and sorted(order(0)) == list(range(N))
    assert order(1) != order(0) and order(0, seed=2) != order(0)
    assert order(0) != list(range(N))


def test_resumes_exactly_in_the_middle_of_a_row_group(files):
    def make():
        return S3ParquetDataset(
            files,
            columns=["id", "vec", "name"],
            batch_size=6,
            shuffle=True,
            seed=3,
            shuffle_buffer=9,
        )

    whole = [ids_of(b) for b in make()]
    first = make()
    it = iter(first)
    taken = [ids_of(next(it)) for _ in range(5)]  # 30 rows: inside the first row group
    state = first.state_dict()
    del it
    resumed = make()
    resumed.load_state_dict(state)
    assert taken + [ids_of(b) for b in resumed] == whole


@pytest.mark.filterwarnings("ignore:'set_vital' is deprecated:UserWarning")
def test_resume_through_a_stateful_loader_with_workers(files):
    stateful = pytest.importorskip("torchdata.stateful_dataloader")

    def loader():
        ds = S3ParquetDataset(files, columns=["id"], batch_size=5, shuffle=True, seed=9)
        return stateful.StatefulDataLoader(ds, batch_size=None, num_workers=2)

    whole = sorted(i for b in loader() for i in b["id"].tolist())
    first = loader()
    it = iter(first)
    taken = [i for _ in range(7) for i in next(it)["id"].tolist()]
    state = first.state_dict()
    del it
    resumed = loader()
    resumed.load_state_dict(state)
    rest = [i for b in resumed for i in b["id"].tolist()]
    assert sorted(taken + rest) == whole


def test_bad_input_names_the_file_and_the_column(files):
    with pytest.raises(s3dlio.InvalidArgumentError, match="nope") as err:
        S3ParquetDataset(files, columns=["id", "nope"], batch_size=4)
    assert files[0] in str(err.value)
    with pytest.raises(ValueError, match="batch_size"):
        S3ParquetDataset(files, columns=["id"], batch_size=0)
    ds = S3ParquetDataset(files, columns=["id"], batch_size=4)
    s3dlio.put(files[1], s3dlio.get(files[0]))  # 97 rows where 25 were
    with pytest.raises(RuntimeError, match="part-1"):
        list(ds)


@pytest.mark.timeout(120)
def test_a_worker_batch_crosses_with_its_tensors_in_one_slot(files):
    from test_worker_slots import mapping_of

    def tagged(batch: dict) -> dict:
        return {**batch, "tag": "t"}  # a transform's dict crosses the same way

    for transform in (None, tagged):
        ds = S3ParquetDataset(
            files, columns=["id", "vec", "name"], batch_size=16, transform=transform
        )
        seen, slots = [], set()
        for batch in DataLoader(ds, batch_size=None, num_workers=1, timeout=60):
            assert type(batch) is dict and list(batch)[:3] == ["id", "vec", "name"]
            (path, inode), (vec_path, vec_inode) = (
                mapping_of(batch[c].data_ptr()) for c in ("id", "vec")
            )
            assert path == vec_path == "/memfd:s3dlio-slot" and inode == vec_inode
            assert batch["vec"].data_ptr() % 64 == 0 and batch["vec"].shape[1] == WIDTH
            assert batch.get("tag", "t") == "t"
            seen += ids_of(batch)
            slots.add(inode)
        assert sorted(seen) == list(range(N))
        assert len(slots) < len(seen) // 16, "slots are reused, batch after batch"
    # A transform's own type is left to torch.
    ds = S3ParquetDataset(files, columns=["id"], batch_size=64, transform=lambda b: (b["id"],))
    (ids,), *_ = DataLoader(ds, batch_size=None, num_workers=1, timeout=60)
    assert mapping_of(ids.data_ptr())[0] != "/memfd:s3dlio-slot"
