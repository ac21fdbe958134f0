#!/bin/bash
# scripts/galaxy-check.sh: the collection as a Galaxy or Automation Hub user gets it (a CI stage of
# scripts/test.sh). From this checkout:
#   1. `ansible-galaxy collection build` (galaxy.yml's build_ignore decides what ships); prints the
#      tarball's size and what it holds;
#   2. installs it into an empty collections path, with exactly the dependencies galaxy.yml declares,
#      each taken from the collections the ansible package bundles (there is no Galaxy here) and
#      checked against its declared range;
#   3. with Ansible looking nowhere else (ANSIBLE_COLLECTIONS_SCAN_SYS_PATH=false), from an empty
#      directory: every playbook of the collection passes --syntax-check by its FQCN (each module it
#      names must resolve), and consolidation.xen.plan runs on the shipped example inventory;
#   4. control: without the dependencies, the syntax check of consolidation.xen.failover fails on
#      community.general.ipmi_power (so step 3 can fail);
#   5. renders the execution environment's build context (`ansible-builder create`; nothing is pulled or
#      built) with that tarball, and checks the Containerfile installs it with the dependencies.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
say() { printf '[galaxy] %s\n' "$*"; }
die() { printf '[galaxy] ERROR: %s\n' "$*" >&2; exit 1; }

work=$(mktemp -d "${TMPDIR:-/tmp}/consolidation-xen-galaxy.XXXXXX")
trap '[ "${KEEP_GALAXY_WORK:-0}" = 1 ] || rm -rf "$work"' EXIT
mkdir -p "$work/dist" "$work/with" "$work/alone" "$work/empty"

# run COLLECTIONS_DIR COMMAND...: from an empty directory (no ansible.cfg), Ansible sees that directory's
# collections and nothing else.
run() {
    local dir=$1; shift
    (cd "$work/empty" && env -u ANSIBLE_CONFIG ANSIBLE_COLLECTIONS_PATH="$dir" ANSIBLE_COLLECTIONS_SCAN_SYS_PATH=false \
        ANSIBLE_NOCOLOR=1 "$@")
}
run "$work/alone" ansible-galaxy collection build --output-path "$work/dist" "$ROOT" >/dev/null
tarball=$(ls "$work"/dist/consolidation-xen-*.tar.gz)
files=$(tar tzf "$tarball" | grep -vc '/$')
say "built $(basename "$tarball"): $(( $(stat -c %s "$tarball") / 1024 )) KiB, $files files"
tar tzf "$tarball" | grep -v '/$' | awk -F/ '{print (NF > 2 ? $1 "/" $2 : $1)}' | sort | uniq -c \
    | awk '{printf "  %4d %s\n", $1, $2}'
for shipped_not in molecule/ tests/lab/ inventories/lab/ tests/ontap_sim/ scripts/ lab/; do
    if tar tzf "$tarball" | grep -q "^$shipped_not"; then die "the tarball ships $shipped_not, which cannot run from it"; fi
done

for dest in with alone; do
    run "$work/$dest" ansible-galaxy collection install --no-deps -p "$work/$dest" "$tarball" >/dev/null
done

# The declared dependencies, each from the ansible package's bundled collections, within its range.
python - "$ROOT/galaxy.yml" "$work/with/ansible_collections" <<'EOF'
import json
import shutil
import sys
from pathlib import Path

import ansible_collections
import yaml
from packaging.specifiers import SpecifierSet

deps = yaml.safe_load(Path(sys.argv[1]).read_text()).get("dependencies") or {}
dest = Path(sys.argv[2])
bundled = Path(ansible_collections.__path__[0])
for name, spec in sorted(deps.items()):
    namespace, coll = name.split(".")
    src = bundled / namespace / coll
    version = json.loads((src / "MANIFEST.json").read_text())["collection_info"]["version"]
    if version not in SpecifierSet(spec):
        sys.exit("[galaxy] ERROR: %s %s (bundled with ansible) is outside the declared range %s" % (name, version, spec))
    shutil.copytree(src, dest / namespace / coll, symlinks=True)
    print("[galaxy] dependency %s %s (declared %s)" % (name, version, spec))
EOF

inventory=$work/with/ansible_collections/consolidation/xen/inventories/example/hosts.yml
playbooks=$(tar tzf "$tarball" | sed -n 's#^playbooks/\([a-z_]*\)\.yml$#consolidation.xen.\1#p' | sort)
for pb in $playbooks; do
    run "$work/with" ansible-playbook -i "$inventory" --syntax-check "$pb" >"$work/syntax.log" 2>&1 \
        || { cat "$work/syntax.log" >&2; die "$pb does not resolve with only the declared dependencies"; }
done
say "--syntax-check passed with only the declared dependencies: $(echo "$playbooks" | tr '\n' ' ')"

run "$work/with" ansible-playbook -i "$inventory" consolidation.xen.plan >"$work/plan.log" 2>&1 \
    || { tail -40 "$work/plan.log" >&2; die "consolidation.xen.plan failed from the installed tarball"; }
grep -q "N-1 proof: PASSED" "$work/plan.log" || { tail -40 "$work/plan.log" >&2; die "no N-1 proof in plan's output"; }
say "consolidation.xen.plan ran from the installed tarball on its example inventory: N-1 proof PASSED"

if run "$work/alone" ansible-playbook -i "$inventory" --syntax-check consolidation.xen.failover >"$work/alone.log" 2>&1; then
    die "control: consolidation.xen.failover passed its syntax check without community.general"
fi
grep -q "community.general.ipmi_power" "$work/alone.log" || { cat "$work/alone.log" >&2; die "control: unexpected failure"; }
say "control: without the dependencies, consolidation.xen.failover does not resolve community.general.ipmi_power"

# The execution environment, rendered as a user renders it after building the tarball into ee-collection/.
mkdir -p "$work/ee/ee-collection"
cp "$ROOT/execution-environment.yml" "$ROOT/ee-requirements.yml" "$ROOT/requirements.txt" "$ROOT/bindep.txt" "$work/ee/"
cp "$tarball" "$work/ee/ee-collection/"
(cd "$work/ee" && ansible-builder create --file execution-environment.yml --context "$work/ee-context" \
    --output-filename Containerfile >/dev/null)
ctx=$work/ee-context
cmp -s "$tarball" "$ctx/_build/ee-collection/$(basename "$tarball")" || die "the EE context lacks the tarball"
grep -qx 'ARG EE_BASE_IMAGE="docker.io/redhat/ubi9:latest"' "$ctx/Containerfile" || die "EE base image"
copy=$(grep -n '^COPY _build /build$' "$ctx/Containerfile" | head -1 | cut -d: -f1)
install=$(grep -n 'ansible-galaxy collection install .*-r requirements.yml' "$ctx/Containerfile" | head -1 | cut -d: -f1)
[ -n "$copy" ] && [ -n "$install" ] && [ "$copy" -lt "$install" ] \
    || { cat "$ctx/Containerfile" >&2; die "the Containerfile does not copy _build before the galaxy install"; }
grep -q "name: /build/ee-collection/$(basename "$tarball")" "$ctx/_build/requirements.yml" \
    || die "the EE's galaxy requirements do not name $(basename "$tarball")"
grep -q '^requests' "$ctx/_build/requirements.txt" && grep -q '^pyghmi' "$ctx/_build/requirements.txt" \
    || die "the EE's Python requirements lack requests or pyghmi"
say "EE build context rendered: base docker.io/redhat/ubi9:latest; $(basename "$tarball") in _build/, copied to /build \
(Containerfile line $copy) before the galaxy install of it and the dependencies (line $install); requests, pyghmi, ssh"
