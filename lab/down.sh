#!/bin/bash
# lab/down.sh [--wipe]: stop the blades and the hub started by lab/up.sh (by their pid files).
# The overlays stay (LAB_KEEP=1 lab/up.sh reuses them) unless --wipe.
set -euo pipefail
# shellcheck source=lab/common.sh
. "$(dirname "$0")/common.sh"
[ -d "$run" ] || exit 0
for pf in "$run"/blade*.pid "$run"/filer.pid "$run"/hub.pid; do
  [ -f "$pf" ] || continue
  pid=$(cat "$pf")
  if kill -0 "$pid" 2>/dev/null; then
    kill "$pid"
    for _ in $(seq 1 20); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
    kill -0 "$pid" 2>/dev/null && kill -9 "$pid"
    echo "stopped $(basename "$pf" .pid) (pid $pid)"
  fi
  rm -f "$pf"
done
rm -f "$run"/*.mon
[ "${1:-}" = --wipe ] && rm -f "$run"/*.qcow2 && echo "overlays removed"
exit 0
