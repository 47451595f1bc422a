"""Ctrl-C (SIGINT) cancels a long blocking call: the GIL is released and the
wait polls for signals, so KeyboardInterrupt arrives promptly."""

import signal
import subprocess
import sys
import time

import pytest
from fault_proxy import FaultProxy, stall

import s3dlio

# The child raises KeyboardInterrupt on SIGINT even when it inherits
# SIGINT ignored (a suite started in the background of a shell without job
# control), where Python would leave it ignored.
CHILD = r"""
import signal, sys, time, s3dlio
signal.signal(signal.SIGINT, signal.default_int_handler)
uris = sys.argv[2:]
options = {"AWS_ENDPOINT_URL": sys.argv[1], "S3DLIO_MAX_RETRIES": "0"}
print("started", flush=True)
t0 = time.monotonic()
try:
    s3dlio.get_many(uris, options=options)
    print("finished", flush=True)
except KeyboardInterrupt:
    print(f"interrupted {time.monotonic() - t0:.2f}", flush=True)
"""


@pytest.mark.timeout(120)
def test_keyboard_interrupt_cancels_get_many(s3_bucket, moto_server, tmp_path):
    uris = [f"s3://{s3_bucket}/slow/{i}" for i in range(4)]
    s3dlio.put_many([(u, b"x" * 1000) for u in uris])
    with FaultProxy(upstream=moto_server) as proxy:
        proxy.inject([stall(30)] * 4, method="GET")
        child = subprocess.Popen(
            [sys.executable, "-c", CHILD, proxy.url, *uris],
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert child.stdout.readline().strip() == "started"
        time.sleep(1.0)
        sent = time.monotonic()
        child.send_signal(signal.SIGINT)
        out, _ = child.communicate(timeout=20)
        waited = time.monotonic() - sent
    assert out.startswith("interrupted"), out
    assert waited < 5, f"KeyboardInterrupt took {waited:.1f} s"
