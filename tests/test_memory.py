"""Holding 1 GiB fetched through get_batch costs about 1 GiB of memory:
no hidden copy (peak RSS stays under 1.15 GiB above the baseline)."""

import subprocess
import sys

import numpy as np
import pytest

GiB = 1 << 30

# Peak RSS is read from VmHWM: getrusage's ru_maxrss survives exec on Linux
# and so reports the (much larger) test runner that forked the child.
CHILD = r"""
import sys
import s3dlio

def status(field):
    for line in open("/proc/self/status"):
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise KeyError(field)

base = status("VmRSS")
batch = s3dlio.get_batch(sys.argv[1:])
assert batch.nbytes == (len(sys.argv) - 1) * (16 << 20), batch.nbytes
print(base, status("VmHWM"), status("VmRSS"))
"""


@pytest.mark.timeout(300)
def test_peak_rss_holding_one_gib(tmp_path):
    block = np.random.default_rng(0).integers(0, 256, 16 << 20, dtype=np.uint8)
    uris = []
    for i in range(GiB // (16 << 20)):
        path = tmp_path / f"{i:02d}.bin"
        block[:8] = i
        block.tofile(path)
        uris.append(f"file://{path}")
    out = subprocess.run(
        [sys.executable, "-c", CHILD, *uris],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=240,
        check=True,
    ).stdout
    base, peak, held = map(int, out.split())
    assert held - base >= GiB * 0.99, "the batch must really be held"
    assert peak - base < 1.15 * GiB, f"peak {(peak - base) / GiB:.3f} GiB above baseline"
