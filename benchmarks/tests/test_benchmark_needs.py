"""``benchmarks/run.py --suites ...`` prepares only what the chosen suites
read: moto (and the upload) for the suites in ``S3_SUITES``, the sets of
4 KiB files for those in ``SMALL_FILE_SUITES``. Each suite runs here on a
recording runner with exactly what ``main()`` would give it, so a suite
that starts reading s3:// or a 4 KiB set without being listed fails."""

import pytest


class RecordingRunner:
    """Answers every measurement like a worker (1 s, half of it CPU) and
    records the URI schemes it was asked to read; a CUDA device is there."""

    def __init__(self):
        self.schemes = set()

    def work(self, spec, timeout=None):
        if spec["op"] == "gpu_probe":
            return {"devices": 1, "name": "GPU"}
        self.schemes.add(spec["scheme"])
        return {
            "seconds": 1.0,
            "cpu_s": 0.5,
            "first_s": 1.0,
            "first_cpu_s": 0.5,
            "peak_added": 0,
            "held_added": 0,
            "bytes": spec.get("expect", 1),
        }


def datasets_for(run, cfg, suite, root):
    sets = {
        name: run.Dataset(name, root, root / f"keys-{name}.txt", count, size)
        for name, (count, size) in (("small", cfg.small), ("large", cfg.large))
    }
    if suite in run.SMALL_FILE_SUITES:
        for n in cfg.scaling:
            sets[f"n{n}"] = run.Dataset(f"n{n}", root, root / f"keys-n{n}.txt", n, 4096)
        sets["latency"] = sets[f"n{cfg.scaling[-1]}"]
    return sets


@pytest.mark.parametrize("suite", ["get_many", "get_latency", "scaling", "loader", "memory", "gpu"])
def test_a_suite_reads_only_what_is_prepared_for_it(bench_run, suite, tmp_path):
    assert set(bench_run.SUITES) >= bench_run.S3_SUITES | bench_run.SMALL_FILE_SUITES
    cfg = bench_run.Config.make(quick=True, runs=1)
    runner = RecordingRunner()
    _, fn = bench_run.SUITES[suite]
    doc = fn(runner, cfg, datasets_for(bench_run, cfg, suite, tmp_path))
    assert doc["cases"], suite
    assert ("s3" in runner.schemes) == (suite in bench_run.S3_SUITES), runner.schemes
