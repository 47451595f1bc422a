"""put_many takes Arrow input: a table or record batch with `uri` and `data`
columns, or URIs with `data=` a binary array, read in place through the
Arrow C data and stream interfaces (no payload becomes Python bytes)."""

import tracemalloc

import pyarrow as pa
import pytest

import s3dlio

MiB = 1024 * 1024


def _values(n, size=100):
    return [bytes([i % 256]) * (size + i) for i in range(n)]


def _stored(uris):
    return [bytes(v) for _, v in s3dlio.get_many(uris)]


def test_a_table_with_uri_and_data_columns(prefix):
    uris = [f"{prefix}/t/{i:02d}" for i in range(20)]
    values = _values(20)
    table = pa.table({"uri": uris, "data": pa.array(values, pa.binary()), "extra": range(20)})
    assert s3dlio.put_many(table) is None
    assert _stored(uris) == values


def test_a_record_batch_and_a_table_of_several_batches(file_prefix):
    uris = [f"{file_prefix}/b/{i}" for i in range(6)]
    values = _values(6)
    batch = pa.record_batch({"uri": uris, "data": pa.array(values, pa.binary())})
    s3dlio.put_many(batch)
    assert _stored(uris) == values
    again = [v[::-1] + b"!" for v in values]
    table = pa.Table.from_batches(
        [
            pa.record_batch({"uri": uris[:2], "data": pa.array(again[:2], pa.binary())}),
            pa.record_batch({"uri": uris[2:], "data": pa.array(again[2:], pa.binary())}),
        ]
    )
    assert table.column("data").num_chunks == 2
    s3dlio.put_many(table, max_in_flight=2)
    assert _stored(uris) == again


@pytest.mark.parametrize("uri_type", [pa.string(), pa.large_string(), pa.string_view()])
@pytest.mark.parametrize(
    "data_type", [pa.binary(), pa.large_binary(), pa.binary_view(), pa.binary(300)]
)
def test_every_string_and_binary_type(file_prefix, uri_type, data_type):
    uris = [f"{file_prefix}/types/{i}" for i in range(5)]
    # 300 bytes: past the 12 a binary view holds inline; 5 bytes: inline.
    values = [bytes([i]) * 300 for i in range(4)] + [b"x" * 300]
    if data_type != pa.binary(300):
        values[1] = b"short"
    table = pa.table({"uri": pa.array(uris, uri_type), "data": pa.array(values, data_type)})
    s3dlio.put_many(table)
    assert _stored(uris) == values


def test_a_sliced_table_writes_only_its_rows(file_prefix):
    uris = [f"{file_prefix}/s/{i}" for i in range(10)]
    values = _values(10)
    table = pa.table({"uri": uris, "data": values}).slice(3, 4)
    s3dlio.put_many(table)
    assert _stored(uris[3:7]) == values[3:7]
    assert s3dlio.list(f"{file_prefix}/s") == sorted(uris[3:7])


def test_uris_with_a_binary_array_as_data(prefix):
    uris = [f"{prefix}/d/{i}" for i in range(8)]
    values = _values(8)
    s3dlio.put_many(uris, data=pa.array(values, pa.binary()))
    assert _stored(uris) == values
    chunked = pa.chunked_array([values[:3], values[3:]], pa.large_binary())
    s3dlio.put_many(uris[::-1], data=chunked)
    assert _stored(uris[::-1]) == values


def test_a_fetched_batch_and_table_are_arrow_input(file_prefix):
    uris = [f"{file_prefix}/src/{i}" for i in range(5)]
    values = _values(5)
    s3dlio.put_many(list(zip(uris, values, strict=True)))
    copies = [u.replace("/src/", "/copy/") for u in uris]
    s3dlio.put_many(copies, data=s3dlio.get_batch(uris))
    assert _stored(copies) == values
    table = pa.table(s3dlio.read_table(uris))
    moved = [u.replace("/src/", "/moved/") for u in uris]
    s3dlio.put_many(table.set_column(0, "uri", pa.array(moved)))
    assert _stored(moved) == values


def test_an_empty_table_writes_nothing(file_prefix):
    empty = pa.table({"uri": pa.array([], pa.string()), "data": pa.array([], pa.binary())})
    assert s3dlio.put_many(empty) is None
    assert s3dlio.put_many([], data=pa.array([], pa.binary())) is None


def test_arrow_payloads_are_not_copied_into_python_bytes(file_prefix):
    n = 64
    values = pa.array([bytes([i]) * MiB for i in range(n)], pa.binary())
    uris = [f"{file_prefix}/big/{i:02d}" for i in range(n)]
    table = pa.table({"uri": uris, "data": values})
    arrow_before = pa.total_allocated_bytes()
    tracemalloc.start()
    try:
        s3dlio.put_many(table)
        s3dlio.put_many(uris, data=values)
        _, python_peak = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        # The instrument sees a copy into Python bytes when there is one.
        as_bytes = values.to_pylist()
        _, copy_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert copy_peak >= n * MiB
    del as_bytes
    # Python allocated next to nothing for 64 MiB of payloads: the URIs and
    # the call's own small objects, no bytes of the values.
    assert python_peak < MiB
    # Nor did pyarrow make a copy (exporting allocates no buffers).
    assert pa.total_allocated_bytes() == arrow_before
    assert _stored(uris[5:6]) == [bytes([5]) * MiB]


def test_arrow_memory_owned_by_python_objects(prefix):
    """Values over a Python bytes object (pa.py_buffer): the producer's
    release, on whichever thread drops the last slice, takes the GIL itself."""
    n, size = 16, 4096
    payload = bytes(range(256)) * (n * size // 256)
    offsets = pa.array([i * size for i in range(n + 1)], pa.int32()).buffers()[1]
    values = pa.Array.from_buffers(pa.binary(), n, [None, offsets, pa.py_buffer(payload)])
    assert values.buffers()[2].address == pa.py_buffer(payload).address
    uris = [f"{prefix}/py/{i:02d}" for i in range(n)]
    for _ in range(3):
        s3dlio.put_many(uris, data=values, max_in_flight=4)
    del values
    assert _stored(uris) == [payload[i * size : (i + 1) * size] for i in range(n)]


# --- what is refused ------------------------------------------------------------------


def test_a_missing_column_is_a_type_error_naming_it(file_prefix):
    table = pa.table({"name": [f"{file_prefix}/x"], "data": [b"x"]})
    with pytest.raises(TypeError, match='no column "uri"'):
        s3dlio.put_many(table)
    table = pa.table({"uri": [f"{file_prefix}/x"], "bytes": [b"x"]})
    with pytest.raises(TypeError, match='no column "data"'):
        s3dlio.put_many(table)


def test_a_column_of_another_type_is_a_type_error(file_prefix):
    table = pa.table({"uri": [f"{file_prefix}/x"], "data": [5]})
    with pytest.raises(TypeError, match="column data must be binary or string, got Int64"):
        s3dlio.put_many(table)
    with pytest.raises(TypeError, match="column uri"):
        s3dlio.put_many(pa.table({"uri": [1], "data": [b"x"]}))


def test_a_bare_array_as_items_is_a_type_error_pointing_at_data(file_prefix):
    with pytest.raises(TypeError, match="data="):
        s3dlio.put_many(pa.array([b"x"], pa.binary()))
    with pytest.raises(TypeError, match="data="):
        s3dlio.put_many(_a_view(file_prefix))


def _a_view(prefix):
    s3dlio.put(f"{prefix}/v", b"abc")
    return s3dlio.get(f"{prefix}/v")


def test_null_values_are_refused_naming_the_row(file_prefix):
    uri = f"{file_prefix}/n"
    with pytest.raises(s3dlio.InvalidArgumentError, match=f"{uri}.*null"):
        s3dlio.put_many(pa.table({"uri": [uri], "data": pa.array([None], pa.binary())}))
    with pytest.raises(s3dlio.InvalidArgumentError, match="row 1: uri is null"):
        s3dlio.put_many(pa.table({"uri": [uri, None], "data": [b"a", b"b"]}))
    with pytest.raises(s3dlio.InvalidArgumentError, match=f"{uri}.*null"):
        s3dlio.put_many([uri], data=pa.array([None], pa.binary()))
    assert not s3dlio.exists(uri)


def test_counts_must_match(file_prefix):
    uris = [f"{file_prefix}/c/{i}" for i in range(3)]
    with pytest.raises(s3dlio.InvalidArgumentError, match="3 URIs but 2 data values"):
        s3dlio.put_many(uris, data=pa.array([b"a", b"b"]))
    with pytest.raises(TypeError):
        s3dlio.put_many(uris, data=[b"a", b"b", b"c"])  # data= is Arrow only
    assert s3dlio.list(f"{file_prefix}/c") == []


def test_bad_uris_in_arrow_input_are_invalid_uri_errors(file_prefix):
    with pytest.raises(s3dlio.InvalidUriError, match="nope://x"):
        s3dlio.put_many(pa.table({"uri": ["nope://x"], "data": [b"x"]}))
