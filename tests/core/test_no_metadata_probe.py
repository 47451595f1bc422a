"""With an emulator endpoint set and no credentials, the library never asks
a cloud metadata server for credentials.

The metadata endpoints point at a loopback listener that counts the
connections it accepts; the library runs in a child process whose
environment has no credentials, and must work (the emulators accept
unsigned requests to public objects) without a single connection to the
listener.
"""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys

import pytest
from connection_counter import ConnectionCounter

CHILD = """
import json, sys
import s3dlio
uri, check_exists = sys.argv[1], sys.argv[2] == "1"
result = {"data": bytes(s3dlio.get(uri)).hex()}
if check_exists:
    result["exists"] = s3dlio.exists(uri)
print(json.dumps(result))
"""


def _put_public_read(port: int, bucket: str, key: str, data: bytes) -> None:
    """Write an object to moto with a public-read ACL (moto refuses unsigned
    reads of private objects)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("PUT", f"/{bucket}/{key}", body=data, headers={"x-amz-acl": "public-read"})
        resp = conn.getresponse()
        assert resp.status == 200, f"{resp.status} {resp.read()[:500]!r}"
        resp.read()
    finally:
        conn.close()


def _run_child(env: dict[str, str], uri: str, check_exists: bool, cwd) -> dict:
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, uri, "1" if check_exists else "0"],
        env=env,
        cwd=cwd,  # not the repository root, where ./s3dlio is the unbuilt source
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    return json.loads(proc.stdout)


@pytest.mark.timeout(90)
def test_s3_without_credentials_does_not_probe_metadata(
    s3_bucket, moto_server, moto_port, tmp_path
):
    uri = f"s3://{s3_bucket}/anon.bin"
    _put_public_read(moto_port, s3_bucket, "anon.bin", b"no credentials needed")
    with ConnectionCounter() as metadata:
        env = dict(os.environ)
        env.pop("AWS_ACCESS_KEY_ID", None)
        env.pop("AWS_SECRET_ACCESS_KEY", None)
        env["AWS_METADATA_ENDPOINT"] = f"http://127.0.0.1:{metadata.port}"
        env["AWS_ENDPOINT_URL"] = moto_server
        result = _run_child(env, uri, check_exists=True, cwd=tmp_path)
    assert result == {"data": b"no credentials needed".hex(), "exists": True}
    assert metadata.count == 0


@pytest.mark.timeout(90)
def test_gcs_without_credentials_does_not_probe_metadata(gs_prefix, seed, fake_gcs, tmp_path):
    uri = f"{gs_prefix}/anon.bin"
    seed(uri, b"no credentials needed")
    with ConnectionCounter() as metadata:
        env = {k: v for k, v in os.environ.items() if not k.startswith("GOOGLE_")}
        env["GCE_METADATA_HOST"] = f"127.0.0.1:{metadata.port}"
        env["GCE_METADATA_IP"] = f"127.0.0.1:{metadata.port}"
        env["STORAGE_EMULATOR_HOST"] = fake_gcs
        result = _run_child(env, uri, check_exists=False, cwd=tmp_path)
    assert result == {"data": b"no credentials needed".hex()}
    assert metadata.count == 0
