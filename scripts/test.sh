#!/usr/bin/env bash
# The project's test command (the README's, and CI's through .ci/run): installs polysource and
# every real component the tests use, then runs lint, the type checker and the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."

python3 -m pip install --quiet --disable-pip-version-check -e '.[test]'
eval "$(bash scripts/services.sh | tail -n 1 | sed 's/^/export /')"

ruff check .
ruff format --check .
mypy
python3 -m pytest -q -p no:cacheprovider "$@"
