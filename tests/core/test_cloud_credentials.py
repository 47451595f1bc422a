"""Azure and GCS credentials besides the emulators' defaults, end to end on
loopback: an Azure SAS token (an account SAS signed with Azurite's key,
which Azurite checks: a forged one is refused), and a GCS service-account
key file (object_store signs a JWT with the key for every request, checked
here against the key's public half through a proxy in front of
fake-gcs-server)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import urllib.parse
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from fault_proxy import FaultProxy

import s3dlio

# Azurite's well-known account and key (public, the emulator's own).
AZURITE_ACCOUNT = "devstoreaccount1"
AZURITE_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)


def account_sas(key: str, expiry: datetime) -> str:
    """An account SAS (blob service; read, write, delete, list, add, create)."""
    fields = {
        "sv": "2019-12-12",
        "ss": "b",
        "srt": "sco",
        "sp": "rwdlac",
        "se": expiry.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "spr": "https,http",
    }
    # account, permissions, services, resource types, start, expiry, IP,
    # protocols, version, and a final newline.
    parts = [AZURITE_ACCOUNT, fields["sp"], fields["ss"], fields["srt"], "", fields["se"]]
    to_sign = "\n".join([*parts, "", fields["spr"], fields["sv"], ""])
    digest = hmac.new(base64.b64decode(key), to_sign.encode(), hashlib.sha256).digest()
    fields["sig"] = base64.b64encode(digest).decode()
    return urllib.parse.urlencode(fields)


def test_an_azure_sas_token_reads_and_writes(az_prefix):
    sas = account_sas(AZURITE_KEY, datetime.now(UTC) + timedelta(hours=1))
    opts = {"azure_storage_sas_key": sas}
    s3dlio.put(f"{az_prefix}/sas.bin", b"s" * 1000, options=opts)
    assert bytes(s3dlio.get(f"{az_prefix}/sas.bin", options=opts)) == b"s" * 1000
    assert f"{az_prefix}/sas.bin" in s3dlio.list(f"{az_prefix}/", options=opts)


def test_a_forged_or_expired_azure_sas_is_refused(az_prefix):
    s3dlio.put(f"{az_prefix}/k", b"k")
    forged = account_sas(base64.b64encode(b"not the key").decode(), datetime.now(UTC))
    expired = account_sas(AZURITE_KEY, datetime.now(UTC) - timedelta(minutes=5))
    for sas in (forged, expired):
        with pytest.raises(s3dlio.AuthError, match=f"{az_prefix}/k"):
            s3dlio.get(f"{az_prefix}/k", options={"azure_storage_sas_key": sas})


def _b64url(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


@pytest.mark.parametrize("given_as", ["json", "file"])
def test_a_gcs_service_account_key_signs_every_request(
    fake_gcs, gs_bucket, seed, tmp_path, given_as
):
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    email = "trainer@project.iam.gserviceaccount.com"
    key = {
        "type": "service_account",
        "project_id": "project",
        "private_key_id": "key-1",
        "private_key": pem,
        "client_email": email,
        "client_id": "1",
        "token_uri": "https://oauth2.googleapis.com/token",
    }
    (tmp_path / "key.json").write_text(json.dumps(key))
    given = {
        "json": {"google_service_account_key": json.dumps(key)},
        "file": {"google_service_account": str(tmp_path / "key.json")},
    }[given_as]
    with FaultProxy(upstream=fake_gcs, upstream_host=True) as proxy:
        opts = {"storage_emulator_host": proxy.url, **given}
        uri = f"gs://{gs_bucket}/sa.bin"
        # Written with the emulator's own upload (it refuses object_store's),
        # read through the proxy with the key.
        seed(uri, b"g" * 1000)
        assert bytes(s3dlio.get(uri, options=opts)) == b"g" * 1000
        assert s3dlio.stat(uri, options=opts).size == 1000
        tokens = {r.headers.get("authorization", "") for r in proxy.requests}
    assert tokens and all(t.startswith("Bearer ") for t in tokens), tokens
    for token in tokens:
        header, payload, signature = token.removeprefix("Bearer ").split(".")
        # Signed with the key's private half: verify raises if not.
        private.public_key().verify(
            _b64url(signature),
            f"{header}.{payload}".encode(),
            padding.PKCS1v15(),
            hashes.SHA256(),
        )
        assert json.loads(_b64url(header)) | {"kid": "key-1"} == json.loads(_b64url(header))
        claims = json.loads(_b64url(payload))
        assert claims["iss"] == claims["sub"] == email, claims
        assert claims["exp"] > claims["iat"], claims
