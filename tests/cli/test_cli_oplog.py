"""`s3dlio stats` and `s3dlio replay` read op-logs (plain and zstd) and
replay them against file://."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from terminal import run_on_terminal

import s3dlio

EXE = shutil.which("s3dlio", path=str(Path(sys.executable).parent)) or "s3dlio"


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([EXE, *args], cwd=cwd, capture_output=True, timeout=120, check=False)


HEADER = (
    "idx\tthread\top\tclient_id\tn_objects\tbytes\tendpoint\tfile\terror"
    "\tstart\tfirst_byte\tend\tduration_ns"
)
T0 = dt.datetime(2026, 12, 1, 18, 30, tzinfo=dt.UTC)
SOURCE = "s3://bucket/job"


def stamp(offset_ns: int) -> str:
    """RFC 3339 UTC with nanoseconds, `offset_ns` after T0."""
    secs, ns = divmod(offset_ns, 1_000_000_000)
    return (T0 + dt.timedelta(seconds=secs)).strftime("%Y-%m-%dT%H:%M:%S") + f".{ns:09d}Z"


def line(
    idx: int,
    op: str,
    uri: str,
    nbytes: int,
    start_ms: float,
    dur_ms: float,
    *,
    first_byte_ms: float | None = None,
    error: str = "",
    n_objects: int = 1,
) -> str:
    start, dur = int(start_ms * 1e6), int(dur_ms * 1e6)
    fb = "" if first_byte_ms is None else stamp(start + int(first_byte_ms * 1e6))
    fields = [
        idx, 0, op, "s3dlio-4242", n_objects, nbytes, "s3://bucket", uri, error,
        stamp(start), fb, stamp(start + dur), dur,
    ]  # fmt: skip
    return "\t".join(map(str, fields))


def write_log(path: Path, lines: list[str]) -> Path:
    path.write_text(HEADER + "\n" + "".join(entry + "\n" for entry in lines))
    return path


def compress(plain: Path) -> Path:
    """`plain` zstd-compressed as `plain.zst` (the zstandard package, else
    the zstd program; skip when there is neither)."""
    packed = plain.with_name(plain.name + ".zst")
    try:
        import zstandard  # type: ignore[import-not-found]

        packed.write_bytes(zstandard.ZstdCompressor().compress(plain.read_bytes()))
    except ImportError:
        if shutil.which("zstd") is None:
            pytest.skip("neither the zstandard package nor the zstd program is installed")
        subprocess.run(["zstd", "-q", "-f", str(plain), "-o", str(packed)], check=True)
    return packed


def gets(n: int, start_ms: float = 0) -> list[str]:
    """n GETs of 1 MB, 1..n ms long, 10 ms apart, first byte after 0.5 ms."""
    return [
        line(i, "GET", f"{SOURCE}/g/{i}", 1_000_000, start_ms + 10 * i, i + 1, first_byte_ms=0.5)
        for i in range(n)
    ]


def test_stats_summarises_per_op_and_overall(tmp_path):
    log = write_log(
        tmp_path / "ops.tsv",
        [*gets(100), line(100, "HEAD", f"{SOURCE}/missing", 0, 5, 2, error="not found")],
    )
    out = run("stats", str(log), "--json", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    get = doc["ops"]["GET"]
    assert (get["requests"], get["errors"], get["bytes"]) == (100, 0, 100_000_000)
    assert get["span_s"] == pytest.approx(1.09)  # last GET starts at 990 ms, lasts 100 ms
    assert get["gb_per_s"] == pytest.approx(0.1 / 1.09)
    assert get["latency_s"] == pytest.approx({"p50": 0.05, "p90": 0.09, "p99": 0.099, "max": 0.1})
    assert get["first_byte_s"]["p50"] == pytest.approx(0.0005)
    head = doc["ops"]["HEAD"]
    assert (head["requests"], head["errors"], head["first_byte_s"]) == (1, 1, None)
    assert (doc["total"]["requests"], doc["total"]["errors"]) == (101, 1)
    table = run("stats", str(log), cwd=tmp_path).stdout.decode().splitlines()
    assert [row.split()[0] for row in table] == ["op", "GET", "HEAD", "ALL"]
    assert table[1].split()[1:4] == ["100", "0", "100000000"]


def test_stats_merges_many_logs_plain_and_zstd(tmp_path):
    first = write_log(tmp_path / "ops.tsv", gets(50))
    second = write_log(tmp_path / "ops.tsv.77", gets(50, start_ms=500))
    packed = compress(second)
    merged = json.loads(run("stats", str(first), str(packed), "--json", cwd=tmp_path).stdout)
    plain = json.loads(run("stats", str(first), str(second), "--json", cwd=tmp_path).stdout)
    assert merged["ops"] == plain["ops"]
    assert merged["ops"]["GET"]["requests"] == 100
    assert merged["ops"]["GET"]["span_s"] == pytest.approx(0.5 + 0.49 + 0.05)


@pytest.mark.parametrize(
    ("content", "where"),
    [
        ("idx\tthread\top\n", ":1:"),
        (HEADER + "\n" + line(0, "GET", f"{SOURCE}/a", 1, 0, 1) + "\n0\t0\tPOST\n", ":3:"),
        (
            HEADER + "\n" + line(0, "GET", f"{SOURCE}/a", 1, 0, 1).replace("Z\t", "\t", 1) + "\n",
            ":2:",
        ),
    ],
)
def test_stats_bad_input_is_one_line_naming_file_and_line(tmp_path, content, where):
    log = tmp_path / "bad.tsv"
    log.write_text(content)
    out = run("stats", str(log), cwd=tmp_path)
    err = out.stderr.decode()
    assert out.returncode == 1 and err.count("\n") == 1, err
    assert f"{log}{where}" in err
    missing = run("stats", str(tmp_path / "nope.tsv"), cwd=tmp_path)
    assert missing.returncode == 1 and "nope.tsv" in missing.stderr.decode()


def job_log() -> list[str]:
    """A job's I/O over 1 s: PUTs, GETs of them, a ranged GET, a HEAD, a
    LIST, a multipart PUT's parts, and a DELETE."""
    return [
        line(0, "PUT", f"{SOURCE}/train/a.bin", 1000, 0, 10),
        line(1, "PUT", f"{SOURCE}/train/sub/b.bin", 20_000, 100, 10),
        line(2, "PUT_PART", f"{SOURCE}/train/c.bin", 5000, 200, 10),
        line(3, "PUT_PART", f"{SOURCE}/train/c.bin", 5000, 200, 10),
        line(4, "PUT", f"{SOURCE}/train/c.bin", 10_000, 200, 20),
        line(5, "GET", f"{SOURCE}/train/a.bin", 1000, 300, 5, first_byte_ms=1),
        line(6, "GET_RANGE", f"{SOURCE}/train/sub/b.bin", 100, 400, 5, first_byte_ms=1),
        line(7, "HEAD", f"{SOURCE}/train/c.bin", 0, 500, 1),
        line(8, "LIST", f"{SOURCE}/train/", 0, 600, 3, n_objects=3),
        line(9, "PUT", f"{SOURCE}/tmp/x.bin", 10, 700, 1),
        line(10, "DELETE", f"{SOURCE}/tmp/x.bin", 0, 990, 10),
    ]


def files_under(root: Path) -> dict[str, int]:
    return {
        str(p.relative_to(root)): p.stat().st_size for p in sorted(root.rglob("*")) if p.is_file()
    }


@pytest.mark.parametrize("compressed", [False, True])
def test_replay_reproduces_the_objects_under_the_target(tmp_path, compressed):
    log = write_log(tmp_path / "ops.tsv", job_log())
    if compressed:
        log = compress(log)
    target = tmp_path / "replayed"
    out = run("replay", str(log), "--target", f"file://{target}/", "--json", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    summary = json.loads(out.stdout)
    assert summary["source"] == f"{SOURCE}/"
    assert (summary["requests"], summary["skipped_put_parts"], summary["errors"]) == (9, 2, 0)
    assert summary["logged_s"] == pytest.approx(1.0)
    assert summary["bytes"] == 1000 + 20_000 + 10_000 + 1000 + 100 + 10
    assert files_under(target) == {
        "train/a.bin": 1000,
        "train/sub/b.bin": 20_000,
        "train/c.bin": 10_000,
    }
    # The filler is a fixed pattern: a second replay writes the same bytes.
    again = tmp_path / "again"
    run("replay", str(log), "--target", f"file://{again}", "--speed", "max", cwd=tmp_path)
    for name in files_under(target):
        assert (again / name).read_bytes() == (target / name).read_bytes()


def test_replay_with_an_explicit_source_prefix(tmp_path):
    log = write_log(tmp_path / "ops.tsv", job_log()[:2])
    target = tmp_path / "t"
    out = run(
        "replay", str(log), "--source", "s3://bucket/", "--target", f"file://{target}",
        "--speed", "0", cwd=tmp_path,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert files_under(target) == {"job/train/a.bin": 1000, "job/train/sub/b.bin": 20_000}
    wrong = run(
        "replay", str(log), "--source", "s3://other/", "--target", f"file://{target}", cwd=tmp_path
    )
    assert wrong.returncode == 1 and f"{SOURCE}/train/a.bin" in wrong.stderr.decode()


def timed_replay(tmp_path: Path, log: Path, speed: str) -> float:
    out = run(
        "replay", str(log), "--target", f"file://{tmp_path}/s{speed}", "--speed", speed,
        "--json", cwd=tmp_path,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    return float(json.loads(out.stdout)["replayed_s"])


def test_replay_keeps_the_timeline_divided_by_speed(tmp_path):
    # 11 small PUTs spread over 1 s.
    log = write_log(
        tmp_path / "ops.tsv",
        [line(i, "PUT", f"{SOURCE}/p/{i}", 100, 100 * i, 1) for i in range(11)],
    )
    assert 0.95 <= timed_replay(tmp_path, log, "1") < 2.0
    assert 0.45 <= timed_replay(tmp_path, log, "2") < 0.95
    assert timed_replay(tmp_path, log, "max") < 0.4


def test_replay_fails_where_the_log_succeeded_but_not_where_it_failed(tmp_path):
    target = tmp_path / "t"
    logged_miss = write_log(
        tmp_path / "miss.tsv",
        [line(0, "HEAD", f"{SOURCE}/gone.bin", 0, 0, 1, error="not found")],
    )
    out = run("replay", str(logged_miss), "--target", f"file://{target}", "--json", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["logged_errors_repeated"] == 1
    new_miss = write_log(tmp_path / "new.tsv", [line(0, "GET", f"{SOURCE}/gone.bin", 5, 0, 1)])
    out = run("replay", str(new_miss), "--target", f"file://{target}", cwd=tmp_path)
    assert out.returncode == 1
    assert f"file://{target}/gone.bin" in out.stderr.decode()
    bad = run("replay", str(new_miss), "--target", "file:///t", "--speed", "-1", cwd=tmp_path)
    assert bad.returncode == 2


def test_replay_shows_no_progress_bar_when_piped(tmp_path):
    log = write_log(tmp_path / "ops.tsv", job_log())
    out = run("replay", str(log), "--target", f"file://{tmp_path}/t", cwd=tmp_path)
    assert out.returncode == 0 and out.stderr == b""
    assert out.stdout.decode().startswith("replayed 9 requests")
    assert os.path.isdir(tmp_path / "t" / "train")


def test_replay_draws_a_progress_bar_on_a_terminal(tmp_path):
    log = write_log(
        tmp_path / "ops.tsv",
        [line(i, "PUT", f"{SOURCE}/p/{i}", 100, 100 * i, 1) for i in range(11)],
    )
    status, output = run_on_terminal(
        [EXE, "replay", str(log), "--target", f"file://{tmp_path}/t"], tmp_path
    )
    assert status == 0 and b"/11 requests" in output, output[-500:]
    quiet_status, quiet = run_on_terminal(
        [EXE, "replay", "-q", str(log), "--target", f"file://{tmp_path}/q"], tmp_path
    )
    assert quiet_status == 0 and b"/11 requests" not in quiet


def test_replay_onto_any_backend(prefix, tmp_path):
    # The same job's I/O onto file:// and onto S3 (moto).
    log = write_log(tmp_path / "ops.tsv", job_log())
    out = run("replay", str(log), "--target", f"{prefix}/r", "--speed", "max", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    sizes = {m.uri.removeprefix(f"{prefix}/r/"): m.size for m in s3dlio.list_meta(f"{prefix}/r")}
    assert sizes == {"train/a.bin": 1000, "train/sub/b.bin": 20_000, "train/c.bin": 10_000}
