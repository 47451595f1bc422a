"""The columns read from Parquet are handed out without a copy: tensors,
byte views, pyarrow's arrays, batches and slices all over the same Arrow
buffers, asserted by address; take_rows gathers rows into a new batch."""

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import s3dlio

ROWS, GROUP = 1_000, 400


def _table() -> pa.Table:
    rng = np.random.default_rng(3)
    return pa.table(
        {
            "id": np.arange(ROWS, dtype=np.int64),
            "x": rng.random(ROWS).astype(np.float32),
            "text": [None if i % 10 == 3 else f"value {i}" for i in range(ROWS)],
            "blob": pa.array([rng.bytes(i % 7) for i in range(ROWS)], pa.large_binary()),
            "vec": pa.FixedSizeListArray.from_arrays(pa.array(rng.random(ROWS * 8)), 8),
        }
    )


@pytest.fixture(scope="module")
def parquet_file(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("pq") / "part.parquet"
    pq.write_table(_table(), path, row_group_size=GROUP)
    return "file://" + str(path)


def _address(tensor) -> int:
    return np.from_dlpack(tensor).ctypes.data


def test_tensors_are_the_arrow_value_buffers(parquet_file):
    (first, second, _) = s3dlio.read_parquet(parquet_file).batches()
    for name in ("id", "x"):
        values = pa.array(second.column(name)).buffers()[1]
        assert _address(second.tensor(name)) == values.address
        assert np.array_equal(np.from_dlpack(second.tensor(name)), _table()[name][400:800])
    # A fixed-size list: its child's values, [rows, width].
    vec = pa.array(first.column("vec"))
    values = vec.values.buffers()[1]
    tensor = np.from_dlpack(first.tensor("vec"))
    assert tensor.shape == (GROUP, 8) and tensor.ctypes.data == values.address
    # pyarrow's table of the same batch: the same buffers, no copy on export.
    exported = pa.table(first)
    assert exported["id"].chunks[0].buffers()[1].address == _address(first.tensor("id"))
    assert exported["vec"].chunks[0].values.buffers()[1].address == tensor.ctypes.data


def test_byte_views_lie_in_the_values_buffer(parquet_file):
    (batch, *_) = s3dlio.read_parquet(parquet_file, columns=["text", "blob"]).batches()
    for name in ("text", "blob"):
        arrow = pa.array(batch.column(name))
        values = arrow.buffers()[2]
        start, end = values.address, values.address + values.size
        views = batch.column(name).views()
        assert len(views) == GROUP
        want = arrow.to_pylist()
        for view, value in zip(views, want, strict=True):
            if value is None:
                assert view is None
                continue
            got = memoryview(view)
            raw = value.encode() if isinstance(value, str) else value
            assert bytes(got) == raw
            if len(raw):
                address = np.frombuffer(got, np.uint8).ctypes.data
                assert start <= address and address + len(raw) <= end
    assert batch.column("text").null_count == sum(1 for i in range(GROUP) if i % 10 == 3)


def test_batches_and_slices_share_the_table_memory(parquet_file):
    table = s3dlio.read_parquet(parquet_file, columns=["id", "vec"])
    (first, *_) = table.batches()
    again = table.batches()[0]
    assert _address(first.tensor("id")) == _address(again.tensor("id"))
    streamed = pa.table(table)["id"].chunks[0].buffers()[1].address
    assert streamed == _address(first.tensor("id"))
    part = first.slice(10, 5)
    assert len(part) == 5
    assert _address(part.tensor("id")) == _address(first.tensor("id")) + 10 * 8
    assert _address(part.tensor("vec")) == _address(first.tensor("vec")) + 10 * 8 * 8
    assert np.array_equal(np.from_dlpack(part.tensor("id")), np.arange(10, 15))
    assert first.slice(GROUP, 0).num_rows == 0
    with pytest.raises(s3dlio.InvalidArgumentError, match="past"):
        first.slice(GROUP - 2, 3)
    # A table of many batches asks for batches() first.
    with pytest.raises(s3dlio.InvalidArgumentError, match="batches"):
        table.tensor("id")
    with pytest.raises(s3dlio.InvalidArgumentError, match="batches"):
        table.slice(0, 1)


def test_take_rows_gathers_rows_of_two_batches(parquet_file):
    (a, b, _) = s3dlio.read_parquet(parquet_file).batches()
    rows = [(1, 5), (0, 399), (0, 0), (1, 0)]
    taken = s3dlio.take_rows([a, b], rows)
    assert taken.num_batches == 1 and taken.num_rows == 4
    want = _table().take([400 + 5, 399, 0, 400])
    assert pa.table(taken).equals(want)
    assert np.array_equal(np.from_dlpack(taken.tensor("id")), [405, 399, 0, 400])
    assert s3dlio.take_rows([a], []).num_rows == 0
    for bad in ([(2, 0)], [(0, GROUP)], [(1, 10**9)]):
        with pytest.raises(s3dlio.InvalidArgumentError, match="no row"):
            s3dlio.take_rows([a, b], bad)
    with pytest.raises(s3dlio.InvalidArgumentError, match="one record batch"):
        s3dlio.take_rows([s3dlio.read_parquet(parquet_file)], [(0, 0)])
    with pytest.raises(s3dlio.InvalidArgumentError, match="at least one"):
        s3dlio.take_rows([], [])
    # Tables of other columns: an error, not a crash.
    other = s3dlio.read_parquet(parquet_file, columns=["id"]).batches()[0]
    with pytest.raises(s3dlio.InvalidArgumentError, match="table 1"):
        s3dlio.take_rows([a, other], [(0, 0), (1, 0)])
    swapped = s3dlio.read_parquet(parquet_file, columns=["x", "id"]).batches()[0]
    narrow = s3dlio.read_parquet(parquet_file, columns=["id", "x"]).batches()[0]
    with pytest.raises(s3dlio.InvalidArgumentError, match="table 1"):
        s3dlio.take_rows([narrow, swapped], [(0, 0)])
