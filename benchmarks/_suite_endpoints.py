"""Suite 12 of BENCHMARKS.md: several endpoints, and a store that throttles.

1. Front ends: ours ``get_many`` of suite 1's small set (4000 x 256 KiB;
   ``--quick``: its 64 x 64 KiB) from 1, 2 and 3 nginx processes serving
   the one folder (bucket ``bench``, as in suite 7), with the option
   ``endpoint_urls`` (one endpoint: ``aws_endpoint_url``). Steady state as
   in suite 7: each process fetches everything once, drops it, and is timed
   on a second full fetch. After it, in the same process,
   ``s3dlio.metrics()["endpoints"]`` gives the attempts each endpoint took
   in the timed fetch: how even the spread is.
2. Throttling: one nginx whose ``limit_req`` allows ``R`` requests a second
   (a burst of ``BURST``) and answers the rest ``503`` with S3's
   ``SlowDown`` error body, as a store that sheds load does. ``N`` objects
   of the small set (1000 of 256 KiB, ``R`` 200: the rate allows the
   fetch in ``N/R`` = 5 s; ``--quick``: 64 objects, 0.32 s), timed whole
   (no steady state: the throttle is the point; process start, the client
   and one set-up GET are not timed), per contender: ours ``get_many``
   (``max_in_flight=64``) as shipped, with adaptive concurrency; ours with
   ``S3DLIO_ADAPTIVE_CONCURRENCY=false`` (plain retries with backoff);
   boto3 + 32 threads with botocore's ``adaptive`` retry mode (a client-side
   rate limiter) and with its ``standard`` mode, both ``max_attempts=10``.
   Ours report the retries and 503s of the timed fetch
   (``metrics()["get"]["s3"]``) and the lane's lowest limit
   (``metrics()["endpoints"]``), boto3 the retries it made
   (``RetryAttempts``). A contender that gives up (its retries exhausted)
   is reported failed with its error.

Targets: throttled, ours within 1.2x the time the rate allows, and faster
than plain retries; over 2 and 3 endpoints, every endpoint's attempts
within 10% of even.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from _bench import (
    Config,
    Dataset,
    Runner,
    bad,
    cpu_per_gb,
    data_spec,
    failed,
    fmt_ratio,
    gbps,
    interleave,
    log,
    md_table,
    size_label,
    speed_ratio,
    target,
)
from _suites_servers import _first, _served, ensure_nginx, nginx_server

COUNTS = (1, 2, 3)  # nginx front ends over the one folder
IN_FLIGHT = 64  # ours' max_in_flight when throttled (get_many's default)
RATE = 200  # requests a second the throttling nginx allows
BURST = 8  # requests above the rate it lets through at once
THROTTLED_COUNT = 1000  # objects fetched through it (quick: the small set's 64)
MAX_ATTEMPTS = 10  # botocore's, first attempt included
TIME_GOAL, PLAIN_GOAL, EVEN_GOAL = 1.2, 1.0, 0.10
SLOW_DOWN = (
    '<?xml version="1.0" encoding="UTF-8"?><Error><Code>SlowDown</Code>'
    "<Message>Please reduce your request rate.</Message></Error>"
)

ADAPTIVE = "ours get_many (adaptive concurrency, as shipped)"
PLAIN = "ours get_many, S3DLIO_ADAPTIVE_CONCURRENCY=false (plain retries)"
BOTO3_ADAPTIVE = "boto3 + 32 threads, retries mode adaptive"
BOTO3_STANDARD = "boto3 + 32 threads, retries mode standard"


def fronts_label(count: int) -> str:
    return f"ours get_many, {count} endpoint{'s' if count > 1 else ''}"


# --------------------------------------------------------------------------- the throttling nginx

# Added to the http block: one key for every request (the rate is the
# server's, not a client's), and refusals logged only at info.
THROTTLE_HTTP = """
    limit_req_zone $server_port zone=rate:1m rate={rate}r/s;
    limit_req_log_level info;"""
# Added to the server block: over the rate, still 503, with S3's error body.
THROTTLE_SERVER = """
        error_page 503 /slowdown.xml;
        location / {{
            limit_req zone=rate burst={burst} nodelay;
            limit_req_status 503;
        }}
        location = /slowdown.xml {{
            internal;
            default_type application/xml;
            return 503 '{body}';
        }}"""


def throttle_extra(rate: int, burst: int) -> dict[str, str]:
    """What makes suite 7's nginx (``nginx_server``) allow ``rate`` requests
    a second (``burst`` more at once) and answer the others 503 with a
    ``SlowDown`` error body."""
    return {
        "http_extra": THROTTLE_HTTP.format(rate=rate),
        "server_extra": THROTTLE_SERVER.format(burst=burst, body=SLOW_DOWN),
    }


def throttle_config(root: Path, workdir: Path, port: int, rate: int, burst: int) -> str:
    """nginx.conf of the throttling nginx over ``root``."""
    extra = throttle_extra(rate, burst)
    return nginx_server.config_text(root, workdir, port, log_requests=False, **extra)


@contextmanager
def throttling(root: Path, workdir: Path, rate: int, burst: int) -> Iterator[str]:
    """The throttling nginx until the block ends; yields its endpoint."""
    extra = throttle_extra(rate, burst)
    with nginx_server.serving(root, workdir, log_requests=False, **extra) as url:
        yield url


# --------------------------------------------------------------------------- pure helpers


def throttle_plan(small: Dataset) -> tuple[int, int]:
    """(objects fetched through the throttle, requests a second allowed):
    1000 at 200/s, 5 s, in the full run; the quick run's 64 in 0.32 s."""
    return min(THROTTLED_COUNT, small.count), RATE


def allowed_s(count: int, rate: int) -> float:
    """The time the rate allows for ``count`` requests: N/R."""
    return count / rate


def spread(attempts: list[int]) -> dict:
    """How evenly ``attempts`` (one count per endpoint) are spread: the
    largest over the smallest, and the largest deviation from an even
    share as a fraction of it (0: even)."""
    if not attempts or sum(attempts) == 0:
        return {"max_over_min": None, "deviation": None}
    even = sum(attempts) / len(attempts)
    low = min(attempts)
    return {
        "max_over_min": None if low == 0 else max(attempts) / low,
        "deviation": max(abs(n - even) for n in attempts) / even,
    }


def median_or_none(values: list) -> float | None:
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


class Recording:
    """A runner that keeps every measurement's full answer (``interleave``
    keeps only the timings): by the spec's ``label``, in order, failures
    left out. The first ``warmup`` of each are the warm-up round's."""

    def __init__(self, runner: Runner) -> None:
        self.runner = runner
        self.answers: dict[str, list[dict]] = {}

    def work(self, spec: dict, timeout: int | None = None) -> dict:
        out = self.runner.work(spec, timeout)
        if "error" not in out:
            self.answers.setdefault(spec["label"], []).append(out)
        return out

    def timed(self, label: str, warmup: int) -> list[dict]:
        return self.answers.get(label, [])[warmup:]


def fronts_counts(runs: list[dict], endpoints: list[str]) -> dict:
    """Per endpoint, the median attempts of the timed fetches, and the
    spread's median over the runs."""
    lanes = [r.get("counters", {}).get("endpoints", {}) for r in runs]
    per_run = [[lane.get(e, {}).get("attempts", 0) for e in endpoints] for lane in lanes]
    spreads = [spread(a) for a in per_run]
    return {
        "endpoints": endpoints,
        "attempts_runs": per_run,
        "attempts": [median_or_none([a[i] for a in per_run]) for i in range(len(endpoints))],
        "max_over_min": median_or_none([s["max_over_min"] for s in spreads]),
        "deviation": median_or_none([s["deviation"] for s in spreads]),
    }


def throttle_counts(runs: list[dict], endpoint: str) -> dict:
    """Medians over the timed fetches of what the contender counted."""
    got = [r.get("counters", {}) for r in runs]
    lanes = [c.get("endpoints", {}).get(endpoint, {}) for c in got]
    return {
        "retries": median_or_none([c.get("retries") for c in got]),
        "throttled": median_or_none([c.get("throttled") for c in got]),
        "lowest_limit": median_or_none([lane.get("lowest_limit") for lane in lanes]),
        "limit_cuts": median_or_none([lane.get("limit_cuts") for lane in lanes]),
        "in_flight_peak": median_or_none([lane.get("in_flight_peak") for lane in lanes]),
    }


# --------------------------------------------------------------------------- the suite


def fronts_contenders(urls: list[str], small: Dataset) -> dict[str, dict]:
    """Ours over the first 1, 2 and 3 of ``urls``, steady state, counted."""
    base = {"op": "fetch", "expect": small.total, "steady": True, "counters": True}
    base.update(data_spec(small, "s3"), contender="ours")
    contenders = {}
    for n in COUNTS:
        mine = urls[:n]
        opts = {"aws_endpoint_url": mine[0]} if n == 1 else {"endpoint_urls": ",".join(mine)}
        label = fronts_label(n)
        contenders[label] = {
            **base,
            "label": label,
            "options": opts,
            "endpoints": mine,
            # Where a request would go if the option were not read: seen
            # in the spread, never a silent figure from moto or nowhere.
            "env": {"AWS_ENDPOINT_URL": mine[0]},
        }
    return contenders


def throttle_contenders(url: str, throttled: Dataset) -> dict[str, dict]:
    """The four contenders against the throttling nginx at ``url``."""
    env = {"AWS_ENDPOINT_URL": url}
    base = {"op": "fetch", "expect": throttled.total, "counters": True, "env": env}
    base.update(data_spec(throttled, "s3"), endpoints=[url])
    ours = {**base, "contender": "ours", "max_in_flight": IN_FLIGHT}
    ours["options"] = {"aws_endpoint_url": url}
    boto3 = {**base, "max_attempts": MAX_ATTEMPTS}
    contenders = {
        ADAPTIVE: ours,
        PLAIN: {**ours, "env": {**env, "S3DLIO_ADAPTIVE_CONCURRENCY": "false"}},
        BOTO3_ADAPTIVE: {**boto3, "contender": "boto3_adaptive"},
        BOTO3_STANDARD: {**boto3, "contender": "boto3_standard"},
    }
    return {label: {**spec, "label": label} for label, spec in contenders.items()}


def measure_fronts(runner: Runner, cfg: Config, contenders: dict[str, dict]) -> dict:
    """Interleaved rounds; each result with its endpoints' attempts."""
    rec = Recording(runner)
    res = interleave(rec, contenders, cfg.warmup, cfg.runs)
    for label, r in res.items():
        if not bad(r):
            r.update(fronts_counts(rec.timed(label, cfg.warmup), contenders[label]["endpoints"]))
    return res


def measure_throttle(runner: Runner, cfg: Config, contenders: dict[str, dict]) -> dict:
    """Interleaved rounds; each result with its retries, 503s and lowest limit."""
    rec = Recording(runner)
    res = interleave(rec, contenders, cfg.warmup, cfg.runs)
    for label, r in res.items():
        if not bad(r):
            url = contenders[label]["endpoints"][0]
            r.update(throttle_counts(rec.timed(label, cfg.warmup), url))
    return res


def suite_endpoints(runner: Runner, cfg: Config, sets: dict[str, Dataset]) -> dict:
    why = ensure_nginx()
    if why:
        log(f"  skipped: {why}")
        md = f"Skipped: {why}."
        return {"cases": [], "targets": [], "charts": [], "md": md, "skipped": why}
    small = sets["small"]
    count, rate = throttle_plan(small)
    throttled = _first(small, count, runner)
    root = _served(runner)
    work = size_label(small.count, small.size)
    with ExitStack() as servers:
        urls = []
        for k in range(max(COUNTS)):
            workdir = runner.workdir / f"nginx-front-{k}"
            workdir.mkdir(exist_ok=True)
            serve = nginx_server.serving(root, workdir, log_requests=False)
            urls.append(servers.enter_context(serve))
        log(f"  {work} over 1-{max(COUNTS)} nginx front ends ({', '.join(urls)})")
        res = measure_fronts(runner, cfg, fronts_contenders(urls, small))
    fronts = {"workload": f"{work}, several endpoints", "backend": "s3", "results": res}
    work = size_label(throttled.count, throttled.size)
    workdir = runner.workdir / "nginx-throttle"
    workdir.mkdir(exist_ok=True)
    with throttling(root, workdir, rate, BURST) as url:
        log(f"  {work} from a throttling nginx on {url}: {rate} requests/s, burst {BURST}")
        res = measure_throttle(runner, cfg, throttle_contenders(url, throttled))
    throttle = throttle_case(work, throttled.count, rate, res)
    return report([fronts, throttle])


def throttle_case(work: str, count: int, rate: int, res: dict) -> dict:
    return {
        "workload": f"{work}, throttled",
        "backend": "s3",
        "rate": rate,
        "burst": BURST,
        "count": count,
        "allowed_s": allowed_s(count, rate),
        "results": res,
    }


def _num(value: float | None, digits: int = 0) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def report(cases: list[dict]) -> dict:
    """Tables, charts and targets of the two parts (``cases[0]``: the front
    ends, ``cases[1]``: the throttle)."""
    fronts, throttle = cases
    targets, charts = [], []

    res, work = fronts["results"], fronts["workload"]
    one = res.get(fronts_label(1))
    rows, bars = [], []
    for name, r in res.items():
        if bad(r):
            rows.append([name, failed(r), "", "", "", "", ""])
            continue
        bars.append([name, gbps(r)])
        attempts = " / ".join(_num(a) for a in r.get("attempts", []))
        rows.append(
            [
                name,
                f"{r['median_s']:.3f}",
                f"{gbps(r):.2f}",
                _num(cpu_per_gb(r), 2),
                "-" if r is one else fmt_ratio(speed_ratio(r, one)),
                attempts or "-",
                _num(r.get("max_over_min"), 2),
            ]
        )
    charts.append({"title": f"{work} (GB/s, higher is better)", "bars": bars})
    fronts_md = md_table(
        [
            "contender",
            "median s",
            "GB/s",
            "CPU s/GB",
            "vs 1 endpoint",
            "attempts per endpoint",
            "max/min",
        ],
        rows,
    )
    for n in COUNTS[1:]:
        r = res.get(fronts_label(n))
        value = None if r is None or bad(r) else r.get("deviation")
        name = f"{n} endpoints: attempts' largest deviation from even (share)"
        targets.append(target(name, value, EVEN_GOAL, False))

    res, work = throttle["results"], throttle["workload"]
    allowed = throttle["allowed_s"]
    ours = res.get(ADAPTIVE)
    rows, bars = [], []
    for name, r in res.items():
        if bad(r):
            rows.append([name, failed(r), "", "", "", "", ""])
            continue
        bars.append([name, r["median_s"]])
        rows.append(
            [
                name,
                f"{r['median_s']:.3f}",
                f"{r['median_s'] / allowed:.2f}x",
                "-" if r is ours else fmt_ratio(speed_ratio(ours, r)),
                _num(r.get("retries")),
                _num(r.get("throttled")),
                _num(r.get("lowest_limit")),
            ]
        )
    charts.append({"title": f"{work} (median s, lower is better)", "bars": bars})
    throttle_md = md_table(
        [
            "contender",
            "median s",
            "x N/R",
            "ours is",
            "retries",
            "throttled (503)",
            "lowest limit",
        ],
        rows,
    )
    value = None if ours is None or bad(ours) else ours["median_s"] / allowed
    name = f"throttled get_many: ours <= {TIME_GOAL:g}x the time the rate allows"
    targets.append(target(name, value, TIME_GOAL, False))
    value = speed_ratio(res.get(PLAIN), ours)  # ours' time over plain retries'
    name = "throttled: ours faster than plain retries (time, ours / plain)"
    beaten = target(name, value, PLAIN_GOAL, False)
    plain = res.get(PLAIN)
    if value is None and ours is not None and not bad(ours) and plain is not None and bad(plain):
        # Plain retries ran out where ours completed: met, with no ratio.
        beaten = {**beaten, "target": f"{name}; plain retries failed", "met": True}
    targets.append(beaten)

    md = "\n\n".join(
        [
            (
                f"Several endpoints: ours `get_many` of {fronts['workload'].split(',')[0]} "
                "from 1, 2 and 3 nginx processes (one worker each, keep-alive, sendfile) "
                "serving the one folder as bucket `bench` on 127.0.0.1, with the option "
                "`endpoint_urls` (1 endpoint: `aws_endpoint_url`) and the default "
                "policy (the endpoint with the fewest requests outstanding). Each process "
                "fetches everything once, drops it, and is timed on a second full fetch "
                "(steady state, as in suite 7); the attempts each endpoint took in the timed "
                'fetch are read from `s3dlio.metrics()["endpoints"]` after it (median over '
                "the runs), max/min is the most over the fewest. The front ends share the "
                "machine's cores with the client, so more of them need not be faster here."
            ),
            fronts_md,
            (
                f"A store that throttles: one nginx whose `limit_req` allows "
                f"{throttle['rate']} requests a second (a burst of {throttle['burst']}, "
                "`nodelay`) and answers every other request 503 with S3's `SlowDown` error "
                f"body. {throttle['count']} objects, so the rate allows the fetch in "
                f"N/R = {allowed:.2f} s; the whole fetch is timed in a fresh process (the "
                "client, its connection and one set-up GET before the clock starts). "
                f"Ours: `get_many(max_in_flight={IN_FLIGHT})`, as shipped (a 503 halves the "
                "requests sent to the endpoint at once; at one, their starts are spaced) and "
                "with "
                "`S3DLIO_ADAPTIVE_CONCURRENCY=false` (backoff and retries only); retries and "
                '503s are those of the timed fetch (`metrics()["get"]["s3"]`), the '
                "lowest limit the lane's (`metrics()[\"endpoints\"]`, '-': no limit set). "
                f"boto3: 32 threads, botocore's retry modes with `max_attempts={MAX_ATTEMPTS}` "
                "(`adaptive` adds a client-side rate limiter); its retries are the GETs' "
                "`RetryAttempts`. A contender whose retries run out is reported failed."
            ),
            throttle_md,
        ]
    )
    return {"cases": cases, "targets": targets, "charts": charts, "md": md}
