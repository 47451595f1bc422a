"""AWS credential sources beyond the access key pair, each end to end
against moto on loopback, in a child process whose environment holds no
keys: a profile of the shared files (``AWS_PROFILE``), web identity (IRSA:
a token file and a role, exchanged at moto's STS), and container
credentials (EKS Pod Identity) that expire while a read loop runs and must
be refreshed without one request failing. A proxy in front of moto records
the key each request was signed with (and, for the expiring keys, refuses
one that has expired)."""

from __future__ import annotations

import json
import os
import ssl
import subprocess
import sys
import time
from pathlib import Path

import nginx_server
import pytest
from expiring_credentials import CredentialServer, KeyCheckingProxy, key_id
from fault_proxy import FaultProxy

import s3dlio

CREDENTIAL_VARS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE")

LOOP = """
import json, sys, time
import s3dlio
prefix, seconds = sys.argv[1], float(sys.argv[2])
done, failures, started = 0, [], time.monotonic()
while True:
    try:
        s3dlio.put(f"{prefix}/loop-{done % 4}", b"x" * 1000)
        assert len(s3dlio.get(f"{prefix}/loop-{done % 4}")) == 1000
        done += 1
    except Exception as e:  # every failure counts
        failures.append(repr(e)[:300])
    if time.monotonic() - started > seconds:
        break
    time.sleep(0.05)
print(json.dumps({"done": done, "failures": failures}))
"""


def child_env(tmp_path: Path, **env: str) -> dict[str, str]:
    """The test environment without credentials or moto's endpoint, and with
    no profile files but those the test writes; plus `env`."""
    out = {k: v for k, v in os.environ.items() if k not in CREDENTIAL_VARS}
    out.pop("AWS_ENDPOINT_URL", None)
    out["AWS_CONFIG_FILE"] = str(tmp_path / "no-config")
    out["AWS_SHARED_CREDENTIALS_FILE"] = str(tmp_path / "no-credentials")
    out.update(env)
    return out


def run(env: dict[str, str], prefix: str, seconds: float, cwd: Path) -> dict:
    proc = subprocess.run(
        [sys.executable, "-c", LOOP, prefix, str(seconds)],
        env=env,
        cwd=cwd,  # not the repository root, where ./s3dlio is the unbuilt source
        capture_output=True,
        text=True,
        timeout=seconds + 60,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    return json.loads(proc.stdout)


def test_a_profile_of_the_shared_files_signs_with_its_keys(moto_server, s3_prefix, tmp_path):
    with FaultProxy(upstream=moto_server) as proxy:
        (tmp_path / "config").write_text(
            f"[default]\nregion = eu-west-1\n\n[profile dev]\nregion = us-east-1\n"
            f"endpoint_url = {proxy.url}\n"
        )
        (tmp_path / "credentials").write_text(
            "[default]\naws_access_key_id = AKIDDEFAULT\naws_secret_access_key = d\n\n"
            "[dev]\naws_access_key_id = AKIDDEVPROFILE\naws_secret_access_key = dev-secret\n"
        )
        env = child_env(
            tmp_path,
            AWS_PROFILE="dev",
            AWS_CONFIG_FILE=str(tmp_path / "config"),
            AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "credentials"),
        )
        got = run(env, s3_prefix, 0, tmp_path)
        used = {key_id(r.headers) for r in proxy.requests}
    assert got["failures"] == [] and got["done"] >= 1, got
    # The profile's endpoint was used, and its keys signed every request.
    assert used == {"AKIDDEVPROFILE"}, used


def test_a_profile_that_is_not_there_is_refused_by_name(s3_prefix, tmp_path):
    env = child_env(tmp_path, AWS_PROFILE="nowhere")
    proc = subprocess.run(
        [sys.executable, "-c", f"import s3dlio; s3dlio.get({f'{s3_prefix}/k'!r})"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode != 0
    assert "AuthError" in proc.stderr and "the profile nowhere is in neither file" in proc.stderr


def test_web_identity_exchanges_its_token_at_sts(moto_server, s3_prefix, tmp_path):
    token = tmp_path / "token"
    token.write_text("eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ0ZXN0In0.c2lnbmF0dXJl")
    # object_store asks STS over HTTPS only: a loopback STS with a
    # certificate made for the test.
    nginx_server._make_certificate(tmp_path)
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")
    role = "arn:aws:iam::123456789012:role/trainer"
    with (
        CredentialServer(lifetime_s=3600, tls=tls) as sts,
        KeyCheckingProxy(moto_server, sts) as proxy,
    ):
        env = child_env(
            tmp_path,
            S3DLIO_CA_BUNDLE=str(nginx_server.certificate(tmp_path)),
            AWS_ENDPOINT_URL=proxy.url,
            AWS_ENDPOINT_URL_STS=sts.url.removesuffix("/v1/credentials"),
            AWS_WEB_IDENTITY_TOKEN_FILE=str(token),
            AWS_ROLE_ARN=role,
            AWS_ROLE_SESSION_NAME="trainer-0",
        )
        got = run(env, s3_prefix, 0, tmp_path)
        keys = proxy.keys_used()
    assert got["failures"] == [] and got["done"] >= 1, got
    assert len(sts.exchanged) == 1, sts.exchanged
    sent = sts.exchanged[0]
    assert (sent["RoleArn"], sent["RoleSessionName"]) == (role, "trainer-0")
    assert sent["WebIdentityToken"] == token.read_text()
    assert keys == list(sts.issued) and proxy.refused == [], (keys, proxy.refused)


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_container_credentials_that_expire_are_refreshed_mid_job(moto_server, s3_prefix, tmp_path):
    # The loop outlives three keys. CREDENTIALS_TEST_KEY_LIFETIME_S=30 runs it
    # at the size of real short-lived credentials (a 90 s loop); CI keeps
    # it at 10 s for the time budget.
    lifetime = float(os.environ.get("CREDENTIALS_TEST_KEY_LIFETIME_S", "10"))
    seconds = 3 * lifetime
    token = tmp_path / "pod-token"
    token.write_text("pod-identity-token")
    with (
        CredentialServer(lifetime_s=lifetime) as creds,
        KeyCheckingProxy(moto_server, creds) as proxy,
    ):
        env = child_env(
            tmp_path,
            AWS_ENDPOINT_URL=proxy.url,
            AWS_CONTAINER_CREDENTIALS_FULL_URI=creds.url,
            AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE=str(token),
        )
        started = time.monotonic()
        got = run(env, s3_prefix, seconds, tmp_path)
        took = time.monotonic() - started
        keys = proxy.keys_used()
        # The check can fail: a key past its expiry is refused.
        expired = next(iter(creds.issued))
        assert not creds.valid(expired)
        opts = {
            "aws_endpoint_url": proxy.url,
            "aws_access_key_id": expired,
            "aws_secret_access_key": f"secret-{expired}",
        }
        with pytest.raises(s3dlio.AuthError):
            s3dlio.get(f"{s3_prefix}/loop-0", options=opts)
    assert took >= seconds
    assert got["failures"] == [], got["failures"][:3]
    assert got["done"] >= 50, got
    assert len(keys) >= 3, keys
    # Only the requests signed with the expired key on purpose were refused.
    assert set(proxy.refused) == {expired}, proxy.refused
