#!/usr/bin/env bash
# scripts/docs.sh [OUT]: build the collection's documentation site (docs/build.sh: antsibull-docs, then
# sphinx-build -W, offline) into OUT (default .cache/docs) and check it has a page for every module,
# filter and role of the collection. A CI stage of scripts/test.sh; open OUT/build/html/index.html.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=${1:-$ROOT/.cache/docs}
say() { printf '[docs] %s\n' "$*"; }
die() { printf '[docs] ERROR: %s\n' "$*" >&2; exit 1; }
rm -rf "$OUT"
# The collection as the checkout's ansible.cfg finds it (.collections), nothing from elsewhere.
ANSIBLE_CONFIG=$ROOT/ansible.cfg ANSIBLE_COLLECTIONS_SCAN_SYS_PATH=false "$ROOT/docs/build.sh" "$OUT"
html=$OUT/build/html/collections/consolidation/xen
missing=()
for m in "$ROOT"/plugins/modules/*.py; do
    [ -e "$html/$(basename "$m" .py)_module.html" ] || missing+=("module $(basename "$m" .py)")
done
for f in "$ROOT"/plugins/filter/*.yml; do
    [ -e "$html/$(basename "$f" .yml)_filter.html" ] || missing+=("filter $(basename "$f" .yml)")
done
for r in "$ROOT"/roles/*/; do
    [ -e "$html/$(basename "$r")_role.html" ] || missing+=("role $(basename "$r")")
done
[ ${#missing[@]} -eq 0 ] || die "no page for: ${missing[*]}"
say "built $(find "$OUT/build/html" -name '*.html' | wc -l) pages into $OUT/build/html: every module, filter and role has one"
