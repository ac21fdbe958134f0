#!/bin/bash
# lab/ssh.sh VM [command...]: ssh as root into a lab VM (blade1, blade2, ..., filer; or a blade's
# number) through its 127.0.0.1 port.
set -euo pipefail
# shellcheck source=lab/common.sh
. "$(dirname "$0")/common.sh"
vm=$1; shift
case $vm in [0-9]*) vm=blade$vm ;; esac
exec ssh "${ssh_opts[@]}" -p "$(vm_port "$vm")" root@127.0.0.1 "$@"
