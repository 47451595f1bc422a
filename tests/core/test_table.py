"""read_table: an Arrow table (uri, size, data) whose data values are the
fetched memory, read by pyarrow through the C stream interface."""

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

import s3dlio


def test_table_of_a_prefix_shares_the_fetched_memory(prefix, tmp_path):
    rng = np.random.default_rng(3)
    items = {
        f"{prefix}/t/{i:02d}.bin": rng.integers(0, 256, 1000 + i, dtype=np.uint8).tobytes()
        for i in range(20)
    }
    s3dlio.put_many(list(items.items()))
    t = s3dlio.read_table(f"{prefix}/t")
    assert t.num_rows == 20 and t.column_names == ["uri", "size", "data"]
    table = pa.table(t)
    assert table.column_names == ["uri", "size", "data"]
    assert table.column("uri").to_pylist() == sorted(items)
    assert table.column("size").to_pylist() == [len(items[u]) for u in sorted(items)]
    assert table.column("data").to_pylist() == [items[u] for u in sorted(items)]
    # The values buffer is the one batch buffer the objects were fetched into.
    chunk = table.column("data").chunks[0]
    values = chunk.buffers()[2]
    batch = s3dlio.get_batch(sorted(items))
    assert values.size == batch.nbytes
    assert values.address % 64 == 0
    # Exporting twice shares the same memory (no copy per export).
    again = pa.table(t).column("data").chunks[0].buffers()[2]
    assert again.address == values.address

    path = tmp_path / "objects.parquet"
    pq.write_table(table, path)
    assert pq.read_table(path).equals(table)


def test_table_of_a_uri_list_keeps_input_order(prefix):
    uris = [f"{prefix}/o/{name}" for name in ("c", "a", "b")]
    s3dlio.put_many([(u, u.encode()) for u in uris])
    table = pa.table(s3dlio.read_table(uris))
    assert table.column("uri").to_pylist() == uris
    assert table.column("data").to_pylist() == [u.encode() for u in uris]
    batch = s3dlio.get_batch(uris)
    arr = pa.array(batch)
    assert arr.buffers()[2].address == batch.address
