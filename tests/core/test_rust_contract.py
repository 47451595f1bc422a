"""The Rust object contract (rust/core/tests/contract) on all five backends.

A plain `cargo test` runs its file:// and direct:// cases and reports the
emulator ones as ignored. Here the session's servers are up, so the
release test binary is run again with `--include-ignored`, given a fresh
bucket on moto and fake-gcs-server and a fresh container on Azurite (the
endpoints are already in the environment). `cargo test --release` has
built that binary before pytest runs, so cargo only finds it fresh.

The test then checks, by name, that every check ran and passed on every
backend: a backend that is skipped, or a check missing from one, fails it.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections import defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

BACKENDS = ("file", "direct", "s3", "az", "gs")
# Only one binary runs, so cargo prints each result once: "test s3::name ... ok".
RESULT = re.compile(r"^test (\w+)::(\w+) \.\.\. (\w+)", re.MULTILINE)
# Generous: a checkout whose test binary is stale compiles it first.
CARGO_TIMEOUT_S = 850


@pytest.mark.timeout(CARGO_TIMEOUT_S + 60)
def test_rust_contract_on_every_backend(s3_bucket, az_container, gs_bucket):
    env = dict(
        os.environ,
        CONTRACT_S3_BUCKET=s3_bucket,
        CONTRACT_AZ_CONTAINER=az_container,
        CONTRACT_GS_BUCKET=gs_bucket,
    )
    command = [
        "cargo",
        "test",
        "--release",
        "-p",
        "s3dlio-core",
        "--test",
        "contract",
        "--",
        "--include-ignored",
        # The checks wait on servers more than on CPUs.
        "--test-threads",
        "6",
    ]
    proc = subprocess.run(
        command,
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=CARGO_TIMEOUT_S,
    )
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"{' '.join(command)} failed:\n{output[-20000:]}"

    outcomes: dict[str, dict[str, str]] = defaultdict(dict)
    for backend, check, outcome in RESULT.findall(proc.stdout):
        outcomes[backend][check] = outcome
    assert sorted(outcomes) == sorted(BACKENDS), output[-5000:]
    checks = set(outcomes["file"])
    assert len(checks) >= 15, sorted(checks)
    for backend in BACKENDS:
        assert set(outcomes[backend]) == checks, (backend, sorted(checks ^ set(outcomes[backend])))
        not_ok = {c: o for c, o in outcomes[backend].items() if o != "ok"}
        assert not not_ok, (backend, not_ok)
    summary = re.search(r"test result: ok\. (\d+) passed; 0 failed; 0 ignored", proc.stdout)
    assert summary, proc.stdout[-3000:]
    assert int(summary.group(1)) == len(BACKENDS) * len(checks), summary.group(0)
