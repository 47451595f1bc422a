#!/usr/bin/env bash
# Every check and every test: formatting, lints, type checks, Rust tests, Python tests
# against a real S3 server (moto, started by the test suite on 127.0.0.1).
set -euo pipefail
cd "$(dirname "$0")/.."

# Never reach a cloud metadata service, whatever the tests forget.
export AWS_EC2_METADATA_DISABLED=true AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test
export AWS_REGION=us-east-1 GCE_METADATA_HOST=127.0.0.1:1 GCE_METADATA_IP=127.0.0.1:1
export NO_PROXY=127.0.0.1,localhost

step() { printf '\n==> %s\n' "$*"; }

step "set-up (virtualenv, release build, pip install .)"
bash scripts/setup.sh
# shellcheck disable=SC1091
source .venv/bin/activate

step "cargo fmt --check"
cargo fmt --all --check

step "cargo clippy -D warnings"
cargo clippy --release --workspace --all-targets -- -D warnings

step "ruff"
ruff check .
ruff format --check .

step "mypy (the Python packages, with _core.pyi)"
mypy

step "stubtest (_core.pyi against the compiled extension)"
# -P keeps this folder off sys.path: the runtime side is then the installed
# s3dlio with its compiled _core, while the stub read is this tree's.
python -P -m mypy.stubtest s3dlio._core --allowlist scripts/stubtest-allowlist.txt

step "cargo test (release, reusing the build)"
cargo test --release -p s3dlio-core -p s3dlio-cli

step "pytest"
set +e
pytest -p no:cacheprovider -W error "$@"
status=$?
set -e
if [ "$status" -eq 5 ]; then
    echo "pytest collected no tests: failing" >&2
    exit 1
fi
exit "$status"
