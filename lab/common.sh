# shellcheck shell=bash disable=SC2034
# Sourced by the lab scripts.
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(dirname "$here")
cache=${LAB_CACHE:-$repo/.cache/lab}
run=$cache/run
key=$cache/id_ed25519
ssh_opts=(-i "$key" -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR
          -o ConnectTimeout=5 -o BatchMode=yes)
lab_port() { echo $((2221 + $1)); }            # blade1 -> 2222
lab_ip() { echo "10.77.0.$((10 + $1))"; }     # blade1 -> 10.77.0.11
hub_port=${LAB_HUB_PORT:-10770}
