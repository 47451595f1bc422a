"""read_parquet and parquet_info: Parquet files written by pyarrow read
back identical, only the chosen columns fetched, columns handed out
without a copy."""

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import s3dlio

ROWS, GROUP = 10_000, 3_000


def _table() -> pa.Table:
    rng = np.random.default_rng(0)
    return pa.table(
        {
            "id": np.arange(ROWS, dtype=np.int64),
            "x": rng.random(ROWS),
            "text": [f"row {i}" for i in range(ROWS)],
            "vec": pa.FixedSizeListArray.from_arrays(
                pa.array(rng.random(ROWS * 4).astype(np.float32)), 4
            ),
        }
    )


@pytest.fixture
def parquet_uri(prefix) -> str:
    sink = pa.BufferOutputStream()
    pq.write_table(_table(), sink, row_group_size=GROUP)
    uri = f"{prefix}/data/part-0.parquet"
    s3dlio.put(uri, sink.getvalue())
    return uri


def test_footer_alone(parquet_uri):
    info = s3dlio.parquet_info(parquet_uri)
    assert info.num_rows == ROWS
    assert [rows for rows, _ in info.row_groups] == [3000, 3000, 3000, 1000]
    assert all(size > 0 for _, size in info.row_groups)
    assert pa.schema(info.schema) == _table().schema
    assert info.column_names == ["id", "x", "text", "vec"]


def test_columns_in_the_order_asked_read_back_identical(parquet_uri):
    table = s3dlio.read_parquet(parquet_uri, columns=["vec", "id"])
    assert table.num_batches == 4  # a batch per row group
    assert pa.table(table).equals(_table().select(["vec", "id"]))
    assert pa.table(s3dlio.read_parquet([parquet_uri])).equals(_table())


def test_row_groups_and_batch_size(parquet_uri):
    table = s3dlio.read_parquet(parquet_uri, row_groups=[3, 1], batch_size=1000, columns=["id"])
    assert [len(b) for b in table.batches()] == [1000] * 4
    ids = pa.table(table)["id"].to_numpy()
    assert np.array_equal(ids, np.r_[9000:10000, 3000:6000])


def test_numeric_columns_are_tensors_over_the_arrow_buffers(parquet_uri):
    (batch, *_) = s3dlio.read_parquet(parquet_uri, columns=["id", "vec"]).batches()
    ids, vec = np.from_dlpack(batch.tensor("id")), np.from_dlpack(batch.tensor("vec"))
    assert ids.shape == (GROUP,) and vec.shape == (GROUP, 4) and vec.dtype == np.float32
    arrow = pa.array(batch.column("id"))
    assert ids.ctypes.data == arrow.buffers()[1].address
    assert np.array_equal(ids, np.arange(GROUP))


def test_bad_input_names_the_file_and_the_column(parquet_uri, prefix):
    with pytest.raises(s3dlio.InvalidArgumentError, match="nope") as err:
        s3dlio.read_parquet(parquet_uri, columns=["id", "nope"])
    assert parquet_uri in str(err.value)
    with pytest.raises(s3dlio.InvalidArgumentError, match="row group 4"):
        s3dlio.read_parquet(parquet_uri, row_groups=[4])
    (batch, *_) = s3dlio.read_parquet(parquet_uri, columns=["text"]).batches()
    with pytest.raises(s3dlio.InvalidArgumentError, match="text"):
        batch.tensor("text")
    bad = f"{prefix}/data/not.parquet"
    s3dlio.put(bad, b"this is not a parquet file")
    with pytest.raises(s3dlio.FormatError, match=bad):
        s3dlio.parquet_info(bad)
