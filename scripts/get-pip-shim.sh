#!/usr/bin/env bash
# scripts/get-pip-shim.sh PYTHON: put ansible-test's pip bootstrap script for the ansible-core installed with
# PYTHON (a venv's python) in ~/.ansible/test/cache/. ansible-test downloads get-pip.py from a host that is
# not reachable here; the stand-in uses ensurepip plus pip from PyPI. Used by scripts/bootstrap.sh (the
# venv's ansible-core) and scripts/oldest-core.sh (requires_ansible's floor). Idempotent.
set -euo pipefail
PYTHON=$1
say() { printf '[bootstrap] %s\n' "$*"; }

# ansible-test names the file after the pip version it wants (get_pip_<version with _>.py). Ask the
# installed ansible-test which version that is, so this follows ansible-core upgrades.
pip_version=$("$PYTHON" -c '
import types
from ansible_test._internal.python_requirements import get_venv_packages
print(get_venv_packages(types.SimpleNamespace(version="3.12"))["pip"])')
shim=$HOME/.ansible/test/cache/get_pip_${pip_version//./_}.py
marker="# consolidation.xen offline get-pip stand-in"
if [ -f "$shim" ] && ! grep -qF "$marker" "$shim"; then
    say "ansible-test pip bootstrap $shim exists (not ours): leaving it"
else
    mkdir -p "$(dirname "$shim")"
    tmp=$(mktemp "$shim.XXXXXX")
    cat > "$tmp" <<EOF
$marker (written by scripts/bootstrap.sh).
# ansible-test runs this in place of get-pip.py to put pip $pip_version into the empty venvs it creates.
# The real script is downloaded from a host that cannot be reached here, so: ensurepip, then pip from
# PyPI. ansible-test filters the environment (PIP_CERT is dropped), hence the explicit --cert.
import os
import subprocess
import sys

CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"

# get-pip.py takes pip-install arguments plus a few of its own, which pip itself would reject.
args = [a for a in sys.argv[1:] if a not in ("--no-setuptools", "--no-wheel", "--no-pip")]
cert = ["--cert", CA_BUNDLE] if os.path.exists(CA_BUNDLE) else []
subprocess.check_call([sys.executable, "-m", "ensurepip", "--default-pip"])
subprocess.check_call([sys.executable, "-m", "pip", "install", "--disable-pip-version-check"] + cert + args)
EOF
    if cmp -s "$tmp" "$shim"; then
        rm -f "$tmp"
        say "ansible-test pip bootstrap stand-in is in place ($shim)"
    else
        mv "$tmp" "$shim"
        say "wrote ansible-test pip bootstrap stand-in for pip $pip_version: $shim"
    fi
fi

