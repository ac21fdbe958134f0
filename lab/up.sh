#!/bin/bash
# lab/up.sh N: boot N blades (blade1..N) from qcow2 overlays on the cached dom0 image, wait for ssh,
# write .cache/lab/inventory.yml.
#   default     plain Debian, kernel booted directly by QEMU (-kernel vmlinuz)
#   LAB_XEN=1   Xen booted directly by QEMU's multiboot loader (-kernel xen, dom0 = the same kernel);
#               needs the Xen packages installed in the blade (LAB_KEEP=1 keeps the overlays)
#   LAB_KEEP=1  reuse existing overlays instead of fresh ones
# Networking: eth0 = QEMU user net, restrict=on, only hostfwd 127.0.0.1:222N -> 22;
#             eth1 = private link 10.77.0.0/24 through lab/hub.py on 127.0.0.1:$LAB_HUB_PORT (10770).
set -euo pipefail
# shellcheck source=lab/common.sh
. "$(dirname "$0")/common.sh"
n=${1:-2}
timeout_s=${LAB_BOOT_TIMEOUT:-400}
t0=$(date +%s)
say() { printf '[up %4ds] %s\n' $(( $(date +%s) - t0 )) "$*"; }

"$here/build-image.sh"
img=$(readlink -f "$cache/current")
boot=$img/boot
mkdir -p "$run"
for i in $(seq 1 "$n"); do
  [ -f "$run/blade$i.pid" ] && kill -0 "$(cat "$run/blade$i.pid")" 2>/dev/null \
    && { echo "blade$i already running (lab/down.sh first)" >&2; exit 1; }
done

if ! { [ -f "$run/hub.pid" ] && kill -0 "$(cat "$run/hub.pid")" 2>/dev/null; }; then
  setsid python3 "$here/hub.py" "$hub_port" >"$run/hub.log" 2>&1 </dev/null &
  echo $! >"$run/hub.pid"
  sleep 0.5
fi

hosts=""
for i in $(seq 1 "$n"); do hosts="$hosts${hosts:++}blade$i=$(lab_ip "$i")"; done

for i in $(seq 1 "$n"); do
  name=blade$i; port=$(lab_port "$i"); ip=$(lab_ip "$i")
  mac=$(printf '52:54:00:77:00:%02x' $((10 + i)))
  mid=$(printf 'xenlab-%s' "$name" | md5sum | cut -c1-32)
  ov=$run/$name.qcow2
  if [ "${LAB_KEEP:-0}" != 1 ] || [ ! -f "$ov" ]; then
    rm -f "$ov"; qemu-img create -q -f qcow2 -b "$img/dom0.img" -F raw "$ov"
  fi
  kargs="root=/dev/vda rw net.ifnames=0 xenlab.name=$name xenlab.ip=$ip xenlab.hosts=$hosts systemd.machine_id=$mid"
  if [ "${LAB_XEN:-0}" = 1 ]; then
    xen=$(ls "$boot"/xen-4*-amd64 | head -1)
    bootargs=(-kernel "$xen"
      -append "console=com1 com1=115200,8n1 dom0_mem=1024M,max:1024M dom0_max_vcpus=1 loglvl=all guest_loglvl=all noreboot console_timestamps=boot spec-ctrl=eager-fpu"
      -initrd "$boot/vmlinuz $kargs console=hvc0 earlyprintk=xen,$boot/initrd.img")
    mode=xen
  else
    bootargs=(-kernel "$boot/vmlinuz" -initrd "$boot/initrd.img" -append "$kargs console=ttyS0")
    mode=plain
  fi
  rm -f "$run/$name.serial"
  qemu-system-x86_64 -accel tcg,thread=multi,tb-size=256 -cpu max,-smap,-smep,-pku,-la57 -machine pc \
    -m "${LAB_MEM:-2048}" -smp 1 -nodefaults -display none -no-reboot \
    "${bootargs[@]}" \
    -drive "file=$ov,if=virtio,format=qcow2,cache=unsafe" \
    -netdev "user,id=n0,restrict=on,hostfwd=tcp:127.0.0.1:$port-:22" -device virtio-net-pci,netdev=n0 \
    -netdev "socket,id=n1,connect=127.0.0.1:$hub_port" -device "virtio-net-pci,netdev=n1,mac=$mac" \
    -monitor "unix:$run/$name.mon,server,nowait" -serial "file:$run/$name.serial" \
    -daemonize -pidfile "$run/$name.pid"
  say "started $name ($mode): ssh 127.0.0.1:$port, $ip, serial $run/$name.serial"
done

for i in $(seq 1 "$n"); do
  name=blade$i; port=$(lab_port "$i")
  until ssh "${ssh_opts[@]}" -p "$port" root@127.0.0.1 true 2>/dev/null; do
    kill -0 "$(cat "$run/$name.pid")" 2>/dev/null || { echo "$name: QEMU exited; tail of serial:" >&2; tail -20 "$run/$name.serial" >&2; exit 1; }
    if [ $(( $(date +%s) - t0 )) -ge "$timeout_s" ]; then
      echo "$name: no ssh after ${timeout_s}s; tail of serial:" >&2; tail -20 "$run/$name.serial" >&2; exit 1
    fi
    sleep 3
  done
  say "$name: ssh up"
done

{
  echo "# Written by lab/up.sh: the QEMU lab's blades (plain Debian or dom0s)."
  echo "all:"
  echo "  vars:"
  echo "    ansible_user: root"
  echo "    ansible_ssh_private_key_file: $key"
  echo "    ansible_ssh_common_args: -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null"
  echo "    ansible_python_interpreter: /usr/bin/python3"
  echo "  children:"
  echo "    xen_hosts:"
  echo "      hosts:"
  for i in $(seq 1 "$n"); do
    echo "        blade$i: {ansible_host: 127.0.0.1, ansible_port: $(lab_port "$i"), lab_ip: $(lab_ip "$i")}"
  done
} >"$cache/inventory.yml"
say "all $n blade(s) up; inventory: $cache/inventory.yml"
