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
# ansible-test sanity's pep8 test (pycodestyle, its ignore list, 160 columns) catches what ruff does not
# (E128 continuation indents); run here so that it does not first fail a whole CI run.
echo "== pycodestyle (ansible-test sanity pep8's settings)"
PEP8_IGNORE=$(python - <<'PY'
import os
import ansible_test
path = os.path.join(os.path.dirname(ansible_test.__file__), "_util", "controller", "sanity", "pep8",
                    "current-ignore.txt")
with open(path) as f:
    print(",".join(line.strip() for line in f if line.strip() and not line.startswith("#")))
PY
)
python -m pycodestyle --max-line-length 160 --ignore "$PEP8_IGNORE" plugins tests lab
echo "== pytest tests/unit"
PYTHONPATH=$ROOT/.collections${PYTHONPATH:+:$PYTHONPATH} python -m pytest -p no:cacheprovider -q -x tests/unit
