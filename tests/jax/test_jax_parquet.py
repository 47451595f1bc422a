"""s3dlio_jax.ParquetLoader: batches of Parquet columns as jax.Arrays
over the Arrow buffers, processes splitting the row groups, resume."""

import jax
import jax.numpy as jnp
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import s3dlio
import s3dlio_jax

GROUPS = [48, 32, 11]  # rows per row group of one file
N = sum(GROUPS)


def _file(prefix: str) -> str:
    table = pa.table({"id": np.arange(N, dtype=np.int32), "text": [str(i) for i in range(N)]})
    sink = pa.BufferOutputStream()
    with pq.ParquetWriter(sink, table.schema) as writer:
        start = 0
        for rows in GROUPS:
            writer.write_table(table.slice(start, rows))
            start += rows
    uri = f"{prefix}/jpq/data.parquet"
    s3dlio.put(uri, sink.getvalue())
    return uri


def _ids(batch) -> list[int]:
    ids = np.asarray(batch["id"]).tolist()
    assert batch["text"].to_pylist() == [str(i) for i in ids]
    return ids


def test_batches_of_every_row_over_the_arrow_buffers(prefix, monkeypatch):
    uri = _file(prefix)
    addresses = {}
    real = s3dlio._core.read_parquet

    def recording(uris, **kwargs):
        table = real(uris, **kwargs)
        addresses[tuple(kwargs["row_groups"])] = table.tensor("id").address
        return table

    monkeypatch.setattr(s3dlio._core, "read_parquet", recording)
    # 16 int32 rows: 64 bytes, so every batch of a row group starts on a
    # 64-byte boundary, as XLA needs to share memory.
    loader = s3dlio_jax.ParquetLoader([uri], columns=["id", "text"], batch_size=16)
    batches = list(loader)
    assert len(loader) == len(batches) == 6
    assert sum((_ids(b) for b in batches), []) == list(range(N))
    first = batches[0]["id"]
    assert isinstance(first, jax.Array) and first.dtype == jnp.int32
    assert first.unsafe_buffer_pointer() == addresses[(0,)]  # row group 0's buffer
    assert batches[1]["id"].unsafe_buffer_pointer() == addresses[(0,)] + 16 * 4


@pytest.mark.parametrize("drop", [False, True])
def test_processes_split_the_row_groups(file_prefix, drop):
    uri = _file(file_prefix)
    loaders = [
        s3dlio_jax.ParquetLoader(
            [uri],
            columns=["id", "text"],
            batch_size=8,
            shuffle=True,
            seed=2,
            process_index=p,
            process_count=2,
            drop_remainder=drop,
        )
        for p in range(2)
    ]
    per = [[_ids(b) for b in loader] for loader in loaders]
    assert len(per[0]) == len(per[1]) == len(loaders[0]) > 0
    rows = [i for batches in per for b in batches for i in b]
    if drop:
        assert all(len(b) == 8 for batches in per for b in batches)
        assert len(set(rows)) == len(rows)
    else:
        assert set(rows) == set(range(N))


def test_resumes_exactly(file_prefix):
    uri = _file(file_prefix)

    def make():
        return s3dlio_jax.ParquetLoader([uri], columns=["id", "text"], batch_size=7, shuffle=True)

    whole = [_ids(b) for b in make()]
    first = make()
    it = iter(first)
    taken = [_ids(next(it)) for _ in range(3)]
    state = first.state_dict()
    resumed = make()
    resumed.load_state_dict(state)
    assert taken + [_ids(b) for b in resumed] == whole
