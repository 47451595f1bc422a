"""The standalone benchmark scripts keep working (a small run of each;
speed is not judged here)."""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run_quick(script: str, out: Path, **kwargs) -> None:
    """``benchmarks/<script> --quick --out out``; a failure fails the test."""
    subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / script), "--quick", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
        **kwargs,
    )


def test_get_many_benchmark_quick(tmp_path):
    run_quick("get_many_local.py", tmp_path)
    results = json.loads((tmp_path / "get_many_local_quick.json").read_text())
    assert {"python open().read()", "s3dlio get_many"} <= set(results[0]["contenders"])
    assert (tmp_path / "get_many_local_quick.md").read_text().startswith("| workload")


def test_loader_epoch_benchmark_quick(tmp_path):
    run_quick("loader_epoch.py", tmp_path, cwd=tmp_path)
    results = json.loads((tmp_path / "loader_epoch_quick.json").read_text())
    assert set(results["suites"]) == {"torch num_workers=0", "torch num_workers=2", "jax batches"}
