"""Ours' workers import the build this interpreter imports: ``run.py``
under ``PYTHONPATH=<a folder with a build of ours>`` hands that path to
ours' workers, and never to the peers' (PyPI's s3dlio 0.10.0 shares our
import name), whatever else of the environment it drops."""

import os
import sys


def test_ours_workers_get_this_pythonpath_and_the_peers_do_not(bench_run, tmp_path):
    site = tmp_path / "site"
    dist = site / "zz_probe-1.2.3.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: zz-probe\nVersion: 1.2.3\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    runner = bench_run.Runner(sys.executable, sys.executable, tmp_path, env, 120, str(site))
    spec = {"op": "versions", "packages": ["zz-probe"]}
    for ours in ("ours", "webdataset", "tarfile"):
        assert runner.work({**spec, "contender": ours}).get("zz-probe") == "1.2.3", ours
    assert "zz-probe" not in runner.work({**spec, "contender": "python"})
