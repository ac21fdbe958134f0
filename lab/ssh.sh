#!/bin/bash
# lab/ssh.sh I [command...]: ssh as root into blade I (1-based) through its 127.0.0.1 port.
set -euo pipefail
# shellcheck source=lab/common.sh
. "$(dirname "$0")/common.sh"
i=$1; shift
exec ssh "${ssh_opts[@]}" -p "$(lab_port "$i")" root@127.0.0.1 "$@"
