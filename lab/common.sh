# shellcheck shell=bash disable=SC2034
# Sourced by the lab scripts. The lab: blade1..N (dom0s-to-be) and one filer VM, on the private link
# 10.77.0.0/24 (lab/hub.py on 127.0.0.1), each reachable from the host by ssh on 127.0.0.1 only.
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(dirname "$here")
cache=${LAB_CACHE:-$repo/.cache/lab}
run=$cache/run
key=$cache/id_ed25519
ssh_opts=(-i "$key" -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR
          -o ConnectTimeout=5 -o BatchMode=yes)
lab_port() { echo $((2221 + $1)); }            # blade1 -> 2222
lab_ip() { echo "10.77.0.$((10 + $1))"; }     # blade1 -> 10.77.0.11
filer_port=2230
filer_ip=10.77.0.2
hub_port=${LAB_HUB_PORT:-10770}
# Each blade's BMC (OpenIPMI's ipmi_sim; lab/up.sh): IPMI over LAN on UDP 127.0.0.1:bmc_port, and the TCP
# port its QEMU's ipmi-bmc-extern device connects to. User admin, the password in $run/bmc.pass.
bmc_port() { echo $((6230 + $1)); }           # blade1 -> 6231
bmc_vm_port() { echo $((6240 + $1)); }        # blade1 -> 6241
bmc_pass=$run/bmc.pass  # 16 characters: IPMI 1.5 passwords have 16 bytes at most (2.0: 20)
# A VM's ssh port by name: blade<i> or filer.
vm_port() { case $1 in filer) echo "$filer_port" ;; blade*) lab_port "${1#blade}" ;; esac; }
