#!/usr/bin/env bash
# The fast inner loop (`make check`): ruff, then the unit tests, stopping at the first failure.
# No ansible-test here; `make test` runs everything.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

[ -x "$ROOT/.venv/bin/ruff" ] || { echo "No .venv here: run 'make bootstrap' first." >&2; exit 1; }
[ -e "$ROOT/.collections/ansible_collections/consolidation/xen/galaxy.yml" ] \
    || { echo "No .collections link: run 'make bootstrap' first." >&2; exit 1; }
export PATH=$ROOT/.venv/bin:$PATH

echo "== ruff check"
ruff check .
echo "== pytest tests/unit"
PYTHONPATH=$ROOT/.collections${PYTHONPATH:+:$PYTHONPATH} python -m pytest -p no:cacheprovider -q -x tests/unit
