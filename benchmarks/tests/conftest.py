"""Fixtures of the benchmark's own tests."""

import importlib
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def bench_run():
    """``benchmarks/run.py`` imported as a module: its suites, Config, Dataset."""
    path = str(ROOT / "benchmarks")
    sys.path.insert(0, path)
    try:
        yield importlib.import_module("run")
    finally:
        sys.path.remove(path)
