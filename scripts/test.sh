#!/usr/bin/env bash
# The full check (`make test`, and CI through .ci/run). Stops at the first failing stage.
#
#   ruff · ansible-lint (production) · antsibull-changelog lint ·
#   ansible-test sanity (Python 3.12, then compile+import on 3.9, the oldest target Python) ·
#   ansible-test units (tests/unit) · the Galaxy tarball and the EE's build context (scripts/galaxy-check.sh) ·
#   requires_ansible's oldest ansible-core (scripts/oldest-core.sh) · the documentation site (scripts/docs.sh) ·
#   pytest over tests/integration · molecule (podman) ·
#   the QEMU Xen lab: site.yml end to end and tests/lab (LAB=0 skips it)
#
# ansible-test refuses a symlinked collection path, so the sanity and units stages run in a copy of
# the collection at $TMPDIR/.../ansible_collections/consolidation/xen. The copy holds what
# `ansible-galaxy collection build` would ship: the files git knows (tracked, or untracked but not
# ignored) minus galaxy.yml's build_ignore. KEEP_TEST_COPY=1 keeps it for inspection.
#
# Needs `make bootstrap` first (.venv, .collections, ansible-test's pip bootstrap stand-in).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
VENV=$ROOT/.venv

[ -x "$VENV/bin/ansible-test" ] || { echo "No .venv here: run 'make bootstrap' first." >&2; exit 1; }
[ -e "$ROOT/.collections/ansible_collections/consolidation/xen/galaxy.yml" ] \
    || { echo "No .collections link: run 'make bootstrap' first." >&2; exit 1; }
export PATH=$VENV/bin:$PATH
export ANSIBLE_CONFIG=$ROOT/ansible.cfg
# ansible-test wants en_US.UTF-8 and warns about C.UTF-8, which is all this machine has; harmless.
[ -n "${CI:-}" ] && export PY_COLORS=0 NO_COLOR=1

WORK=$(realpath "$(mktemp -d "${TMPDIR:-/tmp}/consolidation-xen-test.XXXXXX")")
cleanup() {
    finish_builds
    if [ "${KEEP_TEST_COPY:-0}" = 1 ]; then
        echo "kept the test copy: $WORK"
    else
        rm -rf "$WORK"
    fi
}
trap cleanup EXIT

BUILDS=()  # background image builds: "pid name log"
finish_builds() {  # wait for the background image builds (a failed stage must not leave them half-way)
    local b
    for b in "${BUILDS[@]}"; do kill -0 "${b%% *}" 2>/dev/null && wait "${b%% *}" 2>/dev/null || true; done
    BUILDS=()
}
TIMINGS=()
STAGE=
STAGE_START=0
banner() {
    STAGE=$1
    STAGE_START=$SECONDS
    printf '\n================================================================================\n'
    printf '== %s\n' "$STAGE"
    printf '================================================================================\n'
}
done_stage() {
    local took=$((SECONDS - STAGE_START))
    TIMINGS+=("$(printf '%5ds  %s' "$took" "$STAGE")")
    printf -- '-- %s: ok (%ds)\n' "$STAGE" "$took"
}
on_error() {
    printf '\n!! FAILED in stage: %s (after %ds)\n' "$STAGE" "$((SECONDS - STAGE_START))" >&2
}
trap on_error ERR

# await NAME: wait for the background build NAME, print its log, fail if it failed.
await() {
    local b pid name log rc=0 t=$SECONDS
    for b in "${BUILDS[@]}"; do
        read -r pid name log <<<"$b"
        [ "$name" = "$1" ] || continue
        wait "$pid" || rc=$?
        printf -- '-- background build %s (waited %ds here):\n' "$name" $((SECONDS - t))
        cat "$log"
        [ "$rc" = 0 ] || { echo "!! background build $name failed (rc $rc)" >&2; return "$rc"; }
    done
}

# The two disk images (the molecule scenarios' base image, the lab's image: debootstrap, downloads and
# chroot work) are built in the background while the lint, sanity and unit stages run; the stages that
# need them wait for them. Their host packages are installed first, one apt-get at a time.
banner "host packages; the image builds start in the background"
scripts/browser-packages.sh  # headless Chromium: the HTML report's test (tests/integration)
if [ "${MOLECULE:-1}" != 0 ]; then
    TOOLS_ONLY=1 scripts/build-base-image.sh
    # The SLES-shaped image (molecule/dom0_sles) is made from the base image's root filesystem.
    { scripts/build-base-image.sh && scripts/build-sles-image.sh; } > "$WORK/base-image.log" 2>&1 &
    BUILDS+=("$! base-image $WORK/base-image.log")
fi
if [ "${LAB:-1}" != 0 ]; then
    lab/host-packages.sh
    lab/build-image.sh > "$WORK/lab-image.log" 2>&1 &
    BUILDS+=("$! lab-image $WORK/lab-image.log")
fi
done_stage

# ------------------------------------------------------------------------------------------------
banner "ruff check"
ruff check .
done_stage

# A copy of this collection in ~/.ansible/collections (left by an earlier molecule prerun or
# ansible-galaxy install) comes first on ansible-lint's collection path and would shadow the
# checkout with stale roles: remove it, the checkout is found through .collections.
rm -rf "${HOME}/.ansible/collections/ansible_collections/consolidation/xen"

banner "ansible-lint --profile production"
ansible-lint --profile production
done_stage

banner "antsibull-changelog lint"
antsibull-changelog lint
antsibull-changelog lint-changelog-yaml changelogs/changelog.yaml
done_stage

# ------------------------------------------------------------------------------------------------
banner "copy the collection to ansible_collections/consolidation/xen for ansible-test"
COPY=$WORK/ansible_collections/consolidation/xen
mkdir -p "$COPY"
# Mirror ansible-galaxy's build_ignore: a pattern matches a file's path or any of its parent dirs.
FILTER_PY=$(cat <<'EOF'
import fnmatch
import os
import sys

import yaml

with open("galaxy.yml") as f:
    patterns = yaml.safe_load(f).get("build_ignore") or []
for path in sys.stdin.read().split("\0"):
    if not path or not os.path.lexists(path):  # deleted in the work tree but still in the index
        continue
    parts = path.split("/")
    prefixes = ["/".join(parts[:i]) for i in range(1, len(parts) + 1)]
    if any(fnmatch.fnmatch(p, pat) for p in prefixes for pat in patterns):
        continue
    sys.stdout.write(path + "\0")
EOF
)
git ls-files -z --cached --others --exclude-standard | python -c "$FILTER_PY" > "$WORK/files.lst"
tar --null -T "$WORK/files.lst" -cf - | tar -xf - -C "$COPY"
echo "$(tr -cd '\0' < "$WORK/files.lst" | wc -c) files -> $COPY"
done_stage

# Every sanity test ansible-test 2.21 has, except:
#   pslint      PowerShell; the collection has none, and pwsh is not installed.
#   the shellcheck test runs only when that program is installed (ansible-test would skip it anyway).
# All the others work offline here: their requirements come from PyPI, and pip itself through the
# stand-in that scripts/bootstrap.sh puts in ~/.ansible/test/cache/.
SANITY_TESTS=(
    action-plugin-docs ansible-doc changelog compile empty-init ignores import line-endings
    no-assert no-get-exception no-illegal-filenames no-smart-quotes pep8 pylint replace-urlopen
    runtime-metadata shebang symlinks use-argspec-type-path use-compat-six validate-modules yamllint
)
if command -v shellcheck >/dev/null 2>&1; then
    SANITY_TESTS+=(shellcheck)
else
    echo "note: shellcheck is not installed; the shellcheck sanity test is left out"
fi

banner "ansible-test sanity --python 3.12 (${#SANITY_TESTS[@]} tests)"
(cd "$COPY" && ansible-test sanity --python 3.12 --requirements "${SANITY_TESTS[@]/#/--test=}")
done_stage

# modules and module_utils run on the managed hosts, where ansible-core 2.21 supports Python 3.9+.
# The run above covers 3.12 only; compile and import them again on the oldest target Python.
banner "ansible-test sanity --python 3.9 (compile, import: module_utils and modules on the oldest target)"
py39=
for candidate in "$(pyenv root 2>/dev/null || echo "${PYENV_ROOT:-$HOME/.pyenv}")"/versions/3.9.*/bin/python3.9 \
                 "$(command -v python3.9 2>/dev/null || true)"; do
    if [ -x "$candidate" ] && "$candidate" -c '' 2>/dev/null; then py39=$candidate; break; fi
done
if [ -n "$py39" ]; then
    mkdir -p "$WORK/py39bin"
    ln -sf "$py39" "$WORK/py39bin/python3.9"
    (cd "$COPY" && PATH=$WORK/py39bin:$PATH ansible-test sanity --python 3.9 --requirements --test compile --test import)
else
    echo "SKIPPED: no Python 3.9 found (pyenv or PATH)"
fi
done_stage

banner "ansible-test units --python 3.12"
(cd "$COPY" && ansible-test units --python 3.12 --requirements)
done_stage

banner "the Galaxy tarball: built, installed with only its declared dependencies, every playbook resolved by FQCN, plan run"
scripts/galaxy-check.sh
done_stage

banner "the oldest ansible-core requires_ansible admits: plan, every playbook's syntax, sanity (scripts/oldest-core.sh)"
scripts/oldest-core.sh
done_stage

banner "the documentation site: antsibull-docs + sphinx-build -W, a page for every module, filter and role (scripts/docs.sh)"
scripts/docs.sh "$WORK/docs"
done_stage

# tests/unit ran in the stage before (ansible-test units runs every test under tests/unit the collection
# ships), all but the placement anchor, whose fixture (benchmarks/anchors/) the collection copy leaves out,
# and the ONTAP simulator's own tests (the simulator is not shipped): they run here, with tests/integration. Two workers (pytest-xdist), one per core: these are ansible-playbook runs, CPU-bound,
# independent (each test has its own temporary files and simulator port). PYTEST_WORKERS=0: one process.
banner "pytest tests/integration and the placement anchor (plain pytest against the .collections link; ${PYTEST_WORKERS:-2} workers)"
PYTHONPATH=$ROOT/.collections${PYTHONPATH:+:$PYTHONPATH} python -m pytest -p no:cacheprovider -n "${PYTEST_WORKERS:-2}" --maxschedchunk 1 --durations=25 \
  tests/integration tests/unit/test_ontap_sim.py \
  tests/unit/plugins/module_utils/test_placement.py::test_big_guests_anchor_optimum_found_and_one_less_refused
done_stage

# Every scenario under molecule/ (dom0, dom0_sles, guests) in podman containers from a debootstrap base
# image and the SLES-shaped image made from it.
# MOLECULE=0 skips it (fast local runs); CI always runs it.
if [ "${MOLECULE:-1}" != 0 ]; then
    banner "molecule scenarios in podman (scripts/molecule.sh)"
    await base-image
    scripts/molecule.sh
    done_stage
fi

# The QEMU Xen lab (lab/, inventories/lab): image (cached by content hash), filer + 3 blades under
# TCG from fresh disks, site.yml end to end on them, then the proofs on the live machines (tests/lab).
# About 30 min on 2 cores; LAB=0 skips it (fast local runs); CI always runs it.
if [ "${LAB:-1}" != 0 ]; then
    banner "the QEMU Xen lab: site.yml end to end and its proofs (tests/lab)"
    await lab-image
    python -m pytest -p no:cacheprovider -v -s --durations=0 tests/lab
    echo "lab timings:"; cat .cache/lab/timings.txt 2>/dev/null || true
    done_stage
fi

trap - ERR
printf '\n== all stages passed; timings:\n'
printf '%s\n' "${TIMINGS[@]}"
printf '%5ds  total\n' "$SECONDS"
