"""The demo keeps working (a small run; speed is not judged here)."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_demo_runs_and_reports(tmp_path):
    args = ["--objects", "40", "--size-kib", "16", "--batch", "8"]
    out = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "demo.py"), *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    assert "dataset: 40 objects x 16 KiB" in out
    assert "a batch of 8 lands in one buffer: tensor (8, 16384)" in out
    assert out.count("all samples once") == 2
