"""Suite 12's own logic: the throttling nginx's configuration (and that such
an nginx answers what S3 answers when it sheds load: 503 with a
``SlowDown`` body), the size of the throttled fetch, how the attempts'
spread is measured, the contenders' specs, and the report: a contender
whose retries run out is a row saying so, and every target is still there."""

import importlib
import urllib.error
import urllib.request

import pytest


@pytest.fixture(scope="module")
def suite(bench_run):
    return importlib.import_module("_suite_endpoints")


def test_the_config_throttles_every_request_and_answers_slowdown(suite, tmp_path):
    text = suite.throttle_config(tmp_path / "root", tmp_path, 8080, 200, 8)
    assert "limit_req_zone $server_port zone=rate:1m rate=200r/s;" in text
    assert "limit_req zone=rate burst=8 nodelay;" in text
    assert "limit_req_status 503;" in text
    assert "error_page 503 /slowdown.xml;" in text
    assert "listen 127.0.0.1:8080;" in text and f"root {tmp_path / 'root'};" in text
    assert f"return 503 '{suite.SLOW_DOWN}';" in text
    assert "<Code>SlowDown</Code>" in suite.SLOW_DOWN


def get(url):
    """(status, content type, body); urllib without any proxy."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url, timeout=5) as resp:
            return resp.status, resp.headers.get_content_type(), resp.read()
    except urllib.error.HTTPError as err:
        return err.code, err.headers.get_content_type(), err.read()


def test_a_throttling_nginx_answers_503_slowdown_over_the_rate(suite, tmp_path):
    if suite.nginx_server.executable() is None:
        pytest.skip("nginx is not installed")
    (tmp_path / "root" / "bench").mkdir(parents=True)
    (tmp_path / "root" / "bench" / "k").write_bytes(b"x" * 1000)
    workdir = tmp_path / "nginx"
    workdir.mkdir()
    # One request a second and a burst of 2: three pass, the next do not.
    with suite.throttling(tmp_path / "root", workdir, 1, 2) as url:
        answers = [get(f"{url}/bench/k") for _ in range(5)]
    assert [a[0] for a in answers[:3]] == [200, 200, 200], answers
    assert answers[0][2] == b"x" * 1000
    for status, kind, body in answers[3:]:
        assert (status, kind) == (503, "application/xml")
        assert body.decode() == suite.SLOW_DOWN


def test_the_rate_allows_about_five_seconds_and_the_quick_run_well_under_one(suite, bench_run):
    for quick, low, high in ((False, 4.0, 6.0), (True, 0.05, 0.5)):
        cfg = bench_run.Config.make(quick, None)
        small = bench_run.Dataset("small", None, None, *cfg.small)
        count, rate = suite.throttle_plan(small)
        assert count <= small.count
        assert low <= suite.allowed_s(count, rate) <= high, (quick, count, rate)


@pytest.mark.parametrize(
    ("attempts", "max_over_min", "deviation"),
    [
        ([500, 500], 1.0, 0.0),
        ([450, 550], 550 / 450, 0.1),
        ([490, 500, 510], 510 / 490, 0.02),
        ([0, 10], None, 1.0),
        ([0, 0], None, None),
        ([], None, None),
    ],
)
def test_the_spread_of_attempts(suite, attempts, max_over_min, deviation):
    got = suite.spread(attempts)
    assert got["max_over_min"] == (None if max_over_min is None else pytest.approx(max_over_min))
    assert got["deviation"] == (None if deviation is None else pytest.approx(deviation))


def test_the_contenders_name_their_endpoints(suite, bench_run, tmp_path):
    ds = bench_run.Dataset("small", tmp_path, tmp_path / "keys.txt", 10, 1000)
    urls = ["http://127.0.0.1:1001", "http://127.0.0.1:1002", "http://127.0.0.1:1003"]
    fronts = suite.fronts_contenders(urls, ds)
    assert [s["options"] for s in fronts.values()] == [
        {"aws_endpoint_url": urls[0]},
        {"endpoint_urls": ",".join(urls[:2])},
        {"endpoint_urls": ",".join(urls)},
    ]
    assert all(s["steady"] and s["counters"] and s["contender"] == "ours" for s in fronts.values())
    throttled = suite.throttle_contenders(urls[0], ds)
    who = {label: (s["contender"], s["env"]) for label, s in throttled.items()}
    assert who[suite.ADAPTIVE] == ("ours", {"AWS_ENDPOINT_URL": urls[0]})
    plain = {"AWS_ENDPOINT_URL": urls[0], "S3DLIO_ADAPTIVE_CONCURRENCY": "false"}
    assert who[suite.PLAIN] == ("ours", plain)
    assert who[suite.BOTO3_ADAPTIVE][0] == "boto3_adaptive"
    assert who[suite.BOTO3_STANDARD][0] == "boto3_standard"
    assert all(not s.get("steady") and s["counters"] for s in throttled.values())
    assert throttled[suite.ADAPTIVE]["max_in_flight"] == 64
    assert throttled[suite.BOTO3_ADAPTIVE]["max_attempts"] == 10
    assert {s["label"] for s in throttled.values()} == set(throttled)


class FakeRunner:
    """Answers like ``Runner.work`` with the counters the worker reports:
    boto3 in standard mode always gives up; the front ends' attempts are
    spread 10 / 10 and 9 / 10 / 11 over their endpoints."""

    def __init__(self):
        self.calls = 0

    def work(self, spec, timeout=None):
        self.calls += 1
        who = spec["contender"]
        if who == "boto3_standard":
            return {"error": "botocore.exceptions.ClientError: SlowDown"}
        seconds = {"ours": 0.6, "boto3_adaptive": 2.0}[who]
        if spec["env"].get("S3DLIO_ADAPTIVE_CONCURRENCY") == "false":
            seconds = 0.8
        ends = spec["endpoints"]
        shares = {1: [20], 2: [10, 10], 3: [9, 10, 11]}[len(ends)]
        lane = {"lowest_limit": 4, "limit_cuts": 3}
        lanes = {e: {**lane, "attempts": n} for e, n in zip(ends, shares, strict=True)}
        counted = {"retries": 12, "throttled": 12, "endpoints": lanes}
        if who == "boto3_adaptive":
            counted = {"retries": 3}
        return {
            "seconds": seconds,
            "cpu_s": seconds / 2,
            "peak_added": 0,
            "held_added": 0,
            "bytes": spec["expect"],
            "counters": counted,
        }


def test_a_contender_that_gives_up_is_reported_and_every_target_stays(suite, bench_run, tmp_path):
    cfg = bench_run.Config.make(quick=True, runs=2)
    ds = bench_run.Dataset("small", tmp_path, tmp_path / "keys.txt", 20, 1000)
    urls = ["http://127.0.0.1:1001", "http://127.0.0.1:1002", "http://127.0.0.1:1003"]
    runner = FakeRunner()
    fronts = suite.measure_fronts(runner, cfg, suite.fronts_contenders(urls, ds))
    three = fronts[suite.fronts_label(3)]
    assert three["attempts"] == [9, 10, 11] and three["max_over_min"] == pytest.approx(11 / 9)
    throttle = suite.measure_throttle(runner, cfg, suite.throttle_contenders(urls[0], ds))
    ours = throttle[suite.ADAPTIVE]
    assert (ours["retries"], ours["throttled"], ours["lowest_limit"]) == (12, 12, 4)
    assert throttle[suite.BOTO3_ADAPTIVE]["retries"] == 3
    assert "SlowDown" in throttle[suite.BOTO3_STANDARD]["error"]
    case = {"workload": "20 x 1000 B", "backend": "s3", "results": fronts}
    doc = suite.report([case, suite.throttle_case("20 x 1000 B", 20, 200, throttle)])
    assert "failed: botocore.exceptions.ClientError: SlowDown" in doc["md"]
    targets = {t["target"]: t for t in doc["targets"]}
    assert len(targets) == 4
    even = [t for name, t in targets.items() if "even" in name]
    assert [t["value"] for t in even] == [pytest.approx(0.0), pytest.approx(0.1)]
    rate = targets["throttled get_many: ours <= 1.2x the time the rate allows"]
    assert rate["value"] == pytest.approx(0.6 / 0.1) and rate["met"] is False
    plain = targets["throttled: ours faster than plain retries (time, ours / plain)"]
    assert plain["value"] == pytest.approx(0.6 / 0.8) and plain["met"] is True
    assert [len(c["bars"]) for c in doc["charts"]] == [3, 3]


class PlainGivesUp(FakeRunner):
    """As FakeRunner, but ours with the limiter off runs out of retries."""

    def work(self, spec, timeout=None):
        if spec["env"].get("S3DLIO_ADAPTIVE_CONCURRENCY") == "false":
            return {"error": "s3dlio.S3dlioError: ... after 10 retries ... 503"}
        return super().work(spec, timeout)


def test_plain_retries_that_fail_where_ours_completes_meet_the_target(suite, bench_run, tmp_path):
    cfg = bench_run.Config.make(quick=True, runs=2)
    ds = bench_run.Dataset("small", tmp_path, tmp_path / "keys.txt", 20, 1000)
    urls = ["http://127.0.0.1:1001", "http://127.0.0.1:1002", "http://127.0.0.1:1003"]
    runner = PlainGivesUp()
    fronts = suite.measure_fronts(runner, cfg, suite.fronts_contenders(urls, ds))
    throttle = suite.measure_throttle(runner, cfg, suite.throttle_contenders(urls[0], ds))
    case = {"workload": "20 x 1000 B", "backend": "s3", "results": fronts}
    doc = suite.report([case, suite.throttle_case("20 x 1000 B", 20, 200, throttle)])
    plain = [t for t in doc["targets"] if "plain retries" in t["target"]]
    assert len(plain) == 1 and plain[0]["met"] is True and plain[0]["value"] is None
    assert plain[0]["target"].endswith("plain retries failed")
