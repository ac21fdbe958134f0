#!/usr/bin/env bash
# Set up everything `make check`, `make test` and `ansible-playbook` need in this checkout.
# Idempotent: a second run only checks, and finishes in a few seconds.
#
#   1. .venv with Python 3.12 (ansible-core 2.21 needs >= 3.12) and requirements-dev.txt.
#      The venv is created when missing or broken, and rebuilt from scratch when requirements-dev.txt
#      or the Python changes (recorded in .venv/.bootstrap-stamp). A venv without a stamp (made by
#      hand) is adopted: requirements are pip-installed into it and the stamp written.
#      BOOTSTRAP_RECREATE=1 forces a rebuild.
#   2. .collections/ansible_collections/consolidation/xen -> the repo root, for ansible.cfg's
#      collections_path (ansible-playbook follows the link; ansible-test does not, see test.sh).
#   3. ansible-test's pip bootstrap script in ~/.ansible/test/cache/. ansible-test downloads it from
#      a host that is not reachable here; the stand-in below uses ensurepip plus pip from PyPI.
#
# Python: $BOOTSTRAP_PYTHON if set, else pyenv's 3.12.1, else any pyenv 3.12.x, else python3.12 on PATH.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
VENV=$ROOT/.venv
STAMP=$VENV/.bootstrap-stamp
REQS=$ROOT/requirements-dev.txt

say() { printf '[bootstrap] %s\n' "$*"; }
die() { printf '[bootstrap] ERROR: %s\n' "$*" >&2; exit 1; }

find_python() {
    if [ -n "${BOOTSTRAP_PYTHON:-}" ]; then
        echo "$BOOTSTRAP_PYTHON"
        return
    fi
    local pyenv_root=${PYENV_ROOT:-$HOME/.pyenv}
    if command -v pyenv >/dev/null 2>&1; then
        pyenv_root=$(pyenv root)
    fi
    local candidate
    for candidate in "$pyenv_root/versions/3.12.1/bin/python3" "$pyenv_root"/versions/3.12.*/bin/python3; do
        if [ -x "$candidate" ]; then
            echo "$candidate"
            return
        fi
    done
    if command -v python3.12 >/dev/null 2>&1; then
        command -v python3.12
        return
    fi
    die "no Python 3.12 found (looked in $pyenv_root/versions/3.12.*, then python3.12 on PATH); set BOOTSTRAP_PYTHON"
}

# --- 1. virtualenv ------------------------------------------------------------------------------
PYTHON=$(find_python)
py_version=$("$PYTHON" -c 'import sys; print("%d.%d.%d" % sys.version_info[:3])')
case $py_version in
    3.12.*) ;;
    *) die "$PYTHON is Python $py_version; 3.12 is required" ;;
esac
want_stamp="python=$py_version requirements-dev.txt=$(sha256sum "$REQS" | cut -d' ' -f1)"

venv_ok=false
if [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 12))' 2>/dev/null; then
    venv_ok=true
fi
have_stamp=$(cat "$STAMP" 2>/dev/null || true)

if [ "${BOOTSTRAP_RECREATE:-0}" = 1 ] && [ -d "$VENV" ]; then
    say "BOOTSTRAP_RECREATE=1: removing .venv"
    rm -rf "$VENV"
    venv_ok=false
elif $venv_ok && [ -n "$have_stamp" ] && [ "$have_stamp" != "$want_stamp" ]; then
    say "requirements-dev.txt or Python changed since the venv was built: rebuilding .venv"
    say "  was: $have_stamp"
    say "  now: $want_stamp"
    rm -rf "$VENV"
    venv_ok=false
fi

if ! $venv_ok; then
    [ -e "$VENV" ] && { say "removing broken .venv"; rm -rf "$VENV"; }
    say "creating .venv with $PYTHON (Python $py_version)"
    "$PYTHON" -m venv "$VENV"
    have_stamp=
fi

if [ "$have_stamp" = "$want_stamp" ]; then
    say ".venv is up to date ($want_stamp)"
else
    say "installing requirements-dev.txt into .venv (the ansible package alone is ~50 MB; this takes a few minutes the first time)"
    start=$SECONDS
    "$VENV/bin/python" -m pip install --disable-pip-version-check --progress-bar off -q -r "$REQS"
    echo "$want_stamp" > "$STAMP"
    say "requirements installed in $((SECONDS - start)) s"
fi
ansible_version=$("$VENV/bin/ansible" --version)
say "${ansible_version%%$'\n'*}"

# --- 2. the collection link ---------------------------------------------------------------------
link=$ROOT/.collections/ansible_collections/consolidation/xen
mkdir -p "$(dirname "$link")"
if [ "$(readlink "$link" 2>/dev/null || true)" != "../../.." ]; then
    rm -rf "$link"
    ln -s ../../.. "$link"
    say "linked .collections/ansible_collections/consolidation/xen -> repo root"
else
    say ".collections link is in place"
fi

# --- 3. ansible-test's pip bootstrap script -----------------------------------------------------
scripts/get-pip-shim.sh "$VENV/bin/python"

say "done"
