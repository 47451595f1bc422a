#!/usr/bin/env bash
# Set-up shared by the demo and the tests: a project-local virtualenv with
# the test/demo requirements, and s3dlio built once in release mode and
# installed into it with `pip install .`. Safe to run repeatedly.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    if ! "$PYTHON" -m venv .venv 2>/dev/null; then
        # Debian's python3 ships venv separately.
        rm -rf .venv
        if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
            apt-get update -qq && apt-get install -y -qq python3-venv >/dev/null
        fi
        "$PYTHON" -m venv .venv
    fi
fi
# shellcheck disable=SC1091
source .venv/bin/activate
python -m pip install -q --upgrade pip
python -m pip install -q -r requirements-test.txt

# System tools the tests start: strace (the checkpoint crash tests kill
# writers at exact system calls), nginx (a second real HTTP server for
# the plain-HTTP GET client, besides moto, and an HTTPS one), openssl (its
# throwaway certificates) and OpenSSL's headers (the benchmark's TLS floor).
missing=()
command -v strace >/dev/null || missing+=(strace)
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || missing+=(nginx-light)
command -v openssl >/dev/null || missing+=(openssl)
[ -f /usr/include/openssl/ssl.h ] || missing+=(libssl-dev)
if [ "${#missing[@]}" -gt 0 ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        apt-get update -qq && apt-get install -y -qq "${missing[@]}" >/dev/null
    else
        echo "the tests need: ${missing[*]} (apt-get install ${missing[*]})" >&2
        exit 1
    fi
fi

# Azurite (the Azure Blob emulator the tests start), installed project-local
# under .servers/ (git-ignored). fake-gcs-server comes with requirements-test.txt.
if [ ! -x .servers/node_modules/.bin/azurite-blob ]; then
    if ! command -v npm >/dev/null; then
        echo "npm (Node.js 20) is needed to install Azurite for the tests" >&2
        exit 1
    fi
    npm install --prefix .servers azurite@3 --no-audit --no-fund
fi

# One release build, reused by `cargo test --release` afterwards.
python -m pip install -q --no-build-isolation --force-reinstall --no-deps .
(cd / && python -c "import s3dlio, s3dlio_torch, s3dlio_jax; print('s3dlio', s3dlio.__version__, 'installed')")
