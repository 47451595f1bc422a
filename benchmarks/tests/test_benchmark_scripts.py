"""The standalone benchmark scripts keep working (a small run of each;
speed is not judged here)."""

import json
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run_quick(script: str, out: Path, extra: Sequence[str] = (), **kwargs) -> None:
    """``benchmarks/<script> --quick --out out [extra]``; a failure fails the test."""
    subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / script), "--quick", "--out", str(out), *extra],
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


def test_checkpoint_dcp_benchmark_quick(tmp_path):
    # Ours only (the peers' contenders need .venv-peers): a save and a load
    # per scheme, each a 2-rank torchrun job, the load checked byte for byte.
    ours = ["--contenders", "ours file://", "ours s3://"]
    run_quick("checkpoint_dcp.py", tmp_path, ours, cwd=tmp_path)
    doc = json.loads((tmp_path / "checkpoint_dcp_quick.json").read_text())
    assert doc["quick"] and doc["ranks"] == 2 and doc["bytes"] > 16 << 20
    for name in ("ours file://", "ours s3://"):
        r = doc["results"][name]
        assert "error" not in r and r["save_s"] > 0 and r["load_s"] > 0, r
    assert (tmp_path / "checkpoint_dcp_quick.md").read_text().startswith("### DCP")
