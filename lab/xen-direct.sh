#!/bin/bash
# lab/xen-direct.sh [N]: the direct-Xen boot path, end to end and timed.
#  1. lab/up.sh N (plain Debian), 2. install the Xen packages in every blade from the image's offline
#  repository (no network), 3. power off, 4. boot Xen directly (LAB_XEN=1: QEMU multiboot -kernel xen,
#  dom0 = the image's kernel and initrd) on the same overlays, 5. check `xl info` over ssh.
# Leaves the blades running as dom0s (lab/down.sh stops them).
set -euo pipefail
# shellcheck source=lab/common.sh
. "$(dirname "$0")/common.sh"
n=${1:-2}
t0=$(date +%s); last=$t0
step() { local now; now=$(date +%s); printf '[xen-direct %4ds] (+%ds) %s\n' $((now - t0)) $((now - last)) "$*"; last=$now; }
"$here/down.sh" >/dev/null
"$here/up.sh" "$n"
step "plain Debian blades up"
pids=()
for i in $(seq 1 "$n"); do
  "$here/ssh.sh" "$i" 'apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends xen-system-amd64 qemu-system-xen bridge-utils >/root/xen-install.log 2>&1 || { tail -20 /root/xen-install.log; exit 1; }' &
  pids+=($!)
done
for p in "${pids[@]}"; do wait "$p"; done
step "Xen packages installed from the offline repository"
qpids=()
for i in $(seq 1 "$n"); do
  qpids+=("$(cat "$run/blade$i.pid")")
  "$here/ssh.sh" "$i" 'nohup sh -c "sleep 1; poweroff" >/dev/null 2>&1 &' || true
done
for p in "${qpids[@]}"; do
  for _ in $(seq 1 120); do kill -0 "$p" 2>/dev/null || break; sleep 1; done
  kill -0 "$p" 2>/dev/null && { echo "QEMU $p did not exit after poweroff" >&2; exit 1; }
done
"$here/down.sh" >/dev/null
step "powered off"
LAB_XEN=1 LAB_KEEP=1 "$here/up.sh" "$n"
for i in $(seq 1 "$n"); do
  "$here/ssh.sh" "$i" 'echo "$(hostname): $(xl info | grep -E "^(xen_version|virt_caps|total_memory|free_memory)" | tr -s " " | tr "\n" ";")"'
done
step "Xen dom0s up, xl info answered"
