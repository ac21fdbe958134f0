#!/usr/bin/env bash
# docs/build.sh OUT: the collection's documentation site into OUT/html, from the plugins' and roles' own
# documentation (antsibull-docs, the collection as ansible.cfg's collections_path finds it), with
# sphinx-build -W (a broken reference fails the build). scripts/docs.sh runs it in CI.
set -euo pipefail
DOCS=$(cd "$(dirname "$0")" && pwd)
OUT=$1
mkdir -p "$OUT/rst"
chmod og-w "$OUT/rst"  # antsibull-docs wants that directory only writable by itself
antsibull-docs --config-file "$DOCS/antsibull-docs.cfg" collection --cleanup everything --use-current \
    --dest-dir "$OUT/rst" consolidation.xen
cp "$DOCS/index.rst" "$DOCS/ansible_references.rst" "$OUT/rst/"
sphinx-build -M html "$OUT/rst" "$OUT/build" -c "$DOCS" -q -W --keep-going
