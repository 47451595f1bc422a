"""Suite 10 counts what it times: every contender's table and epoch over
the suite's Parquet files is checked (rows, sums of ``id``, bytes of
``text``, the embedding), and one that reads a file twice or misses one,
or gets a value wrong, is an error, not a figure."""

import importlib

import pytest

READERS = ["ours_parquet", "pyarrow_pq", "pyarrow_ds"]
EPOCHS = ["ours_pq_epoch", "ours_pq_shuffle", "pyarrow_iter"]


@pytest.fixture(scope="module")
def data(bench_run, tmp_path_factory):
    suite = importlib.import_module("_suite_parquet")
    made = suite.make_parquet(tmp_path_factory.mktemp("parquet"), 3, 100, 4, 30)
    assert made.rows == 300 and made.groups == 4 and made.sums["id_sum"] == 299 * 300 // 2
    assert 0 < made.chunk_bytes < made.total_bytes
    return made


def spec_for(data, who, names, sums=None):
    suite = importlib.import_module("_suite_parquet")
    return {
        **suite._spec(data, "file"),
        "names": names,
        "contender": who,
        "batch": 16,
        "workers": 0,
        "buffer": 64,
        "expect_sums": sums or data.sums,
    }


def run(who, spec):
    op, worker = importlib.import_module("_parquet_op"), importlib.import_module("_worker")
    if who in READERS:
        return op.parquet_read(spec, worker.measure)
    return op.parquet_epoch(spec, worker.measure)


@pytest.mark.parametrize("who", READERS + EPOCHS)
def test_a_read_holds_every_row_once(bench_run, data, who):
    out = run(who, spec_for(data, who, data.names))
    assert out["bytes"] == data.rows and out["seconds"] > 0


@pytest.mark.parametrize("who", READERS + EPOCHS)
@pytest.mark.parametrize("change", ["twice", "missing"])
def test_a_read_with_a_wrong_count_is_an_error(bench_run, data, who, change):
    names = data.names + data.names[:1] if change == "twice" else data.names[1:]
    with pytest.raises(SystemExit, match=f"{who}: read {{'rows': (400|200),"):
        run(who, spec_for(data, who, names))


@pytest.mark.parametrize("who", READERS + EPOCHS)
@pytest.mark.parametrize("key", ["text_bytes", "emb0"])
def test_a_read_with_wrong_values_is_an_error(bench_run, data, who, key):
    sums = {**data.sums, key: data.sums[key] + 1}
    with pytest.raises(SystemExit, match=f"{who}: read .* not "):
        run(who, spec_for(data, who, data.names, sums))
