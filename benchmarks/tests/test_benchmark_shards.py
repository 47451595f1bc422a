"""Suite 9's epochs count what they time: every contender's epoch over the
suite's shards is checked to hold every sample exactly once, and one that
sees a sample twice (a shard listed twice) or misses one is an error, not
a figure."""

import importlib

import pytest

CONTENDERS = [
    "ours_web",
    "ours_tarmap",
    # webdataset leaves its local shard files for the garbage collector to close.
    pytest.param(
        "webdataset",
        marks=pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
    ),
    "tarfile",
]


@pytest.fixture(scope="module")
def shards(bench_run, tmp_path_factory):
    suite = importlib.import_module("_suite_shards")
    made = suite.make_shards(tmp_path_factory.mktemp("shards"), 3, 5, 2048)
    assert made.samples == 15 and made.members == 45
    return made


def spec_for(shards, who, names):
    return {
        "contender": who,
        "scheme": "file",
        "root": str(shards.root),
        "names": names,
        "bucket": "bench",
        "prefix": "shards",
        "batch": 4,
        "workers": 0,
        "buffer": 1000,
        "expect": shards.samples,
        "expect_bytes": shards.field_bytes,
    }


@pytest.mark.parametrize("who", CONTENDERS)
def test_an_epoch_holds_every_sample_once(bench_run, shards, who):
    op, worker = importlib.import_module("_shards_op"), importlib.import_module("_worker")
    out = op.shard_epoch(spec_for(shards, who, shards.names), worker.measure)
    assert out["bytes"] == shards.samples and out["seconds"] > 0 and out["build_s"] >= 0


@pytest.mark.parametrize("who", CONTENDERS)
@pytest.mark.parametrize("change", ["twice", "missing"])
def test_an_epoch_with_a_wrong_count_is_an_error(bench_run, shards, who, change):
    op, worker = importlib.import_module("_shards_op"), importlib.import_module("_worker")
    names = shards.names + shards.names[:1] if change == "twice" else shards.names[1:]
    with pytest.raises(SystemExit, match=f"{who}: an epoch gave (20|10) samples"):
        op.shard_epoch(spec_for(shards, who, names), worker.measure)
