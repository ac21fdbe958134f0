#!/bin/bash
# lab/up.sh [N]: boot the lab: blade1..N (default 3, the origin's cluster shape; inventories/lab has 3) and the filer VM, from qcow2 overlays on the
# cached image (lab/build-image.sh, run first), and wait until ssh answers on every one.
#   Boot: SeaBIOS -> GRUB on the image's disk -> its default entry: plain Debian on a fresh overlay,
#         Xen once the dom0 role has installed it and made it GRUB's default (a reboot stays in QEMU).
#   LAB_XEN=1   fallback: boot Xen directly with QEMU's multiboot loader (needs Xen installed)
#   LAB_KEEP=1  reuse existing overlays (a blade that has Xen boots into Xen) instead of fresh ones
#   LAB_FILER=0 no filer VM
# Identity (name, addresses, the filer's quota disk) goes in as SMBIOS OEM strings (lab/xenlab-boot).
# Networking: eth0 = QEMU user net, restrict=on, only hostfwd 127.0.0.1:<port> -> 22 (reaches
# nothing); eth1 = private link 10.77.0.0/24 through lab/hub.py on 127.0.0.1:$LAB_HUB_PORT (10770).
# The inventory for this lab is inventories/lab (same names, ports and addresses).
set -euo pipefail
# shellcheck source=lab/common.sh
. "$(dirname "$0")/common.sh"
n=${1:-3}
timeout_s=${LAB_BOOT_TIMEOUT:-600}
t0=$(date +%s)
say() { printf '[lab up %4ds] %s\n' $(( $(date +%s) - t0 )) "$*"; }

"$here/build-image.sh"
img=$(readlink -f "$cache/current")
boot=$img/boot
mkdir -p "$run"
vms=()
for i in $(seq 1 "$n"); do vms+=("blade$i"); done
[ "${LAB_FILER:-1}" = 1 ] && vms=(filer "${vms[@]}")
running=()
for name in "${vms[@]}"; do
  [ -f "$run/$name.pid" ] && kill -0 "$(cat "$run/$name.pid")" 2>/dev/null && running+=("$name")
done
if [ ${#running[@]} -eq ${#vms[@]} ]; then
  say "already running: ${vms[*]} (lab/down.sh stops them)"
elif [ ${#running[@]} -gt 0 ]; then
  echo "partly running (${running[*]}): lab/down.sh first" >&2; exit 1
fi

if ! { [ -f "$run/hub.pid" ] && kill -0 "$(cat "$run/hub.pid")" 2>/dev/null; }; then
  setsid python3 "$here/hub.py" "$hub_port" >"$run/hub.log" 2>&1 </dev/null &
  echo $! >"$run/hub.pid"
  sleep 0.5
fi

hosts="filer=$filer_ip"
for i in $(seq 1 "$n"); do hosts="$hosts+blade$i=$(lab_ip "$i")"; done

overlay() {  # overlay FILE BACKING-ARGS...: a fresh qcow2 unless LAB_KEEP=1 and it exists
  local f=$1; shift
  if [ "${LAB_KEEP:-0}" != 1 ] || [ ! -f "$f" ]; then rm -f "$f"; qemu-img create -q -f qcow2 "$@" "$f"; fi
}

start() {  # start NAME IP MEM_MB MAC_SUFFIX [extra QEMU args...]
  local name=$1 ip=$2 mem=$3 macs=$4; shift 4
  local port; port=$(vm_port "$name")
  local ov=$run/$name.qcow2
  overlay "$ov" -b "$img/dom0.img" -F raw
  local ident=(-smbios "type=11,value=xenlab.name=$name,value=xenlab.ip=$ip,value=xenlab.hosts=$hosts")
  local bootargs=() mode=grub
  if [ "${LAB_XEN:-0}" = 1 ] && [ "$name" != filer ]; then
    local xen; xen=$(ls "$boot"/xen-4*-amd64 | head -1)
    bootargs=(-no-reboot -kernel "$xen"
      -append "console=com1 com1=115200,8n1 dom0_mem=1024M,max:1024M dom0_max_vcpus=1 spec-ctrl=eager-fpu"
      -initrd "$boot/vmlinuz root=LABEL=xenlab-root rw net.ifnames=0 console=hvc0 earlyprintk=xen,$boot/initrd.img")
    mode=xen-direct
  fi
  rm -f "$run/$name.serial"
  qemu-system-x86_64 -name "xenlab-$name" -accel tcg,thread=multi,tb-size=256 -cpu max,-smap,-smep,-pku,-la57 \
    -machine pc -m "$mem" -smp 1 -nodefaults -display none -boot order=c \
    "${bootargs[@]}" "${ident[@]}" \
    -drive "file=$ov,if=virtio,format=qcow2,cache=unsafe" "$@" \
    -netdev "user,id=n0,restrict=on,hostfwd=tcp:127.0.0.1:$port-:22" -device virtio-net-pci,netdev=n0,romfile= \
    -netdev "socket,id=n1,connect=127.0.0.1:$hub_port" \
    -device "virtio-net-pci,netdev=n1,romfile=,mac=52:54:00:77:00:$macs" \
    -monitor "unix:$run/$name.mon,server,nowait" -serial "file:$run/$name.serial" \
    -daemonize -pidfile "$run/$name.pid"
  say "started $name ($mode, ${mem} MiB): ssh 127.0.0.1:$port, $ip, serial $run/$name.serial"
}

if [ ${#running[@]} -gt 0 ]; then
  :
elif [ "${LAB_FILER:-1}" = 1 ]; then
  overlay "$run/filer-data.qcow2" -o size="${LAB_FILER_DISK:-4G}"
  start filer "$filer_ip" "${LAB_FILER_MEM:-768}" 02 \
    -smbios "type=11,value=xenlab.quotafs=/dev/vdb:/srv/nfs" \
    -drive "file=$run/filer-data.qcow2,if=virtio,format=qcow2,cache=unsafe"
fi
[ ${#running[@]} -gt 0 ] || for i in $(seq 1 "$n"); do
  start "blade$i" "$(lab_ip "$i")" "${LAB_MEM:-2048}" "$(printf '%02x' $((10 + i)))"
done

last=0
for name in "${vms[@]}"; do
  port=$(vm_port "$name")
  until ssh "${ssh_opts[@]}" -p "$port" root@127.0.0.1 true 2>/dev/null; do
    kill -0 "$(cat "$run/$name.pid")" 2>/dev/null || { echo "$name: QEMU exited; tail of serial:" >&2; tail -20 "$run/$name.serial" >&2; exit 1; }
    el=$(( $(date +%s) - t0 ))
    if [ "$el" -ge "$timeout_s" ]; then
      echo "$name: no ssh after ${timeout_s}s; tail of serial:" >&2; tail -20 "$run/$name.serial" >&2; exit 1
    fi
    if [ $((el - last)) -ge 20 ]; then
      last=$el
      say "waiting for $name: $(tr -d '\r' <"$run/$name.serial" 2>/dev/null | grep -av '^\s*$' | tail -1 | cut -c1-90)"
    fi
    sleep 3
  done
  say "$name: ssh up"
done
say "lab up: ${vms[*]} (inventory: inventories/lab)"
