#!/bin/bash
# scripts/oldest-core.sh: meta/runtime.yml's requires_ansible floor, proven (a CI stage of scripts/test.sh,
# run in the background from its start). With the oldest ansible-core the collection declares (its
# floor's minor, latest patch from PyPI) in a venv of its own:
#   1. the declared dependencies at versions inside galaxy.yml's ranges whose own requires_ansible admits
#      that core: ansible.posix and community.general as the ansible 12.3.0 package bundles them,
#      netapp.ontap as ansible 13.8.0 does (12.3.0's is below our floor); taken from those wheels (PyPI),
#      no Galaxy;
#   2. the collection's tarball built and installed with them into an empty collections path; from an empty
#      directory, every playbook passes --syntax-check by its FQCN and consolidation.xen.plan runs on the
#      example inventory, with no "does not support Ansible version" warning;
#   3. ansible-test sanity of that core on the shipped files: validate-modules, ansible-doc,
#      runtime-metadata, import, action-plugin-docs (the tests whose rules change with the core).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
say() { printf '[oldest-core] %s\n' "$*"; }
die() { printf '[oldest-core] ERROR: %s\n' "$*" >&2; exit 1; }

floor=$(sed -n 's/^requires_ansible: *"*>=\([0-9]*\.[0-9]*\)\.[0-9]*.*/\1/p' "$ROOT/meta/runtime.yml")
[ -n "$floor" ] || die "no requires_ansible floor in meta/runtime.yml"
PY=${OLDEST_CORE_PYTHON:-$ROOT/.venv/bin/python}
work=$(mktemp -d "${TMPDIR:-/tmp}/consolidation-xen-oldest.XXXXXX")
trap '[ "${KEEP_OLDEST_WORK:-0}" = 1 ] || rm -rf "$work"' EXIT
mkdir -p "$work/wheels" "$work/bundled" "$work/collections" "$work/empty" "$work/sanity"

"$PY" -m venv "$work/venv"
"$work/venv/bin/pip" install -q --disable-pip-version-check "ansible-core==$floor.*" 2>&1 | grep -v '^WARNING: Location' || true
core=$("$work/venv/bin/python" -c 'import ansible.release; print(ansible.release.__version__)')
case "$core" in "$floor".*) ;; *) die "installed ansible-core $core, not $floor.x";; esac
say "ansible-core $core (requires_ansible: >=$floor)"

for pkg in 12.3.0 13.8.0; do
    "$work/venv/bin/pip" download -q --disable-pip-version-check --no-deps "ansible==$pkg" -d "$work/wheels" 2>&1 \
        | grep -v '^WARNING: Location' || true
done
unzip -q "$work/wheels/ansible-12.3.0-py3-none-any.whl" -d "$work/bundled/12" \
    'ansible_collections/ansible/posix/*' 'ansible_collections/community/general/*'
unzip -q "$work/wheels/ansible-13.8.0-py3-none-any.whl" -d "$work/bundled/13" 'ansible_collections/netapp/ontap/*'

# Each dependency: inside galaxy.yml's range, and its own requires_ansible admits this core.
"$work/venv/bin/python" - "$ROOT/galaxy.yml" "$core" "$work" <<'EOF'
import json
import shutil
import sys
from pathlib import Path

import yaml
from ansible.module_utils.compat.version import LooseVersion

galaxy, core, work = Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3])
deps = yaml.safe_load(galaxy.read_text())["dependencies"]
source = {"ansible.posix": "12", "community.general": "12", "netapp.ontap": "13"}


def admits(spec, version):
    for part in spec.split(","):
        part = part.strip()
        op = part.rstrip("0123456789.")
        bound = LooseVersion(part[len(op):])
        v = LooseVersion(version)
        ok = {">=": v >= bound, ">": v > bound, "<": v < bound, "<=": v <= bound, "==": v == bound,
              "!=": v != bound}[op]
        if not ok:
            return False
    return True


for name, spec in sorted(deps.items()):
    namespace, coll = name.split(".")
    src = work / "bundled" / source[name] / "ansible_collections" / namespace / coll
    version = json.loads((src / "MANIFEST.json").read_text())["collection_info"]["version"]
    needs = yaml.safe_load((src / "meta" / "runtime.yml").read_text())["requires_ansible"]
    if not admits(spec, version):
        sys.exit("[oldest-core] ERROR: %s %s is outside galaxy.yml's range %s" % (name, version, spec))
    if not admits(needs, core):
        sys.exit("[oldest-core] ERROR: %s %s requires ansible-core %s, not %s" % (name, version, needs, core))
    shutil.copytree(src, work / "collections" / "ansible_collections" / namespace / coll, symlinks=True)
    print("[oldest-core] dependency %s %s (galaxy.yml %s; it requires ansible-core %s)" % (name, version, spec, needs))
EOF

run() {
    (cd "$work/empty" && env -u ANSIBLE_CONFIG PATH="$work/venv/bin:$PATH" ANSIBLE_COLLECTIONS_PATH="$work/collections" \
        ANSIBLE_COLLECTIONS_SCAN_SYS_PATH=false ANSIBLE_NOCOLOR=1 "$@")
}
run ansible-galaxy collection build --output-path "$work" "$ROOT" >/dev/null
tarball=$(ls "$work"/consolidation-xen-*.tar.gz)
run ansible-galaxy collection install --no-deps -p "$work/collections" "$tarball" >/dev/null
installed=$work/collections/ansible_collections/consolidation/xen
inventory=$installed/inventories/example/hosts.yml
for pb in $(cd "$installed/playbooks" && ls ./*.yml | sed 's#^\./\(.*\)\.yml$#consolidation.xen.\1#'); do
    run ansible-playbook -i "$inventory" --syntax-check "$pb" >"$work/syntax.log" 2>&1 \
        || { cat "$work/syntax.log" >&2; die "$pb: --syntax-check failed with ansible-core $core"; }
    if grep -q "does not support Ansible version" "$work/syntax.log"; then
        cat "$work/syntax.log" >&2; die "$pb: a collection does not support ansible-core $core"
    fi
done
say "--syntax-check passed with ansible-core $core for every playbook"
run ansible-playbook -i "$inventory" consolidation.xen.plan -e plan_report="$work/plan-report.html" \
    >"$work/plan.log" 2>&1 || { tail -40 "$work/plan.log" >&2; die "consolidation.xen.plan failed with $core"; }
grep -q "N-1 proof: PASSED" "$work/plan.log" && ! grep -q "does not support Ansible version" "$work/plan.log" \
    || { tail -40 "$work/plan.log" >&2; die "consolidation.xen.plan: no N-1 proof, or a collection refuses $core"; }
[ -s "$work/plan-report.html" ] || die "consolidation.xen.plan wrote no HTML report with $core"
say "consolidation.xen.plan ran with ansible-core $core: N-1 proof PASSED, HTML report written"

# Sanity of this core on what the tarball ships (ansible-test wants a collection tree; git marks its files).
copy=$work/sanity/ansible_collections/consolidation/xen
mkdir -p "$copy"
tar xzf "$tarball" -C "$copy"
(cd "$copy" && git init -q && git add -A)
"$ROOT/scripts/get-pip-shim.sh" "$work/venv/bin/python" >/dev/null
(cd "$copy" && PATH="$work/venv/bin:$PATH" ansible-test sanity --python 3.12 --requirements \
    --test validate-modules --test ansible-doc --test runtime-metadata --test import --test action-plugin-docs \
    >"$work/sanity.log" 2>&1) || { grep -v '^\(Collecting\|Downloading\|  \|WARNING: Location\|Requirement\)' \
    "$work/sanity.log" | tail -40 >&2; die "ansible-test sanity of ansible-core $core failed"; }
say "ansible-test sanity ($core): validate-modules, ansible-doc, runtime-metadata, import, action-plugin-docs passed"
