"""Bad input to read_parquet and parquet_info: typed errors naming the URI
(and the column or row group), never a hang."""

import re

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import s3dlio


def _bytes() -> bytes:
    table = pa.table(
        {
            "id": np.arange(1000, dtype=np.int64),
            "maybe": pa.array([None if i % 3 else i for i in range(1000)], pa.int32()),
            "text": [f"t{i}" for i in range(1000)],
        }
    )
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, row_group_size=400)
    return sink.getvalue().to_pybytes()


@pytest.fixture
def uri(prefix) -> str:
    uri = f"{prefix}/data/ok.parquet"
    s3dlio.put(uri, _bytes())
    return uri


def _names(err: pytest.ExceptionInfo, *words: str) -> None:
    for word in words:
        assert word in str(err.value), f"{word!r} not in {err.value}"


@pytest.mark.parametrize(
    "content",
    [b"this is not a parquet file", b"", b"PAR1", b"PAR1" + b"\x00" * 100 + b"PAR1"],
    ids=["text", "empty", "magic-only", "zero-footer"],
)
def test_not_parquet(prefix, content):
    bad = f"{prefix}/data/bad.parquet"
    s3dlio.put(bad, content)
    for call in (s3dlio.parquet_info, s3dlio.read_parquet):
        with pytest.raises(s3dlio.FormatError) as err:
            call(bad)
        _names(err, bad)


@pytest.mark.parametrize("cut", [1, 8, 200, 2000])
def test_a_truncated_file(prefix, cut):
    data = _bytes()
    bad = f"{prefix}/data/cut.parquet"
    s3dlio.put(bad, data[:-cut])
    for call in (s3dlio.parquet_info, s3dlio.read_parquet):
        with pytest.raises(s3dlio.FormatError) as err:
            call(bad)
        _names(err, bad)


def test_a_file_cut_before_its_footer(prefix):
    """The first half of a file and its footer: the footer's last chunks lie
    past the end (one starts inside the file, one after it)."""
    table = pa.table({"a": np.random.default_rng(0).random(20_000), "b": np.arange(20_000)})
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, row_group_size=5_000)
    data = sink.getvalue().to_pybytes()
    footer = int.from_bytes(data[-8:-4], "little") + 8
    bad = f"{prefix}/data/half.parquet"
    s3dlio.put(bad, data[: len(data) // 2] + data[-footer:])
    assert s3dlio.parquet_info(bad).num_rows == 20_000
    for columns in (["a"], ["b"], None):
        with pytest.raises(s3dlio.FormatError, match="past the file's end") as err:
            s3dlio.read_parquet(bad, columns=columns)
        _names(err, bad)


def test_a_file_cut_inside_its_data(file_prefix):
    """Footer intact, a column chunk's bytes garbled: FormatError on reading."""
    data = bytearray(_bytes())
    meta = pq.ParquetFile(pa.BufferReader(bytes(data))).metadata
    chunk = meta.row_group(1).column(2)
    start = chunk.dictionary_page_offset if chunk.has_dictionary_page else chunk.data_page_offset
    data[start : start + chunk.total_compressed_size] = b"\xff" * chunk.total_compressed_size
    bad = f"{file_prefix}/garbled.parquet"
    s3dlio.put(bad, bytes(data))
    assert s3dlio.parquet_info(bad).num_rows == 1000
    assert s3dlio.read_parquet(bad, columns=["id"]).num_rows == 1000  # other chunks fine
    with pytest.raises(s3dlio.FormatError) as err:
        s3dlio.read_parquet(bad, columns=["text"])
    _names(err, bad)


def test_a_missing_column_or_row_group(uri):
    with pytest.raises(s3dlio.InvalidArgumentError) as err:
        s3dlio.read_parquet(uri, columns=["id", "nope"])
    _names(err, uri, '"nope"')
    with pytest.raises(s3dlio.InvalidArgumentError) as err:
        s3dlio.read_parquet(uri, columns=["id", "id"])
    _names(err, uri, "twice")
    with pytest.raises(s3dlio.InvalidArgumentError) as err:
        s3dlio.read_parquet(uri, row_groups=[0, 3])
    _names(err, uri, "row group 3", "it has 3")


def test_tensors_of_strings_or_nulls(uri):
    table = s3dlio.read_parquet(uri, row_groups=[0])
    for name, why in [("text", "not fixed-width"), ("maybe", "nulls")]:
        with pytest.raises(s3dlio.InvalidArgumentError, match=why) as err:
            table.tensor(name)
        _names(err, f'"{name}"', uri)
    with pytest.raises(s3dlio.InvalidArgumentError) as err:
        table.tensor("nope")
    _names(err, '"nope"', uri)
    with pytest.raises(s3dlio.InvalidArgumentError, match="not binary or string"):
        table.column("id").views()


def test_a_missing_object(prefix, uri):
    gone = f"{prefix}/data/gone.parquet"
    for call in (s3dlio.parquet_info, s3dlio.read_parquet):
        with pytest.raises(s3dlio.ObjectNotFoundError) as err:
            call(gone)
        _names(err, gone)
    with pytest.raises(s3dlio.ObjectNotFoundError) as err:
        s3dlio.read_parquet([uri, gone])
    _names(err, gone)


def test_an_empty_prefix_is_an_empty_table(prefix):
    table = s3dlio.read_parquet(f"{prefix}/nothing/")
    assert table.num_rows == 0 and table.column_names == []


def test_bad_arguments(uri):
    with pytest.raises(s3dlio.InvalidArgumentError, match="batch_size"):
        s3dlio.read_parquet(uri, batch_size=0)
    with pytest.raises(ValueError, match="max_in_flight"):
        s3dlio.read_parquet(uri, max_in_flight=0)
    with pytest.raises(ValueError, match="max_in_flight"):
        s3dlio.read_parquet(uri, max_in_flight=-1)
    with pytest.raises(s3dlio.InvalidUriError):
        s3dlio.read_parquet("nope://x/y.parquet")
    with pytest.raises((TypeError, OverflowError)):
        s3dlio.read_parquet(uri, row_groups=[-1])
    with pytest.raises(s3dlio.InvalidArgumentError, match=re.escape(uri)):
        s3dlio.read_parquet(uri, row_groups=[2**40])
