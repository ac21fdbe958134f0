#!/bin/bash
# lab/host-packages.sh: install, with apt-get, the host packages the lab needs, if any is missing.
# Idempotent: a second run only checks (dpkg-query), in well under a second.
set -euo pipefail
pkgs=(qemu-system-x86 qemu-utils seabios ipxe-qemu debootstrap dpkg-dev cpio e2fsprogs openssh-client openipmi
      rsync)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "[lab] installing host packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q >/dev/null
apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
