"""What the ecosystem does with an fsspec filesystem, over s3dlio on
s3:// (moto): pandas' ``read_parquet``/``to_parquet`` through
``storage_options`` once ``register("s3")``, a pyarrow dataset over the
filesystem (pyarrow wraps it in ``PyFileSystem(FSSpecHandler(fs))``),
and a ``torch.distributed.checkpoint`` round trip through
``FsspecWriter``/``FsspecReader``. No other s3:// implementation (s3fs) is
installed: fsspec reaches s3:// only through the registered one."""

from __future__ import annotations

import pytest
from fsspec.registry import _registry

import s3dlio
import s3dlio.fsspec

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")


@pytest.fixture
def registered_s3():
    """``register("s3")``, undone afterwards."""
    before = _registry.get("s3")
    yield s3dlio.fsspec.register("s3")
    if before is None:
        _registry.pop("s3", None)
    else:
        _registry["s3"] = before


def _parquet(table) -> bytes:
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, row_group_size=50)
    return sink.getvalue().to_pybytes()


def test_pandas_reads_and_writes_parquet_through_s3dlio(registered_s3, s3_prefix, moto_server):
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame({"x": range(200), "y": [f"r{i}" for i in range(200)]})
    options = {"aws_endpoint_url": moto_server}
    frame.to_parquet(f"{s3_prefix}/frame.parquet", storage_options=options)
    assert s3dlio.stat(f"{s3_prefix}/frame.parquet").size > 0  # written by our writer
    back = pd.read_parquet(f"{s3_prefix}/frame.parquet", storage_options=options)
    pd.testing.assert_frame_equal(back, frame)
    some = pd.read_parquet(f"{s3_prefix}/frame.parquet", columns=["y"], storage_options=options)
    assert list(some["y"][:2]) == ["r0", "r1"]


def test_a_pyarrow_dataset_over_the_filesystem(registered_s3, s3_prefix):
    import pyarrow.dataset as ds

    for i in range(3):
        table = pa.table({"part": [i] * 100, "v": list(range(i * 100, i * 100 + 100))})
        s3dlio.put(f"{s3_prefix}/ds/part-{i}.parquet", _parquet(table))
    fs = registered_s3()
    dataset = ds.dataset(f"{s3_prefix}/ds", filesystem=fs, format="parquet")
    assert sorted(f.rsplit("/", 1)[-1] for f in dataset.files) == [
        f"part-{i}.parquet" for i in range(3)
    ]
    table = dataset.to_table(filter=ds.field("part") == 1)
    assert table.num_rows == 100 and table["v"].to_pylist() == list(range(100, 200))
    assert dataset.count_rows() == 300


# One process, no process group: torch says it assumes so; and an object
# store's stream has no file descriptor to fsync (published on close).
@pytest.mark.filterwarnings("ignore:torch.distributed is disabled:UserWarning")
@pytest.mark.filterwarnings("ignore:fsync not supported for this stream:UserWarning")
def test_a_torch_distributed_checkpoint_round_trip(registered_s3, s3_prefix):
    torch = pytest.importorskip("torch")
    import torch.distributed.checkpoint as dcp
    from torch.distributed.checkpoint import FsspecReader, FsspecWriter

    state = {"w": torch.arange(1000, dtype=torch.float32), "b": torch.ones(3, 4)}
    path = f"{s3_prefix}/ckpt/step-1"
    dcp.save(state, storage_writer=FsspecWriter(path))
    assert s3dlio.exists(f"{path}/.metadata")
    loaded = {"w": torch.zeros(1000), "b": torch.zeros(3, 4)}
    dcp.load(loaded, storage_reader=FsspecReader(path))
    assert torch.equal(loaded["w"], state["w"]) and torch.equal(loaded["b"], state["b"])
