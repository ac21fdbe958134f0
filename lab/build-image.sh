#!/bin/bash
# shellcheck disable=SC2046  # $(pkgs FILE) is split into package names on purpose
# Build the lab's disk image: Debian 12 (bookworm), booting plain Linux (not Xen) through GRUB from an
# MBR disk, the dom0 packages installed (packages-preinstalled.txt), an offline apt repository inside
# holding the Xen/NFS packages, root ssh key
# access for the host, python3, and xenlab-boot.service (hostname, addresses, machine-id, the
# filer's XFS disk: from QEMU's SMBIOS OEM strings, so they reach the VM through any boot loader).
# Output, cached by content hash of this script and its inputs:
#   .cache/lab/img-<hash>/dom0.img   raw disk: MBR, partition 1 = ext4 root (LABEL=xenlab-root), GRUB
#   .cache/lab/img-<hash>/boot/      vmlinuz, initrd, the gunzipped Xen hypervisor (ELF32 multiboot,
#                                    for the direct-boot fallback), guest-initrd.gz (the tiny guest)
#   .cache/lab/current -> img-<hash>
# Needs root, debootstrap, dpkg-dev (dpkg-scanpackages), e2fsprogs, qemu-system-x86 (GRUB is
# installed by booting the image once), network to deb.debian.org.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")
cache=${LAB_CACHE:-$repo/.cache/lab}
mirror=${LAB_MIRROR:-http://deb.debian.org/debian}
secmirror=${LAB_SECURITY_MIRROR:-http://deb.debian.org/debian-security}
size=${LAB_IMAGE_SIZE:-4G}
t0=$(date +%s)
say() { printf '[build-image %4ds] %s\n' $(( $(date +%s) - t0 )) "$*"; }
pkgs() { grep -v '^\s*#' "$1" | grep -v '^\s*$' | tr '\n' ' '; }

mkdir -p "$cache"
# The ssh key is an input of the image, but it is generated once and kept (never committed).
if [ ! -f "$cache/id_ed25519" ]; then
  ssh-keygen -q -t ed25519 -N '' -C xenlab -f "$cache/id_ed25519"
  say "generated $cache/id_ed25519"
fi
hash=$(cat "$here/build-image.sh" "$here/packages-base.txt" "$here/packages-offline.txt" "$here/xenlab-boot" \
       "$here/build-guest-initramfs.sh" "$here/xenlab_pycache.py" "$here/packages-preinstalled.txt" "$cache/id_ed25519.pub" | sha256sum | cut -c1-16)
out=$cache/img-$hash
if [ -f "$out/done" ]; then
  ln -sfn "img-$hash" "$cache/current"
  say "cached: $out (hash $hash)"
  exit 0
fi
"$here/host-packages.sh"
for t in debootstrap dpkg-scanpackages mkfs.ext4 qemu-system-x86_64 cpio; do
  command -v $t >/dev/null || { echo "missing $t (apt-get install debootstrap dpkg-dev e2fsprogs qemu-system-x86 cpio)" >&2; exit 1; }
done
say "building image $hash into $out"
rm -rf "$out.tmp"; mkdir -p "$out.tmp/boot"
root=$out.tmp/rootfs
cleanup() {
  for m in dev/pts dev proc sys; do mountpoint -q "$root/$m" 2>/dev/null && umount -l "$root/$m" || true; done
}
trap cleanup EXIT

say "debootstrap --variant=minbase bookworm"
debootstrap --variant=minbase bookworm "$root" "$mirror" >"$out.tmp/debootstrap.log" 2>&1 \
  || { tail -20 "$out.tmp/debootstrap.log"; exit 1; }
mount --bind /dev "$root/dev"; mount --bind /dev/pts "$root/dev/pts"
mount -t proc proc "$root/proc"; mount -t sysfs sys "$root/sys"
cat >"$root/etc/apt/sources.list" <<SRC
deb $mirror bookworm main
deb $mirror bookworm-updates main
deb $secmirror bookworm-security main
SRC
printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"; chmod +x "$root/usr/sbin/policy-rc.d"
echo 'do_symlinks = yes' >"$root/etc/kernel-img.conf"
# A small initramfs (MODULES=most is ~130 MB and costs ~25 s of boot under TCG).
mkdir -p "$root/etc/initramfs-tools/conf.d"
echo 'MODULES=list' >"$root/etc/initramfs-tools/conf.d/xenlab.conf"
mkdir -p "$root/etc/initramfs-tools"
printf '%s\n' virtio_pci virtio_blk virtio_net ext4 crc32c_generic >"$root/etc/initramfs-tools/modules"
export DEBIAN_FRONTEND=noninteractive LC_ALL=C
# grub-pc: installed to the disk later (below), never by its postinst inside the chroot.
printf '%s\n' 'grub-pc grub-pc/install_devices multiselect' 'grub-pc grub-pc/install_devices_empty boolean true' \
  >"$out.tmp/debconf.sel"
chroot "$root" debconf-set-selections <"$out.tmp/debconf.sel"
say "apt-get install (base): $(pkgs "$here/packages-base.txt")"
chroot "$root" apt-get update -q >"$out.tmp/apt.log" 2>&1
chroot "$root" apt-get install -y -q --no-install-recommends $(pkgs "$here/packages-base.txt") >>"$out.tmp/apt.log" 2>&1 \
  || { tail -30 "$out.tmp/apt.log"; exit 1; }
chroot "$root" apt-get clean
say "apt-get --download-only (offline repo): $(pkgs "$here/packages-offline.txt")"
chroot "$root" apt-get install -y -q --no-install-recommends --download-only $(pkgs "$here/packages-offline.txt") \
  >>"$out.tmp/apt.log" 2>&1 || { tail -30 "$out.tmp/apt.log"; exit 1; }
mkdir -p "$root/var/local/xenlab-repo"
mv "$root"/var/cache/apt/archives/*.deb "$root/var/local/xenlab-repo/"
(cd "$root/var/local/xenlab-repo" && dpkg-scanpackages -m . /dev/null 2>/dev/null >Packages && gzip -9k Packages)
say "offline repo: $(ls "$root/var/local/xenlab-repo"/*.deb | wc -l) debs, $(du -sh "$root/var/local/xenlab-repo" | cut -f1)"
# Xen hypervisor for direct boot, extracted on the host side from the same .deb.
hv=$(ls "$root"/var/local/xenlab-repo/xen-hypervisor-4.*-amd64_*.deb | head -1)
mkdir -p "$out.tmp/xenx"; dpkg-deb -x "$hv" "$out.tmp/xenx"
for f in "$out.tmp"/xenx/boot/xen-*.gz; do gunzip -c "$f" >"$out.tmp/boot/$(basename "${f%.gz}")"; done
rm -rf "$out.tmp/xenx"
# The image's apt only knows the local repository: the VMs reach no network.
echo 'deb [trusted=yes] file:/var/local/xenlab-repo ./' >"$root/etc/apt/sources.list"
rm -f "$root"/var/lib/apt/lists/*_dists_* 2>/dev/null || true
chroot "$root" apt-get update -q >>"$out.tmp/apt.log" 2>&1
chroot "$root" apt-get install -s --no-install-recommends $(pkgs "$here/packages-offline.txt") >/dev/null \
  || { echo "offline repo cannot satisfy the offline package list" >&2; exit 1; }
# The dom0 packages are installed in the image, from the offline repository, at the build's native speed:
# on a TCG blade their dpkg run took 235-538 s of every lab's first site.yml (each postinst's systemctl
# daemon-reload alone 17-26 s). The dom0 role then finds them present and skips its apt step; that step runs
# for real in molecule/dom0 (a container). What the role does next runs in the lab as on a fresh install:
# the Xen boot settings, update-grub, the reboot into Xen through GRUB, the services. The filer role's NFS
# server and rsync come installed too (73-108 s of TCG dpkg on the filer); nfs-server.service is disabled
# again, so that no blade runs an NFS server and the filer role enables and starts it, as on a fresh server.
# As the roles do, no service starts (policy-rc.d) and update-grub is a no-op during the install (no disk to
# probe in a chroot; apt gives dpkg's scripts the PATH of DPkg::Path).
say "apt-get install (preinstalled from the offline repo): $(pkgs "$here/packages-preinstalled.txt")"
printf '#!/bin/sh\nexit 0\n' >"$root/usr/local/sbin/update-grub"; chmod +x "$root/usr/local/sbin/update-grub"
chroot "$root" apt-get install -y -q --no-install-recommends -o DPkg::Path=/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin \
  $(pkgs "$here/packages-preinstalled.txt") \
  >>"$out.tmp/apt.log" 2>&1 || { tail -30 "$out.tmp/apt.log"; exit 1; }
rm -f "$root/usr/local/sbin/update-grub"
chroot "$root" systemctl disable nfs-server.service >/dev/null 2>&1
chroot "$root" apt-get clean

say "configuring (ssh key, fstab, network, xenlab-boot)"
rm -f "$root/usr/sbin/policy-rc.d"
echo 'xenlab' >"$root/etc/hostname"
# fsck pass 0: the root is a fresh overlay per lab, and its fsck (10-18 s of every boot under TCG) sat on the
# way to sshd.
echo 'LABEL=xenlab-root / ext4 defaults,errors=remount-ro 0 0' >"$root/etc/fstab"
# GRUB on the serial console, no menu delay. Plain Linux logs to ttyS0; under Xen, Xen owns the serial
# port and dom0 uses hvc0 (GRUB_CMDLINE_LINUX_XEN_REPLACE_DEFAULT, read by 20_linux_xen). The Xen
# command line itself is the dom0 role's (GRUB_CMDLINE_XEN_DEFAULT in grub.d/xen.cfg).
mkdir -p "$root/etc/default/grub.d"
cat >"$root/etc/default/grub.d/xenlab.cfg" <<'GRUB'
GRUB_TIMEOUT=0
GRUB_TIMEOUT_STYLE=hidden
GRUB_TERMINAL=serial
GRUB_SERIAL_COMMAND="serial --unit=0 --speed=115200"
GRUB_CMDLINE_LINUX="net.ifnames=0"
GRUB_CMDLINE_LINUX_DEFAULT="console=ttyS0"
GRUB_CMDLINE_LINUX_XEN_REPLACE_DEFAULT="console=hvc0 earlyprintk=xen"
GRUB_DISABLE_OS_PROBER=true
GRUB
# Run once, as PID 1, by the build's QEMU boot below: put GRUB on the disk, write grub.cfg, power off.
cat >"$root/usr/local/sbin/xenlab-grub-setup" <<'SETUP'
#!/bin/sh
# PID 1 must never exit (the kernel panics, and without panic= QEMU hangs until the build's timeout):
# PATH set for sleep, and the power-off (sysrq, asynchronous) awaited in a loop.
PATH=/usr/sbin:/usr/bin:/sbin:/bin; export PATH
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev 2>/dev/null
mount -o remount,rw /
# The Xen packages are installed, so update-grub writes Xen entries too. xen.cfg (theirs, untouched) would
# make Xen the default unless XEN_OVERRIDE_GRUB_DEFAULT is set: 0 here keeps plain Linux the default, as on a
# server before the dom0 role (which sets the Xen command line and the override in xen.cfg, then reboots).
if grub-install --target=i386-pc /dev/vda && XEN_OVERRIDE_GRUB_DEFAULT=0 update-grub; then echo XENLAB-GRUB-OK; else echo XENLAB-GRUB-FAILED; fi
sync; mount -o remount,ro /; sync
echo o >/proc/sysrq-trigger
while :; do sleep 1; done
SETUP
chmod 755 "$root/usr/local/sbin/xenlab-grub-setup"
: >"$root/etc/machine-id"; rm -f "$root/var/lib/dbus/machine-id"
rm -f "$root"/etc/ssh/ssh_host_*   # regenerated per VM by xenlab-boot
install -d -m 700 "$root/root/.ssh"
install -m 600 "$cache/id_ed25519.pub" "$root/root/.ssh/authorized_keys"
echo 'PermitRootLogin prohibit-password' >"$root/etc/ssh/sshd_config.d/xenlab.conf"
echo 'UseDNS no' >>"$root/etc/ssh/sshd_config.d/xenlab.conf"
echo 'HostKey /etc/ssh/ssh_host_ed25519_key' >>"$root/etc/ssh/sshd_config.d/xenlab.conf"
mkdir -p "$root/etc/systemd/network"
printf '[Match]\nName=eth0\n[Network]\nDHCP=ipv4\n[DHCPv4]\nUseDNS=no\n' >"$root/etc/systemd/network/10-eth0.network"
chroot "$root" systemctl enable systemd-networkd >/dev/null 2>&1
chroot "$root" systemctl mask systemd-networkd-wait-online.service apt-daily.timer apt-daily-upgrade.timer e2scrub_reap.service e2scrub_all.timer >/dev/null 2>&1
# Boot work nothing in the lab uses (no display, FUSE, loop devices, device mapper, binfmt, hugepages, POSIX
# message queues, debugfs, pstore; no VGA console for a tty1 getty; no periodic trims and backups on throwaway
# disks). Every boot of a blade under Xen paid for them: a single blade's reboot to sshd took 143 s with them
# and 112 s without them and the root's fsck (its QEMU's CPU 145 s -> 113 s; measured 2026-12-08). A rig
# setting, not the roles': a dom0 on hardware boots these in a second.
chroot "$root" systemctl mask modprobe@drm.service modprobe@efi_pstore.service modprobe@fuse.service \
  modprobe@loop.service modprobe@dm_mod.service modprobe@configfs.service sys-kernel-debug.mount \
  sys-kernel-tracing.mount sys-kernel-config.mount dev-hugepages.mount dev-mqueue.mount \
  sys-fs-fuse-connections.mount systemd-binfmt.service proc-sys-fs-binfmt_misc.automount \
  systemd-network-generator.service kmod-static-nodes.service systemd-pstore.service getty@tty1.service \
  systemd-tmpfiles-clean.timer fstrim.timer dpkg-db-backup.timer >/dev/null
install -m 755 "$here/xenlab-boot" "$root/usr/local/sbin/xenlab-boot"
cat >"$root/etc/systemd/system/xenlab-boot.service" <<'UNIT'
[Unit]
Description=xenlab: hostname, machine-id, addresses and ssh host keys from the kernel command line
DefaultDependencies=no
After=local-fs.target systemd-udevd.service
Before=ssh.service network-pre.target systemd-networkd.service
Wants=network-pre.target
[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/usr/local/sbin/xenlab-boot
[Install]
WantedBy=multi-user.target
UNIT
chroot "$root" systemctl enable xenlab-boot.service >/dev/null 2>&1
chroot "$root" passwd -d root >/dev/null   # serial console login for debugging; ssh stays key-only
# Test-rig speed, not the collection's: Ansible's module payloads keep their bytecode between tasks
# (lab/xenlab_pycache.py, ~40 % of a task's time on a TCG blade), and dpkg skips its fsyncs (the disks are
# throw-away overlays, QEMU cache=unsafe), as Debian's own container images do.
site=$root/usr/local/lib/$(chroot "$root" python3 -c 'import sys; print("python%d.%d" % sys.version_info[:2])')/dist-packages
install -D -m 644 "$here/xenlab_pycache.py" "$site/xenlab_pycache.py"
echo 'import xenlab_pycache' >"$site/xenlab_pycache.pth"
echo 'force-unsafe-io' >"$root/etc/dpkg/dpkg.cfg.d/xenlab-unsafe-io"
# The bridge module loaded at boot (systemd-modules-load, before networkd): otherwise networkd's request to
# create the dom0 role's bridge makes the kernel load it then, and on a dom0 booting slowly under TCG (three
# blades rebooting at once on a busy host) that took longer than networkd's 25 s netlink timeout: "xenbr0:
# netdev could not be created: Connection timed out", eth1 left "configuring" for good, and the image store
# mount failed with "Network is unreachable" (seen on blade1 and blade2 in a CI run, 2026-12-07). A rig
# setting for emulation speed, not the role's: on hardware the module loads in milliseconds.
echo 'bridge' >"$root/etc/modules-load.d/xenlab-bridge.conf"
cp -L "$root/vmlinuz" "$out.tmp/boot/vmlinuz"; cp -L "$root/initrd.img" "$out.tmp/boot/initrd.img"
cleanup; trap - EXIT

say "tiny guest initramfs (busybox + xen-netfront/blkfront + NFS client)"
"$here/build-guest-initramfs.sh" "$root" "$out.tmp/boot" >"$out.tmp/guest.log" 2>&1 || { tail -20 "$out.tmp/guest.log"; exit 1; }
# Every dom0 has the guest kernel and initramfs at the same local path: guests boot from them.
mkdir -p "$root/var/lib/xenlab"
cp "$out.tmp/boot/guest-initrd.gz" "$root/var/lib/xenlab/guest-initrd.gz"
cp -L "$root/vmlinuz" "$root/var/lib/xenlab/guest-vmlinuz"

say "disk: MBR + ext4 partition ($size sparse raw)"
truncate -s "$size" "$out.tmp/dom0.img"
# One primary partition, type 83, bootable, from sector 2048 (1 MiB) to the end.
python3 - "$out.tmp/dom0.img" <<'MBR'
import os, struct, sys
path = sys.argv[1]
sectors = os.path.getsize(path) // 512
mbr = bytearray(512)
mbr[446:462] = bytes([0x80, 0xFE, 0xFF, 0xFF, 0x83, 0xFE, 0xFF, 0xFF]) + struct.pack("<II", 2048, sectors - 2048)
mbr[440:444] = os.urandom(4)          # disk signature
mbr[510:512] = b"\x55\xaa"
with open(path, "r+b") as f:
    f.write(mbr)
MBR
blocks=$(( ($(stat -c %s "$out.tmp/dom0.img") - 1048576) / 4096 ))
# GRUB 2.06 does not read ext4's metadata_csum_seed / orphan_file (e2fsprogs 1.47 defaults).
mkfs.ext4 -q -F -b 4096 -O ^metadata_csum_seed,^orphan_file -L xenlab-root -E offset=1048576 -d "$root" \
  "$out.tmp/dom0.img" "$blocks"
rm -rf "$root"

say "installing GRUB: booting the image once (QEMU TCG)"
timeout 300 qemu-system-x86_64 -accel tcg,thread=multi,tb-size=256 -cpu max,-smap,-smep,-pku,-la57 -machine pc \
  -m 1024 -smp 1 -nodefaults -display none -no-reboot \
  -kernel "$out.tmp/boot/vmlinuz" -initrd "$out.tmp/boot/initrd.img" \
  -append "root=/dev/vda1 rw console=ttyS0 panic=1 init=/usr/local/sbin/xenlab-grub-setup" \
  -drive "file=$out.tmp/dom0.img,if=virtio,format=raw,cache=unsafe" \
  -serial "file:$out.tmp/grub-setup.serial" || true
grep -q XENLAB-GRUB-OK "$out.tmp/grub-setup.serial" \
  || { tail -30 "$out.tmp/grub-setup.serial" >&2; echo "GRUB installation failed" >&2; exit 1; }
touch "$out.tmp/done"
rm -rf "$out"; mv "$out.tmp" "$out"; ln -sfn "img-$hash" "$cache/current"
# Older images (other hashes) are ~0.8 GB each: keep only this one. Overlays of a running lab point
# at their own image, so a lab still up keeps its image until lab/down.sh.
for old in "$cache"/img-*; do
  [ "$old" = "$out" ] && continue
  if ls "$cache"/run/*.pid >/dev/null 2>&1; then break; fi
  rm -rf "$old"
done
say "done: $out ($(du -sh "$out/dom0.img" | cut -f1) used); boot files: $(ls "$out/boot" | tr '\n' ' ')"
