#!/bin/bash
# lab/ssh.sh VM [command...]: ssh as root into a lab VM (blade1, blade2, ..., filer; or a blade's
# number) through its 127.0.0.1 port.
set -euo pipefail
# shellcheck source=lab/common.sh
. "$(dirname "$0")/common.sh"
vm=$1; shift
case $vm in [0-9]*) vm=blade$vm ;; esac
# One connection per VM, shared by every call (a new one is a key exchange on the VM, ~2 s under TCG; the
# tests make hundreds of calls): the first call starts a master that stays 5 min after its last session.
# A master whose VM stopped answering (rebooted, hung) ends after 15 s without keepalive answers; the
# next call then connects anew.
exec ssh "${ssh_opts[@]}" -o ControlMaster=auto -o "ControlPath=$run/ssh-%C" -o ControlPersist=300 \
  -o ServerAliveInterval=5 -o ServerAliveCountMax=3 -p "$(vm_port "$vm")" root@127.0.0.1 "$@"
