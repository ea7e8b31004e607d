#!/usr/bin/env bash
# The lowest dependency versions pyproject.toml allows (constraints-lowest.txt), proven: in a virtualenv of
# their own (.venv-lowest), synthesize the example app with the real cdk CLI and run the handler's and the
# CLI's tests.
set -euo pipefail
cd "$(dirname "$0")/.."
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION=20
if [ ! -x .venv-lowest/bin/python ]; then python3 -m venv .venv-lowest; fi
# The test tools at the versions constraints.txt pins; the package's own dependencies at their lowest.
tools=$(grep -E '^(pytest|syrupy|hypothesis|iniconfig|pluggy|packaging|sortedcontainers|attrs)==' constraints.txt)
# shellcheck disable=SC2086
.venv-lowest/bin/python -m pip install --quiet --disable-pip-version-check -c constraints-lowest.txt -e . $tools
.venv-lowest/bin/python - <<'PY'
from importlib.metadata import version
lowest = dict(line.split("==") for line in open("constraints-lowest.txt") if "==" in line and not line.startswith("#"))
installed = {name: version(name) for name in lowest}
print("lowest versions:", ", ".join(f"{n} {v}" for n, v in installed.items()))
assert installed == {n: v.strip() for n, v in lowest.items()}, installed
PY
rm -rf cdk.out-lowest
npx --no-install cdk synth --quiet --app ".venv-lowest/bin/python app.py" --output cdk.out-lowest
test -s cdk.out-lowest/ShadowTestExample.template.json
.venv-lowest/bin/python -m pytest -q -p no:cacheprovider -m "not slow" \
  tests/test_decisions.py tests/test_scenarios.py tests/standin tests/test_judge_cli.py tests/test_validation.py
