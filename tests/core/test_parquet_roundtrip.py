"""read_parquet reads back what pyarrow.parquet wrote, identical to
pyarrow.parquet.read_table: every encoding and codec pyarrow writes, nulls,
nested types, projections, row groups, batch sizes, prefixes of many files,
and every backend."""

import datetime
import decimal

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import s3dlio

ROWS, GROUP = 2_500, 700  # four row groups: 700, 700, 700, 400


def _mixed() -> pa.Table:
    """Every type the issue names, with nulls where a type allows them."""
    rng = np.random.default_rng(7)
    ints = rng.integers(-1000, 1000, ROWS)
    every_5th = [i % 5 == 0 for i in range(ROWS)]
    start = datetime.datetime(2024, 1, 1, tzinfo=datetime.UTC)
    return pa.table(
        {
            "i64": pa.array(ints, pa.int64()),
            "i32_nulls": pa.array(ints.astype(np.int32), mask=np.array(every_5th)),
            "f64_nulls": pa.array(rng.random(ROWS), mask=np.array(every_5th[::-1])),
            "f32": pa.array(rng.random(ROWS).astype(np.float32)),
            "u8": pa.array(rng.integers(0, 255, ROWS).astype(np.uint8)),
            "flag": pa.array([i % 3 == 0 for i in range(ROWS)]),
            # Few distinct values: dictionary-encoded when use_dictionary.
            "word": pa.array([None if i % 7 == 0 else f"w{i % 13}" for i in range(ROWS)]),
            "big_text": pa.array([f"text {i}" * (i % 4) for i in range(ROWS)], pa.large_string()),
            "blob": pa.array([rng.bytes(i % 9) for i in range(ROWS)], pa.binary()),
            "ts": pa.array(
                [start + datetime.timedelta(seconds=7 * i) for i in range(ROWS)],
                pa.timestamp("us", tz="UTC"),
            ),
            "ts_ms": pa.array(np.arange(ROWS, dtype=np.int64) * 1000, pa.timestamp("ms")),
            "ints": pa.array(
                [None if i % 11 == 0 else list(range(i % 5)) for i in range(ROWS)],
                pa.list_(pa.int64()),
            ),
            "point": pa.array(
                [{"x": i, "y": None if i % 4 == 0 else f"p{i}"} for i in range(ROWS)],
                pa.struct([("x", pa.int32()), ("y", pa.string())]),
            ),
            "points": pa.array(
                [[{"a": j, "b": float(i)} for j in range(i % 3)] for i in range(ROWS)],
                pa.list_(pa.struct([("a", pa.int16()), ("b", pa.float64())])),
            ),
            "vec": pa.FixedSizeListArray.from_arrays(
                pa.array(rng.random(ROWS * 3).astype(np.float32)), 3
            ),
        }
    )


def _bytes(table: pa.Table, **kwargs) -> bytes:
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, **kwargs)
    return sink.getvalue().to_pybytes()


def _expected(data: bytes, **kwargs) -> pa.Table:
    return pq.read_table(pa.BufferReader(data), **kwargs)


def _same(got: s3dlio.Table, want: pa.Table) -> None:
    table = pa.table(got)
    assert table.schema == want.schema
    assert table.equals(want), f"{table.slice(0, 3)}\n!=\n{want.slice(0, 3)}"


@pytest.mark.parametrize("compression", ["snappy", "zstd", "gzip", "lz4", "none"])
@pytest.mark.parametrize("use_dictionary", [True, False])
def test_every_codec_and_encoding(file_prefix, compression, use_dictionary):
    data = _bytes(
        _mixed(), row_group_size=GROUP, compression=compression, use_dictionary=use_dictionary
    )
    meta = pq.ParquetFile(pa.BufferReader(data)).metadata
    assert meta.num_row_groups == 4
    codecs = {meta.row_group(0).column(j).compression for j in range(meta.num_columns)}
    assert codecs == {"UNCOMPRESSED" if compression == "none" else compression.upper()}
    encodings = set(meta.row_group(0).column(6).encodings)  # "word"
    assert ("RLE_DICTIONARY" in encodings) == use_dictionary
    uri = f"{file_prefix}/{compression}-{use_dictionary}.parquet"
    s3dlio.put(uri, data)
    table = s3dlio.read_parquet(uri)
    assert table.num_batches == 4 and table.num_rows == ROWS
    _same(table, _expected(data))


def test_projections_row_groups_and_batch_sizes(prefix):
    data = _bytes(_mixed(), row_group_size=GROUP)
    uri = f"{prefix}/mixed.parquet"
    s3dlio.put(uri, data)
    # Nested columns, in the order asked for (not the file's).
    columns = ["points", "i64", "point", "ints"]
    _same(s3dlio.read_parquet(uri, columns=columns), _expected(data, columns=columns))
    # Row groups, in the order asked for, cut into batches of 300.
    table = s3dlio.read_parquet(uri, row_groups=[3, 0], batch_size=300, columns=["i64", "word"])
    assert [b.num_rows for b in table.batches()] == [300, 100, 300, 300, 100]
    file = pq.ParquetFile(pa.BufferReader(data))
    want = file.read_row_groups([3, 0], columns=["i64", "word"])
    _same(table, want)
    # A batch size larger than a row group: still a batch per row group.
    assert s3dlio.read_parquet(uri, batch_size=10**6, columns=["u8"]).num_batches == 4
    assert s3dlio.read_parquet(uri, row_groups=[], columns=["u8"]).num_rows == 0
    # No columns: the rows are still counted, as pyarrow counts them.
    assert (
        s3dlio.read_parquet(uri, columns=[]).num_rows
        == ROWS
        == pq.read_table(pa.BufferReader(data), columns=[]).num_rows
    )


def test_an_empty_table_and_a_file_of_no_row_groups(file_prefix):
    empty = _mixed().slice(0, 0)
    data = _bytes(empty)
    uri = f"{file_prefix}/empty.parquet"
    s3dlio.put(uri, data)
    want = _expected(data)
    assert pq.ParquetFile(pa.BufferReader(data)).metadata.num_row_groups in (0, 1)
    table = s3dlio.read_parquet(uri)
    assert table.num_rows == 0
    assert pa.table(table).schema == want.schema
    info = s3dlio.parquet_info(uri)
    assert info.num_rows == 0
    assert pa.schema(info.schema) == want.schema

    # A writer closed before any row: a footer, no row group.
    sink = pa.BufferOutputStream()
    pq.ParquetWriter(sink, empty.schema).close()
    none = sink.getvalue().to_pybytes()
    assert pq.ParquetFile(pa.BufferReader(none)).metadata.num_row_groups == 0
    uri = f"{file_prefix}/none.parquet"
    s3dlio.put(uri, none)
    assert s3dlio.parquet_info(uri).row_groups == []
    table = s3dlio.read_parquet(uri, columns=["ints", "i64"])
    assert table.num_rows == 0 and table.num_batches == 0
    assert pa.table(table).schema == want.select(["ints", "i64"]).schema


def _small(seed: int) -> pa.Table:
    rng = np.random.default_rng(seed)
    n = 100 + seed
    return pa.table({"k": pa.array(np.arange(n) + 1000 * seed), "v": rng.random(n)})


def test_a_prefix_reads_its_parquet_objects_in_name_order(prefix):
    base = f"{prefix}/ds/"
    # Written out of name order; not-Parquet objects beside them are ignored.
    for i in (2, 0, 10, 1):
        s3dlio.put(f"{base}part-{i:03d}.parquet", _bytes(_small(i), row_group_size=40))
    # Objects under the prefix at any depth, by their whole name.
    s3dlio.put(f"{base}sub/part-005.parquet", _bytes(_small(5)))
    s3dlio.put(f"{base}_SUCCESS", b"")
    s3dlio.put(f"{base}README.txt", b"not parquet")
    s3dlio.put(f"{base}part-x.parquet.crc", b"\x00\x01")
    table = s3dlio.read_parquet(base)
    want = pa.concat_tables([_small(i) for i in (0, 1, 2, 10, 5)])
    _same(table, want)
    # A list of files, in the list's order.
    uris = [f"{base}part-010.parquet", f"{base}part-001.parquet"]
    _same(s3dlio.read_parquet(uris), pa.concat_tables([_small(10), _small(1)]))


def test_files_of_two_schemas_are_an_error_naming_the_second(prefix):
    a, b = f"{prefix}/a.parquet", f"{prefix}/b.parquet"
    s3dlio.put(a, _bytes(_small(0)))
    s3dlio.put(b, _bytes(_small(1).rename_columns(["k", "w"])))
    with pytest.raises(s3dlio.InvalidArgumentError, match="differ") as err:
        s3dlio.read_parquet([a, b])
    assert b in str(err.value) and a not in str(err.value)
    # The columns both have: one schema again.
    _same(
        s3dlio.read_parquet([a, b], columns=["k"]),
        pa.concat_tables([_small(0), _small(1)]).select(["k"]),
    )


def test_every_backend(backend_prefix, seed):
    data = _bytes(_mixed(), row_group_size=GROUP, compression="zstd")
    uri = f"{backend_prefix}/mixed.parquet"
    seed(uri, data)
    _same(s3dlio.read_parquet(uri), _expected(data))
    _same(
        s3dlio.read_parquet(uri, columns=["word", "points"], row_groups=[2]),
        pq.ParquetFile(pa.BufferReader(data)).read_row_group(2, columns=["word", "points"]),
    )
    assert s3dlio.parquet_info(uri).num_rows == ROWS
    assert len(data) > 64 << 10  # larger than the tail read; the next one is smaller
    small = _bytes(_small(3), row_group_size=50)
    seed(f"{backend_prefix}/small.parquet", small)
    _same(s3dlio.read_parquet(f"{backend_prefix}/small.parquet"), _small(3))
    seed(f"{backend_prefix}/empty.parquet", b"")
    with pytest.raises(s3dlio.FormatError, match=f"{backend_prefix}/empty.parquet"):
        s3dlio.read_parquet(f"{backend_prefix}/empty.parquet")


@pytest.mark.parametrize(
    "options",
    [
        # Pages of v2, many pages a chunk, no Arrow schema stored (the
        # Parquet types alone say what to read).
        {"data_page_version": "2.0", "data_page_size": 1024, "store_schema": False},
        # Other plain encodings, per column.
        {
            "use_dictionary": False,
            "column_encoding": {
                "i64": "DELTA_BINARY_PACKED",
                "f32": "BYTE_STREAM_SPLIT",
                "big_text": "DELTA_LENGTH_BYTE_ARRAY",
                "blob": "DELTA_BYTE_ARRAY",
            },
        },
        # A dictionary that outgrows its page limit falls back to plain.
        {"dictionary_pagesize_limit": 256, "write_statistics": False},
    ],
    ids=["v2-pages-no-arrow-schema", "delta-and-split", "dictionary-fallback"],
)
def test_other_page_layouts(file_prefix, options):
    data = _bytes(_mixed(), row_group_size=GROUP, **options)
    uri = f"{file_prefix}/layout.parquet"
    s3dlio.put(uri, data)
    _same(s3dlio.read_parquet(uri), _expected(data))


def test_more_arrow_types(file_prefix):
    n = 300
    table = pa.table(
        {
            "dict": pa.array([f"d{i % 5}" for i in range(n)]).dictionary_encode(),
            "date": pa.array(np.arange(n, dtype=np.int32), pa.date32()),
            "dec": pa.array([decimal.Decimal(i * 7) / 100 for i in range(n)], pa.decimal128(12, 2)),
            "map": pa.array(
                [[("a", i), ("b", None)] if i % 3 else None for i in range(n)],
                pa.map_(pa.string(), pa.int32()),
            ),
            "lists": pa.array([[[i], [], None] for i in range(n)], pa.list_(pa.list_(pa.int64()))),
            "large_list": pa.array([[i] * (i % 3) for i in range(n)], pa.large_list(pa.int32())),
            "u64": pa.array(np.arange(n, dtype=np.uint64) << np.uint64(60)),
            "f16": pa.array(np.arange(n).astype(np.float16)),
            "fixed": pa.array([bytes([i % 256]) * 4 for i in range(n)], pa.binary(4)),
            "nothing": pa.nulls(n),
            "ts_ns": pa.array(np.arange(n, dtype=np.int64), pa.timestamp("ns", tz="Europe/Paris")),
            "view": pa.array([f"s{i}" for i in range(n)], pa.string_view()),
        }
    )
    data = _bytes(table, row_group_size=100)
    uri = f"{file_prefix}/types.parquet"
    s3dlio.put(uri, data)
    _same(s3dlio.read_parquet(uri), _expected(data))
    (batch, *_) = s3dlio.read_parquet(uri, columns=["u64", "f16"]).batches()
    assert np.array_equal(np.from_dlpack(batch.tensor("u64")), table["u64"][:100])
    assert np.from_dlpack(batch.tensor("f16")).dtype == np.float16


def _fixed(values: np.ndarray, width: int, mask: np.ndarray | None = None) -> pa.Array:
    return pa.FixedSizeListArray.from_arrays(pa.array(values), width, mask=mask)


def test_fixed_size_lists_with_and_without_nulls(prefix):
    # Fixed-size lists of numbers with no null are decoded flat (their
    # values as one buffer); a row group holding a null list or a null
    # item, and lists inside lists, go through the crate's list reader.
    rng = np.random.default_rng(3)
    null_list = np.zeros(ROWS, bool)
    null_list[5] = True  # row group 0 only
    items: list = rng.integers(-9, 9, ROWS * 3).astype(np.int32).tolist()
    items[GROUP * 3 + 4] = None  # an item of a list of row group 1
    table = pa.table(
        {
            "f32x4": _fixed(rng.random(ROWS * 4).astype(np.float32), 4),
            "f64x2_null_list": _fixed(rng.random(ROWS * 2), 2, pa.array(null_list)),
            "i32x3_null_item": pa.FixedSizeListArray.from_arrays(pa.array(items, pa.int32()), 3),
            "i64x2": _fixed(rng.integers(0, 1 << 40, ROWS * 2), 2),
            "nested": pa.array(
                [[[float(i), 1.0]] * (i % 3) for i in range(ROWS)],
                pa.list_(pa.list_(pa.float32(), 2)),
            ),
            "u8": pa.array(rng.integers(0, 255, ROWS).astype(np.uint8)),
        }
    )
    for dictionary in (True, False):
        data = _bytes(table, row_group_size=GROUP, use_dictionary=dictionary)
        uri = f"{prefix}/fixed-{dictionary}.parquet"
        s3dlio.put(uri, data)
        _same(s3dlio.read_parquet(uri), _expected(data))
        columns = ["i64x2", "u8", "f32x4", "i32x3_null_item", "nested", "f64x2_null_list"]
        got = s3dlio.read_parquet(uri, columns=columns, row_groups=[1, 0], batch_size=300)
        assert [b.num_rows for b in got.batches()] == [300, 300, 100, 300, 300, 100]
        want = pq.ParquetFile(pa.BufferReader(data)).read_row_groups([1, 0], columns=columns)
        _same(got, want)
        flat_only = s3dlio.read_parquet(uri, columns=["f32x4"], batch_size=1000)
        assert [b.num_rows for b in flat_only.batches()] == [700, 700, 700, 400]
        _same(flat_only, _expected(data, columns=["f32x4"]))
