"""Missing configuration fails with a clear, typed error naming the URI,
what was tried and what to set; and `import s3dlio` works (or says what to
do) from the checkout's root, where ./s3dlio is the unbuilt source.

Each case runs in a child process whose environment lacks the settings.
Every metadata endpoint a credential chain could ask points at a loopback
listener that counts the connections it accepts, so nothing leaves the
machine, and a metadata server turned off is shown never to be asked.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest
from connection_counter import ConnectionCounter
from loopback_http import LoopbackServer

ROOT = Path(__file__).resolve().parents[2]
TESTS = Path(__file__).resolve().parent

# Runs `calls` (a JSON list of [name, args, kwargs] of s3dlio functions, or
# ["cli", argv]); prints, for each, its error's type, base classes and text.
CHILD = """
import json, sys
import s3dlio
out = []
for call in json.loads(sys.argv[1]):
    try:
        if call[0] == "cli":
            out.append({"status": s3dlio.cli_main(call[1])})
            continue
        getattr(s3dlio, call[0])(*call[1], **call[2])
        out.append({"ok": True})
    except Exception as e:
        out.append({
            "type": type(e).__name__,
            "auth": isinstance(e, s3dlio.AuthError) and isinstance(e, PermissionError),
            "value": isinstance(e, s3dlio.InvalidArgumentError) and isinstance(e, ValueError),
            "message": str(e),
        })
print(json.dumps(out))
"""


def _env_without(*prefixes: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(prefixes)}
    # Fast failures: a metadata server that fails is asked once.
    env["S3DLIO_MAX_RETRIES"] = "0"
    env.update(extra)
    return env


def _run(env: dict[str, str], calls: list) -> list[dict]:
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, json.dumps(calls)],
        env=env,
        cwd=TESTS,  # not the checkout's root
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    return json.loads(proc.stdout)


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    exe = Path(sys.executable).parent / "s3dlio"
    return subprocess.run(
        [str(exe), *args], env=env, cwd=TESTS, capture_output=True, text=True, timeout=60
    )


AWS_SOURCES = (
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "instance metadata",
    "AWS_SKIP_SIGNATURE",
)


def _assert_no_aws_credentials(message: str, uri: str) -> None:
    assert uri in message and "no AWS credentials" in message, message
    for named in AWS_SOURCES:
        assert named in message, (named, message)
    assert "\n" not in message


def _aws_env(metadata_endpoint: str, **extra: str) -> dict[str, str]:
    # No credentials, no endpoint (an emulator's would sign nothing).
    return _env_without("AWS_", AWS_METADATA_ENDPOINT=metadata_endpoint, **extra)


S3_URI = "s3://no-such-bucket/x"
S3_CALLS = [["list", [S3_URI], {}], ["get", [S3_URI], {}]]


@pytest.mark.timeout(60)
def test_s3_without_credentials_and_metadata_turned_off_asks_no_one():
    with ConnectionCounter() as metadata:
        env = _aws_env(f"http://127.0.0.1:{metadata.port}", AWS_EC2_METADATA_DISABLED="true")
        results = _run(env, S3_CALLS)
        cli = _cli(env, "ls", S3_URI)
        # The option spelling, with the variable unset.
        option = {"options": {"aws_ec2_metadata_disabled": "true"}}
        by_option = _run(
            _aws_env(f"http://127.0.0.1:{metadata.port}"),
            [["list", [S3_URI], option], ["get", [S3_URI], option]],
        )
    assert metadata.count == 0
    for result in results + by_option:
        assert result["auth"], result
        _assert_no_aws_credentials(result["message"], S3_URI)
        assert "AWS_EC2_METADATA_DISABLED" in result["message"]
    assert cli.returncode == 1
    lines = cli.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("s3dlio: error: permission denied"), cli.stderr
    _assert_no_aws_credentials(lines[0], S3_URI)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("metadata", ["refuses", "fails"])
def test_s3_without_credentials_is_an_auth_error_when_metadata_fails(metadata):
    with ConnectionCounter() as listener:
        # A closed port refuses; the counter accepts and hangs up.
        port = 1 if metadata == "refuses" else listener.port
        env = _aws_env(f"http://127.0.0.1:{port}")
        results = _run(env, [*S3_CALLS, ["cli", ["s3dlio", "ls", S3_URI]]])
    assert results[2] == {"status": 1}
    for result in results[:2]:
        assert result["auth"], result
        _assert_no_aws_credentials(result["message"], S3_URI)
        assert f"instance metadata at http://127.0.0.1:{port}, which failed" in result["message"]
    assert (listener.count > 0) == (metadata == "fails")


class _NotFound(BaseHTTPRequestHandler):
    """A metadata server that answers 404 to everything (a cloud machine
    without a role)."""

    def _answer(self):
        self.send_response(404)
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_GET = do_PUT = _answer

    def log_message(self, *args):
        pass


@pytest.mark.timeout(60)
def test_s3_metadata_that_answers_an_error_is_an_auth_error_not_a_missing_object():
    with LoopbackServer(_NotFound) as metadata:
        results = _run(_aws_env(metadata.url), S3_CALLS)
    for result in results:
        assert result["auth"], result
        message = result["message"]
        assert message.startswith(
            f"permission denied for {S3_URI}: no credentials from instance metadata at "
            f"{metadata.url}: "
        ), message
        assert "404" in message, message


def test_half_an_aws_key_pair_is_an_auth_error_naming_the_missing_half():
    env = _aws_env("http://127.0.0.1:1", AWS_ACCESS_KEY_ID="AKIDEXAMPLE")
    [result] = _run(env, [["list", [S3_URI], {}]])
    assert result["auth"], result
    assert result["message"] == (
        f"permission denied for {S3_URI}: AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not"
    )


def test_azure_without_an_account_is_an_invalid_argument_naming_what_to_set():
    uri = "az://container/x"
    env = _env_without("AZURE_", "AZURITE_")
    results = _run(env, [["get", [uri], {}], ["list", [uri], {}]])
    for result in results:
        assert result["value"], result
        message = result["message"]
        assert uri in message and "no Azure storage account" in message, message
        assert "AZURE_STORAGE_ACCOUNT_NAME" in message, message
        assert "azure_storage_account_name" in message, message
        assert "AZURE_STORAGE_USE_EMULATOR" in message, message


GS_URI = "gs://no-such-bucket/x"
GCS_SOURCES = (
    "GOOGLE_SERVICE_ACCOUNT",
    "GOOGLE_SERVICE_ACCOUNT_KEY",
    "GOOGLE_APPLICATION_CREDENTIALS",
    "application_default_credentials.json",
    "the metadata server at 127.0.0.1:",
    "STORAGE_EMULATOR_HOST",
)


def _gcs_env(home: Path, metadata: str, **extra: str) -> dict[str, str]:
    # No credentials, no emulator, no gcloud file under HOME; the metadata
    # server only ever on loopback.
    return _env_without(
        "GOOGLE_",
        "GCE_",
        "STORAGE_EMULATOR_HOST",
        HOME=str(home),
        GCE_METADATA_HOST=metadata,
        GCE_METADATA_IP=metadata,
        **extra,
    )


@pytest.mark.timeout(60)
@pytest.mark.parametrize("metadata", ["refuses", "fails"])
def test_gcs_without_credentials_is_an_auth_error_naming_the_sources(metadata, tmp_path):
    with ConnectionCounter() as listener:
        port = 1 if metadata == "refuses" else listener.port
        results = _run(_gcs_env(tmp_path, f"127.0.0.1:{port}"), [["get", [GS_URI], {}]])
    for result in results:
        assert result["auth"], result
        message = result["message"]
        assert GS_URI in message and "no Google Cloud credentials" in message, message
        for named in GCS_SOURCES:
            assert named in message, (named, message)
        assert ("nothing answers" in message) == (metadata == "refuses"), message
    assert (listener.count > 0) == (metadata == "fails")


def test_gcs_credentials_file_that_is_missing_is_an_auth_error_naming_it(tmp_path):
    missing = tmp_path / "missing-key.json"
    env = _gcs_env(tmp_path, "127.0.0.1:1", GOOGLE_APPLICATION_CREDENTIALS=str(missing))
    [result] = _run(env, [["get", [GS_URI], {}]])
    assert result["auth"], result
    message = result["message"]
    assert GS_URI in message and str(missing) in message, message
    assert "GOOGLE_APPLICATION_CREDENTIALS cannot be used" in message, message


def _python_in_root(*args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return subprocess.run(
        [sys.executable, *args], env=env, cwd=ROOT, capture_output=True, text=True, timeout=60
    )


def test_import_from_the_checkouts_root_uses_the_installed_extension(tmp_path):
    code = (
        "import sys, s3dlio\n"
        "assert s3dlio.__file__.startswith(sys.argv[1]), s3dlio.__file__\n"
        "uri = 'file://' + sys.argv[2] + '/obj.bin'\n"
        "s3dlio.put(uri, b'from the root')\n"
        "print(bytes(s3dlio.get(uri)).decode())\n"
    )
    proc = _python_in_root("-c", code, str(ROOT / "s3dlio"), str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "from the root\n"


def test_import_from_the_checkouts_root_without_a_build_says_what_to_do():
    # -S: no site-packages, so no installed s3dlio to borrow from.
    proc = _python_in_root("-S", "-c", "import s3dlio")
    assert proc.returncode == 1
    assert "circular import" not in proc.stderr, proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("ImportError: s3dlio is imported from its source folder"), last
    assert "bash scripts/setup.sh" in last and "pip install ." in last, last
    assert "outside the source folder" in last, last


@pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="torch is not installed")
def test_import_s3dlio_torch_from_the_checkouts_root():
    code = "import s3dlio_torch, s3dlio; print(s3dlio_torch.__file__, s3dlio._core.__file__)"
    proc = _python_in_root("-c", code)
    assert proc.returncode == 0, proc.stderr
    torch_file, core_file = proc.stdout.split()
    assert torch_file.startswith(str(ROOT / "s3dlio_torch")), torch_file
    assert not core_file.startswith(str(ROOT / "s3dlio")), core_file
