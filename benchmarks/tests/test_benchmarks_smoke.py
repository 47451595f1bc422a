"""The benchmark suite keeps working: ``benchmarks/run.py --quick`` runs every
suite once on tiny data (peers in ``.venv-peers``, made on first use; S3
against its own moto on 127.0.0.1) and writes each suite's JSON, markdown
table and chart. Speed is not judged here."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SUITES = ["get_many", "get_latency", "scaling", "loader", "memory", "nginx", "cold", "shards"]
SUITES += ["parquet", "overhead", "endpoints", "cache"]


@pytest.mark.slow
# The first run on a machine makes .venv-peers (under a minute: it installs
# only the peers' own packages over this venv's torch); the suites take ~5.
@pytest.mark.timeout(1200)
def test_run_quick_writes_every_suite(tmp_path):
    out = tmp_path / "results"
    # Not from the repository root: its s3dlio/ is a source copy without the
    # compiled extension.
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "run.py"), "--quick", "--out", str(out)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=1180,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    for suite in SUITES:
        doc = json.loads((out / f"{suite}.json").read_text())
        assert doc["suite"] == suite and doc["quick"] is True
        assert doc["targets"], suite
        contenders = [r for case in doc["cases"] for r in case["results"].values()]
        assert any("median_s" in r for r in contenders), suite
        assert (out / f"{suite}.md").read_text().startswith("### ")
        assert (out / f"{suite}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    gpu = json.loads((out / "gpu.json").read_text())
    if gpu.get("skipped"):  # no CUDA device here: the suite says so and why
        assert "CUDA" in gpu["skipped"] and "Skipped" in (out / "gpu.md").read_text()
    else:
        assert any("median_s" in r for case in gpu["cases"] for r in case["results"].values())
    get_many = json.loads((out / "get_many.json").read_text())
    ours = get_many["cases"][0]["results"]
    assert "median_s" in ours["ours get_many (file://)"]
    # The C floors build and run beside the contenders, local and S3, and
    # every get_many target says what a floor reaches on the same ratio.
    for case in get_many["cases"]:
        floors = [r for name, r in case["results"].items() if name.startswith("C ")]
        assert floors and all("median_s" in r for r in floors), case["results"]
    assert all(t.get("floor", 0) > 0 for t in get_many["targets"]), get_many["targets"]
    # Tar shards: every contender's epoch (checked to hold every sample
    # once) on file:// and s3:// (nginx), and the shards indexed over nginx.
    shards = json.loads((out / "shards.json").read_text())
    assert {case["backend"] for case in shards["cases"]} == {"file", "s3"}
    for case in shards["cases"]:
        assert all("median_s" in r for r in case["results"].values()), case["results"]
    assert shards["index"]["server_bytes"] > 0, shards["index"]
    # Parquet: every contender's table and epoch (each checked) on file://
    # and s3:// (nginx), and the bytes nginx sent for ours' read.
    parquet = json.loads((out / "parquet.json").read_text())
    assert {case["backend"] for case in parquet["cases"]} == {"file", "s3"}
    for case in parquet["cases"]:
        assert all("median_s" in r for r in case["results"].values()), case["results"]
    assert parquet["fetched"]["ours_parquet"]["server_bytes"] > 0, parquet["fetched"]
    # The cache: three epochs by every contender (each checked), cached
    # ones making no GET after the first epoch.
    cache = json.loads((out / "cache.json").read_text())
    for case in cache["cases"]:
        assert all("median_s" in r for r in case["results"].values()), case["results"]
        for name, r in case["results"].items():
            if ", cache," in name:  # the cached contenders, not "no cache"
                assert r["medians"]["epoch2_gets"] == r["medians"]["epoch3_gets"] == 0, r
