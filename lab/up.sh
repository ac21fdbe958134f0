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

# A blade's BMC: ipmi_sim serves IPMI over LAN on 127.0.0.1 and starts the blade's QEMU itself (startcmd), so
# a power-off through it really stops the VM and a power-on boots it again (shared/reference/ipmi-lab.md).
bmc=0
if [ "${LAB_BMC:-1}" = 1 ] && command -v ipmi_sim >/dev/null; then
  bmc=1
  [ -s "$bmc_pass" ] || (umask 077; od -An -N8 -tx1 /dev/urandom | tr -d ' \n' >"$bmc_pass")
fi

bmc_start() {  # bmc_start NAME QEMU-COMMAND...: write the BMC's files, start ipmi_sim (which boots the VM)
  local name=$1 i=${1#blade}; shift
  local dir=$run/bmc-$name
  rm -rf "$dir"; mkdir -p "$dir/state"
  { echo '#!/bin/sh'
    echo "# Written by lab/up.sh: ipmi_sim runs this to power $name on (exec: the PID it tracks is QEMU's)."
    printf 'exec setpriv --pdeathsig TERM'; printf ' %q' "$@"
    printf ' %q' -chardev "socket,id=ipmi0,host=127.0.0.1,port=$(bmc_vm_port "$i"),reconnect=10" \
      -device ipmi-bmc-extern,id=bmc0,chardev=ipmi0 -device isa-ipmi-kcs,bmc=bmc0
    printf ' >>%q 2>&1\n' "$dir/qemu.log"; } >"$dir/start-vm.sh"
  chmod 755 "$dir/start-vm.sh"
  printf '%s\n' "mc_setbmc 0x20" "mc_add 0x20 0 no-device-sdrs 0x23 9 8 0x9f 0x1291 0xf02" "mc_enable 0x20" >"$dir/bmc.emu"
  (umask 077; printf '%s\n' "name \"$name\"" "set_working_mc 0x20" "  startlan 1" \
    "    addr 127.0.0.1 $(bmc_port "$i")" "    priv_limit admin" \
    "    allowed_auths_callback none md2 md5 straight" "    allowed_auths_user none md2 md5 straight" \
    "    allowed_auths_operator none md2 md5 straight" "    allowed_auths_admin none md2 md5 straight" \
    "    guid a123456789abcdefa123456789abcd$(printf '%02x' "$i")" "  endlan" \
    "  serial 15 127.0.0.1 $(bmc_vm_port "$i") codec VM" "  startcmd \"$dir/start-vm.sh\"" "  startnow true" \
    "  poweroff_wait 2" "  kill_wait 2" \
    "  user 2 true \"admin\" \"$(cat "$bmc_pass")\" admin 10 none md2 md5 straight" >"$dir/lan.conf")
  setsid ipmi_sim -c "$dir/lan.conf" -f "$dir/bmc.emu" -s "$dir/state" -n >"$dir/ipmi_sim.log" 2>&1 </dev/null &
  echo $! >"$run/$name.bmc.pid"
  local t=0
  until [ -s "$run/$name.pid" ]; do
    kill -0 "$(cat "$run/$name.bmc.pid")" 2>/dev/null || { echo "$name: ipmi_sim exited:" >&2; cat "$dir/ipmi_sim.log" >&2; exit 1; }
    [ $t -lt 100 ] || { echo "$name: QEMU not started by its BMC after 10 s:" >&2; cat "$dir/qemu.log" >&2; exit 1; }
    sleep 0.1; t=$((t + 1))
  done
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
  rm -f "$run/$name.serial" "$run/$name.pid"
  local qemu=(qemu-system-x86_64 -name "xenlab-$name" -accel tcg,thread=multi,tb-size=256 -cpu max,-smap,-smep,-pku,-la57
    -machine pc -m "$mem" -smp 1 -nodefaults -display none -boot order=c
    "${bootargs[@]}" "${ident[@]}"
    -drive "file=$ov,if=virtio,format=qcow2,cache=unsafe" "$@"
    -netdev "user,id=n0,restrict=on,hostfwd=tcp:127.0.0.1:$port-:22" -device virtio-net-pci,netdev=n0,romfile=
    -netdev "socket,id=n1,connect=127.0.0.1:$hub_port"
    -device "virtio-net-pci,netdev=n1,romfile=,mac=52:54:00:77:00:$macs"
    -monitor "unix:$run/$name.mon,server,nowait" -serial "file:$run/$name.serial" -pidfile "$run/$name.pid")
  if [ "$name" != filer ] && [ "$bmc" = 1 ]; then
    bmc_start "$name" "${qemu[@]}"
  else
    "${qemu[@]}" -daemonize
  fi
  local via=""
  [ "$name" != filer ] && [ "$bmc" = 1 ] && via=", BMC 127.0.0.1:$(bmc_port "${name#blade}")/udp"
  say "started $name ($mode, ${mem} MiB): ssh 127.0.0.1:$port, $ip, serial $run/$name.serial$via"
}

if [ ${#running[@]} -gt 0 ]; then
  :
elif [ "${LAB_FILER:-1}" = 1 ]; then
  overlay "$run/filer-data.qcow2" -o size="${LAB_FILER_DISK:-4G}"
  # The second disk holds the data area's backups (filer_linux_backup in inventories/lab).
  overlay "$run/filer-backup.qcow2" -o size="${LAB_FILER_BACKUP_DISK:-2G}"
  start filer "$filer_ip" "${LAB_FILER_MEM:-768}" 02 \
    -smbios "type=11,value=xenlab.quotafs=/dev/vdb:/srv/nfs,value=xenlab.backupfs=/dev/vdc:/srv/backup" \
    -drive "file=$run/filer-data.qcow2,if=virtio,format=qcow2,cache=unsafe" \
    -drive "file=$run/filer-backup.qcow2,if=virtio,format=qcow2,cache=unsafe"
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
