#!/usr/bin/env bash
# Cloud Custodian in its own virtualenv (never in the project's): C7N_VENV, default /tmp/c7n-venv.
set -euo pipefail
venv="${C7N_VENV:-/tmp/c7n-venv}"
python3 -m venv "$venv"
"$venv/bin/pip" install --quiet c7n
"$venv/bin/custodian" version
