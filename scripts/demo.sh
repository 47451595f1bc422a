#!/usr/bin/env bash
# The main job: set up, then load a generated local dataset and say what happened.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh >/dev/null
exec .venv/bin/python examples/demo.py "$@"
