"""Holding what get_batch fetched costs about its size in memory: no hidden
copy, and no whole object held on the side while it streams into the batch
(peak RSS stays under 1.15x the data above the baseline)."""

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
assert bytes(batch[0][:8]) == bytes(8) and bytes(batch[len(batch) - 1][:1])[0] == len(batch) - 1
print(base, status("VmHWM"), status("VmRSS"))
"""


def _assert_batch_costs_its_size(uris: list[str], tmp_path) -> None:
    """get_batch(uris) of 16 MiB objects in a fresh process: the batch is
    held, and peak RSS stays under 1.15x of the data above the baseline."""
    out = subprocess.run(
        [sys.executable, "-c", CHILD, *uris],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=240,
        check=True,
    ).stdout
    base, peak, held = map(int, out.split())
    data = len(uris) * (16 << 20)
    assert held - base >= data * 0.99, "the batch must really be held"
    assert peak - base < 1.15 * data, f"peak {(peak - base) / data:.3f}x the data above baseline"


@pytest.mark.timeout(300)
def test_peak_rss_holding_one_gib(tmp_path):
    block = np.random.default_rng(0).integers(0, 256, 16 << 20, dtype=np.uint8)
    uris = []
    for i in range(GiB // (16 << 20)):
        path = tmp_path / f"{i:02d}.bin"
        block[:8] = i
        block.tofile(path)
        uris.append(f"file://{path}")
    _assert_batch_costs_its_size(uris, tmp_path)


@pytest.mark.timeout(300)
def test_peak_rss_of_a_batch_from_s3(s3_prefix, tmp_path):
    """Over plain HTTP each row of a batch is received in place: no body is
    held whole on the side first (16 x 16 MiB in flight at once)."""
    import s3dlio

    block = np.random.default_rng(0).integers(0, 256, 16 << 20, dtype=np.uint8)
    block[:8] = 0
    uris = [f"{s3_prefix}/{i:02d}.bin" for i in range(16)]
    for i, uri in enumerate(uris):
        block[0] = i
        s3dlio.put(uri, block)
    _assert_batch_costs_its_size(uris, tmp_path)
