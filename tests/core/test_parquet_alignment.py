"""Every fixed-width column read from Parquet starts on a 64-byte
boundary (the Arrow format's recommendation, and what XLA needs to share
memory), whatever the encoding left it at."""

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import s3dlio


@pytest.mark.parametrize(
    "how",
    [
        {},
        {"compression": "none"},
        {"use_dictionary": False},
        {"use_dictionary": False, "compression": "none"},
        {"data_page_size": 1024},
    ],
)
def test_numeric_columns_start_on_64_byte_boundaries(tmp_path, how):
    rng = np.random.default_rng(1)
    table = pa.table(
        {
            "i32": np.arange(3000, dtype=np.int32),
            "f64": rng.random(3000),
            "u8": rng.integers(0, 255, 3000, dtype=np.uint8),
            "vec": pa.FixedSizeListArray.from_arrays(
                pa.array(rng.random(3000 * 3).astype(np.float32)), 3
            ),
        }
    )
    path = tmp_path / "t.parquet"
    pq.write_table(table, path, row_group_size=1000, **how)
    read = s3dlio.read_parquet(f"file://{path}")
    assert pa.table(read).equals(table)
    for batch in read.batches():
        for name in batch.tensor_columns:
            assert batch.tensor(name).address % 64 == 0, (name, how)
