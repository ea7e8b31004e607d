#!/usr/bin/env bash
# Install checkov into its own virtualenv, .venv-checkov: its pinned dependencies conflict with the
# project's (boto3), so it never goes into .venv. tests/test_security.py runs it from there (or from
# $CHECKOV_BIN) and fails when CI is set and it is missing. Run before `./dev test` in CI.
set -euo pipefail
cd "$(dirname "$0")/.."
version=3.3.30
if [ -x .venv-checkov/bin/checkov ] && [ "$(.venv-checkov/bin/checkov --version 2>/dev/null)" = "$version" ]; then
  exit 0
fi
python_bin=python3
for candidate in python3.11 python3.12 python3.10; do
  if command -v "$candidate" >/dev/null 2>&1; then python_bin=$candidate; break; fi
done
"$python_bin" -m venv .venv-checkov
.venv-checkov/bin/python -m pip install --quiet --upgrade pip
.venv-checkov/bin/python -m pip install --quiet "checkov==$version"
.venv-checkov/bin/checkov --version
