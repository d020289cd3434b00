#!/usr/bin/env bash
# Checkov 3.3.30 in its own virtualenv (never in the project's): CHECKOV_VENV, default benchmarks/checkov/.venv.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
venv="${CHECKOV_VENV:-$here/.venv}"
python3 -m venv "$venv"
"$venv/bin/pip" install --quiet "checkov==3.3.30"
"$venv/bin/checkov" --version
