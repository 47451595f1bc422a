"""`os.environ` changing while s3dlio builds clients with the GIL released.

`getenv` races with `setenv`/`unsetenv`; Python calls those with the GIL
held, so s3dlio reads the environment (its own reads, object_store's
builders, reqwest's proxy look-up) with the GIL held too. Before that, this
stress crashed the interpreter with SIGSEGV about one run in eight.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

STRESS = r"""
import os, sys, threading, time
import s3dlio
stop = time.monotonic() + float(sys.argv[1])

def churn():
    i = 0
    while time.monotonic() < stop:
        os.environ[f"S3DLIO_TEST_CHURN_{i}"] = "x" * (i % 100)
        os.environ["HTTP_PROXY"] = "http://127.0.0.1:9"
        del os.environ["HTTP_PROXY"]
        if i >= 32:
            del os.environ[f"S3DLIO_TEST_CHURN_{i - 32}"]
        i += 1

def build(built):
    i = 0
    while time.monotonic() < stop:
        # A new client each time (new options), built with the GIL released.
        options = {"AWS_REGION": f"r{i}-{threading.get_ident()}", "S3DLIO_MAX_RETRIES": "0"}
        try:
            s3dlio.exists("s3://bkt/x", options=options)
        except s3dlio.S3dlioError:
            pass
        i += 1
    built.append(i)

built = []
threads = [threading.Thread(target=churn)]
threads += [threading.Thread(target=build, args=(built,)) for _ in range(2)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print("clients", sum(built))
"""


@pytest.mark.timeout(60)
def test_clients_built_while_os_environ_changes_do_not_crash(closed_port):
    done = subprocess.run(
        [sys.executable, "-c", STRESS, "3"],
        env={**os.environ, "AWS_ENDPOINT_URL": f"http://127.0.0.1:{closed_port}"},
        cwd=Path(__file__).parent,
        capture_output=True,
        text=True,
        timeout=50,
        check=False,
    )
    assert done.returncode == 0, f"exit {done.returncode}: {done.stderr[-2000:]}"
    assert int(done.stdout.split()[-1]) > 100, "clients were built throughout"
