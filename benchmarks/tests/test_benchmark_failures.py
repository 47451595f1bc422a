"""A contender that crashes does not take the benchmark down: it gets one
more try, and when it keeps failing its row says so while every other row,
and every target, is still reported."""

import pytest


class FakeRunner:
    """Answers like ``Runner.work``: obstore always crashes, boto3 crashes
    on its first call only, s3torchconnector hangs (times out), everyone
    else takes 1 s (ours 0.5 s, the C floors 0.25 s), on half as much CPU
    (the one-connection recv floor: 0.01 s)."""

    def __init__(self):
        self.calls = {}

    def work(self, spec, timeout=None):
        who = spec["contender"]
        self.calls[who] = self.calls.get(who, 0) + 1
        if who == "obstore" or (who == "boto3" and self.calls[who] == 1):
            return {"error": "exit -6"}
        if who == "s3torch":
            return {"error": "no result within 40 s (hung?)", "hung": True}
        seconds = {"ours": 0.5, "floor": 0.25}.get(who, 1.0)
        cpu = seconds / 2
        if spec.get("connections") == 1:  # the one-connection floor: not the targets'
            cpu = 0.01
        return {
            "seconds": seconds,
            "cpu_s": cpu,
            "peak_added": 0,
            "held_added": 0,
            "bytes": spec["expect"],
            "first_s": seconds,
            "first_cpu_s": seconds / 2,
        }


def test_a_crashing_peer_is_reported_and_the_suite_goes_on(bench_run, tmp_path):
    run = bench_run
    cfg = run.Config.make(quick=True, runs=2)
    sets = {
        name: run.Dataset(name, tmp_path, tmp_path / f"{name}.txt", count, size)
        for name, (count, size) in (("small", cfg.small), ("large", cfg.large))
    }
    runner = FakeRunner()
    doc = run.suite_get_many(runner, cfg, sets)

    s3 = [c for c in doc["cases"] if c["backend"] == "s3"]
    assert s3
    for case in s3:
        obstore = case["results"]["obstore get_async + gather (s3://)"]
        assert obstore["error"] == "exit -6" and obstore["contender"] == "obstore"
        boto3 = case["results"]["boto3 + 32 threads (s3://)"]
        assert "median_s" in boto3, "a single crash is retried, not fatal"
    # obstore (local and S3): two tries in each case's first round, then dropped.
    assert runner.calls["obstore"] == 2 * len(doc["cases"])
    # A hang is not tried again: it costs the whole time limit.
    assert runner.calls["s3torch"] == len(s3)
    assert "failed: exit -6" in doc["md"]
    cpu = {t["target"]: t for t in doc["targets"] if "client CPU" in t["target"]}
    assert len(cpu) == 2 * len(s3)
    # Ours uses half the peers' CPU: every ratio is measured, boto3's too.
    assert all(t["value"] == pytest.approx(0.5) for t in cpu.values()), cpu
    # Every target carries its C floor's ratio beside ours: the floors take a
    # quarter of the peers' time (4x faster) and of their CPU (0.25) at
    # get_many's concurrency.
    floors = {t["target"]: t["floor"] for t in doc["targets"]}
    assert all(floors[name] == pytest.approx(0.25) for name in cpu), floors
    speed = [name for name in floors if name not in cpu and "C pread floor" not in name]
    assert speed and all(floors[name] == pytest.approx(4.0) for name in speed), floors
    # The mapped first fetch is also set against the floor itself.
    own = [name for name in floors if "vs the C pread floor" in name]
    assert own and all(floors[name] == pytest.approx(1.0) for name in own), floors
