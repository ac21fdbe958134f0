#!/usr/bin/env bash
# Run the molecule scenarios (every molecule/<name>/molecule.yml; molecule/shared holds the
# create/destroy playbooks they share): `molecule test -s <name>` each, in podman containers.
#
#   scripts/molecule.sh            all scenarios
#   scripts/molecule.sh dom0 ...   only these
#
# Sets up what they need first: podman (apt-get, via build-base-image.sh), the project's podman
# settings (scripts/podman-env.sh), the base image and the SLES-shaped image (both cached). Needs `make bootstrap` (molecule and
# testinfra are in requirements-dev.txt) and root. Prints each scenario's time; stops at the first
# failing scenario.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
VENV=$ROOT/.venv

[ -x "$VENV/bin/molecule" ] || { echo "No molecule in .venv: run 'make bootstrap' first." >&2; exit 1; }
export PATH=$VENV/bin:$PATH
export ANSIBLE_CONFIG=$ROOT/ansible.cfg
[ -n "${CI:-}" ] && export PY_COLORS=0 NO_COLOR=1 ANSIBLE_FORCE_COLOR=0

start=$SECONDS
# shellcheck source=scripts/podman-env.sh
. "$ROOT/scripts/podman-env.sh"
t=$SECONDS
"$ROOT/scripts/build-base-image.sh"
"$ROOT/scripts/build-sles-image.sh"
TIMINGS=("$(printf '%5ds  base and SLES images' $((SECONDS - t)))")

if [ $# -gt 0 ]; then
    scenarios=("$@")
else
    scenarios=()
    for f in molecule/*/molecule.yml; do
        name=$(basename "$(dirname "$f")")
        [ "$name" = shared ] || scenarios+=("$name")
    done
fi
[ ${#scenarios[@]} -gt 0 ] || { echo "no molecule scenarios found" >&2; exit 1; }

for name in "${scenarios[@]}"; do
    printf '\n== molecule test -s %s\n' "$name"
    t=$SECONDS
    if ! molecule test -s "$name"; then
        printf '\n!! molecule scenario %s FAILED after %ds\n' "$name" $((SECONDS - t)) >&2
        exit 1
    fi
    TIMINGS+=("$(printf '%5ds  molecule %s' $((SECONDS - t)) "$name")")
done

printf '\n== molecule: all %d scenario(s) passed; timings:\n' ${#scenarios[@]}
printf '%s\n' "${TIMINGS[@]}"
printf '%5ds  total\n' $((SECONDS - start))
