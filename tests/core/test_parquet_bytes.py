"""On s3:// a projection fetches only its columns' chunks and the footer,
as the library's own byte counter (buffer_stats()["body_bytes"]) says."""

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

import s3dlio

COLUMNS, ROWS, GROUP = 16, 48_000, 12_000
TAIL = 64 << 10  # the one read of a file's end that gets its footer


def _file() -> bytes:
    rng = np.random.default_rng(1)
    # Random floats: incompressible, so every chunk is ~GROUP * 8 bytes.
    table = pa.table({f"c{j:02d}": rng.random(ROWS) for j in range(COLUMNS)})
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, row_group_size=GROUP, compression="snappy")
    return sink.getvalue().to_pybytes()


def _body_bytes() -> int:
    return s3dlio.buffer_stats()["body_bytes"]


def test_two_of_sixteen_columns_fetch_their_chunks_and_the_tail(s3_prefix):
    data = _file()
    meta = pq.ParquetFile(pa.BufferReader(data)).metadata
    assert meta.num_row_groups == 4 and len(data) > 5_000_000
    footer = meta.serialized_size + 8  # the metadata, its length, "PAR1"
    assert footer < TAIL  # so the tail read holds all of it: no second read
    chosen = [3, 11]  # apart: the chunks of the others lie between them
    chunks = sum(
        meta.row_group(g).column(j).total_compressed_size
        for g in range(meta.num_row_groups)
        for j in chosen
    )
    uri = f"{s3_prefix}/wide.parquet"
    s3dlio.put(uri, data)

    before = _body_bytes()
    table = s3dlio.read_parquet(uri, columns=[f"c{j:02d}" for j in chosen])
    fetched = _body_bytes() - before
    # The bound: the tail read (min(64 KiB, file size) bytes; it holds the
    # footer) plus the chosen chunks over all row groups, with 10 % slack
    # for merged neighbouring reads. Reading a third column's chunks would
    # add ~1/2 of `chunks` and break it; reading the footer alone instead
    # of the tail would only lower `fetched`.
    bound = 1.1 * chunks + min(TAIL, len(data))
    assert chunks <= fetched <= bound, f"{fetched} bytes fetched, bound {bound:.0f}"
    assert fetched < len(data) / 6
    want = pq.read_table(pa.BufferReader(data), columns=["c03", "c11"])
    assert pa.table(table).equals(want)


def test_the_footer_alone_is_one_tail_read(s3_prefix):
    data = _file()
    uri = f"{s3_prefix}/wide.parquet"
    s3dlio.put(uri, data)
    before = _body_bytes()
    info = s3dlio.parquet_info(uri)
    fetched = _body_bytes() - before
    assert info.num_rows == ROWS and len(info.column_names) == COLUMNS
    meta = pq.ParquetFile(pa.BufferReader(data)).metadata
    assert info.row_groups == [
        (GROUP, sum(meta.row_group(g).column(j).total_compressed_size for j in range(COLUMNS)))
        for g in range(meta.num_row_groups)
    ]
    assert 0 < fetched <= TAIL < len(data)


def test_a_footer_larger_than_the_tail(s3_prefix):
    table = pa.table({"a": np.arange(1000), "b": np.arange(1000.0)})
    # Key-value metadata lives in the footer (twice: as itself and inside
    # the stored Arrow schema).
    table = table.replace_schema_metadata({"notes": "n" * 100_000})
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink)
    data = sink.getvalue().to_pybytes()
    footer = pq.ParquetFile(pa.BufferReader(data)).metadata.serialized_size + 8
    assert footer > TAIL
    uri = f"{s3_prefix}/big-footer.parquet"
    s3dlio.put(uri, data)
    before = _body_bytes()
    info = s3dlio.parquet_info(uri)
    fetched = _body_bytes() - before
    assert pa.schema(info.schema).metadata[b"notes"] == b"n" * 100_000
    # The tail read, then one read of the whole footer.
    assert footer < fetched <= TAIL + footer, f"{fetched} bytes for a footer of {footer}"
    got = pa.table(s3dlio.read_parquet(uri, columns=["b"]))
    assert got.equals(table.select(["b"]))
