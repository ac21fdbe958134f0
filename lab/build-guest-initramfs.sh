#!/usr/bin/env bash
# Build a tiny initramfs for Xen PVH/PV lab guests.
#
# Usage: lab/build-guest-initramfs.sh ROOTFS OUT_DIR
#
# ROOTFS  Debian 12 root filesystem directory with linux-image-amd64
#         (ROOTFS/lib/modules/<kver>) and busybox-static (ROOTFS/bin/busybox).
#         Set KVER=<kver> to choose a kernel when several are installed.
# OUT_DIR Receives guest-initrd.gz (gzip-compressed newc cpio).
#
# The guest's /init reads from the kernel command line:
#   xenlab.ip=A.B.C.D/NN  address for eth0 (optional; without it eth0 stays down)
#   xenlab.gw=A.B.C.D     default gateway (optional)
#   xenlab.name=NAME      hostname (default: xenlab-guest)
# It prints "XENLAB-GUEST-READY name=<name> ip=<A.B.C.D|none>" on the console
# once networking is configured, then serves a command agent on TCP port 7000:
# each connection's input is run by /bin/sh (stdout+stderr are sent back).
#   printf 'uname -r; exit\n' | nc <ip> 7000
# Inside the guest, "/bin/nfsmount SERVER:/PATH MOUNTPOINT [OPTS]" mounts
# NFS v4.2 and falls back to NFS v3.
set -euo pipefail

usage() {
    echo "usage: $0 ROOTFS OUT_DIR" >&2
    exit 2
}

[[ $# -eq 2 ]] || usage
ROOTFS=$(cd "$1" && pwd)
OUT_DIR=$2

BB="$ROOTFS/bin/busybox"
[[ -x "$BB" ]] || { echo "error: $BB missing (install busybox-static in ROOTFS)" >&2; exit 1; }
if command -v readelf >/dev/null 2>&1 && readelf -l "$BB" 2>/dev/null | grep -q 'INTERP'; then
    echo "error: $BB is dynamically linked; busybox-static is required" >&2
    exit 1
fi

if [[ -z "${KVER:-}" ]]; then
    KVER=$(for d in "$ROOTFS"/lib/modules/*/modules.dep; do
               [[ -f "$d" ]] && basename "$(dirname "$d")"
           done | sort -V | tail -n 1)
fi
[[ -n "$KVER" ]] || { echo "error: no kernel modules under $ROOTFS/lib/modules" >&2; exit 1; }
SRC_MODDIR="$ROOTFS/lib/modules/$KVER"
[[ -f "$SRC_MODDIR/modules.dep" ]] || { echo "error: $SRC_MODDIR/modules.dep missing" >&2; exit 1; }

# Modules to ship (dependencies are added automatically). virtio_pci and
# virtio_net are only there so the image can also be smoke-tested under QEMU.
WANTED_MODULES=(
    xen-netfront xen-blkfront
    sunrpc grace lockd nfs_acl auth_rpcgss dns_resolver fscache netfs
    nfs nfsv3 nfsv4
    virtio_pci virtio_net
)

APPLETS=(
    sh ash mount umount ip ifconfig route modprobe insmod rmmod lsmod nc sleep
    cat echo printf mkdir rmdir dd ls hostname poweroff reboot halt sync df du
    rm cp mv ln ping ps kill grep sed awk cut tr head tail wc sort uniq test '['
    true false env find free dmesg uname date stat touch mknod mdev md5sum
    sha256sum xargs seq nslookup timeout setsid tee readlink basename dirname
    chmod chown id which expr vi less
)

STAGE=$(mktemp -d)
cleanup() { rm -rf "$STAGE"; }
trap cleanup EXIT

mkdir -p "$STAGE"/{bin,sbin,dev,proc,sys,tmp,run,mnt,root,etc,var}
mkdir -p "$STAGE/lib/modules/$KVER"

# --- busybox ---------------------------------------------------------------
install -m 0755 "$BB" "$STAGE/bin/busybox"
available=" $("$BB" --list | tr '\n' ' ') "
for a in "${APPLETS[@]}"; do
    if [[ "$available" == *" $a "* ]]; then
        ln -sf busybox "$STAGE/bin/$a"
    else
        echo "warning: busybox has no applet '$a'" >&2
    fi
done
# The kernel calls /sbin/modprobe for request_module().
for a in modprobe insmod rmmod lsmod poweroff reboot halt mdev; do
    ln -sf ../bin/busybox "$STAGE/sbin/$a"
done

# --- kernel modules --------------------------------------------------------
# modules.dep lines: "kernel/path/mod.ko[.xz]: dep1.ko[.xz] dep2..."
declare -A DEP_LINE=()    # module name -> full modules.dep line
declare -A SELECTED=()    # module name -> 1
modname() {
    local b=${1##*/}
    b=${b%%.ko*}
    printf '%s\n' "${b//-/_}"
}
while IFS= read -r line; do
    path=${line%%:*}
    DEP_LINE[$(modname "$path")]=$line
done < "$SRC_MODDIR/modules.dep"

select_module() {
    local name line dep
    name=$(modname "$1")
    [[ -n "${SELECTED[$name]:-}" ]] && return 0
    line=${DEP_LINE[$name]:-}
    if [[ -z "$line" ]]; then
        if grep -qE "/${name//_/[-_]}\.ko" "$SRC_MODDIR/modules.builtin" 2>/dev/null; then
            echo "note: $1 is built into the kernel" >&2
        else
            echo "warning: module $1 not found for $KVER" >&2
        fi
        return 0
    fi
    SELECTED[$name]=1
    for dep in ${line#*:}; do
        select_module "$dep"
    done
}
for m in "${WANTED_MODULES[@]}"; do
    select_module "$m"
done

strip_ext() {    # kernel/x/foo.ko.xz -> kernel/x/foo.ko
    local p=$1
    printf '%s\n' "${p%.ko*}.ko"
}
DST_MODDIR="$STAGE/lib/modules/$KVER"
: > "$DST_MODDIR/modules.dep"
for name in "${!SELECTED[@]}"; do
    line=${DEP_LINE[$name]}
    src=${line%%:*}
    dst=$(strip_ext "$src")
    mkdir -p "$DST_MODDIR/$(dirname "$dst")"
    # busybox insmod/modprobe cannot read compressed modules: store plain .ko
    case "$src" in
        *.ko)     cp "$SRC_MODDIR/$src" "$DST_MODDIR/$dst" ;;
        *.ko.xz)  xz -dc "$SRC_MODDIR/$src" > "$DST_MODDIR/$dst" ;;
        *.ko.zst) zstd -qdc "$SRC_MODDIR/$src" > "$DST_MODDIR/$dst" ;;
        *.ko.gz)  gzip -dc "$SRC_MODDIR/$src" > "$DST_MODDIR/$dst" ;;
        *) echo "error: unknown module format: $src" >&2; exit 1 ;;
    esac
    deps=""
    for dep in ${line#*:}; do
        deps+=" $(strip_ext "$dep")"
    done
    printf '%s:%s\n' "$dst" "$deps" >> "$DST_MODDIR/modules.dep"
done
sort -o "$DST_MODDIR/modules.dep" "$DST_MODDIR/modules.dep"
# Aliases (e.g. fs-nfs4, xen:vif) for the shipped modules only.
if [[ -f "$SRC_MODDIR/modules.alias" ]]; then
    while IFS= read -r line; do
        [[ "$line" == alias\ * ]] || continue
        mod=${line##* }
        [[ -n "${SELECTED[${mod//-/_}]:-}" ]] && printf '%s\n' "$line"
    done < "$SRC_MODDIR/modules.alias" > "$DST_MODDIR/modules.alias"
fi
for f in modules.builtin modules.order; do
    [[ -f "$SRC_MODDIR/$f" ]] && cp "$SRC_MODDIR/$f" "$DST_MODDIR/$f"
done

# --- /etc ------------------------------------------------------------------
printf 'root:x:0:0:root:/root:/bin/sh\n' > "$STAGE/etc/passwd"
printf 'root:x:0:\n' > "$STAGE/etc/group"
printf '127.0.0.1 localhost\n' > "$STAGE/etc/hosts"

# --- /bin/agent-sh: shell run per agent connection ---------------------------
# busybox nc -e only connects stdin/stdout to the socket; send stderr too.
cat > "$STAGE/bin/agent-sh" <<'EOF'
#!/bin/sh
export PATH=/bin:/sbin HOME=/root
cd /root || cd /
exec /bin/sh 2>&1
EOF

# --- /bin/nfsmount ---------------------------------------------------------
cat > "$STAGE/bin/nfsmount" <<'EOF'
#!/bin/sh
# nfsmount SERVER:/PATH MOUNTPOINT [EXTRA_OPTS]
# Mount NFS v4.2, falling back to NFS v3. busybox mount has no NFS helper
# code, so options are passed to the kernel as text (addr= must be an IP).
# Set NFSMOUNT_VERS="4.2" or "3" to try one version only.
if [ $# -lt 2 ]; then
    echo "usage: nfsmount SERVER:/PATH MOUNTPOINT [EXTRA_OPTS]" >&2
    exit 2
fi
src=$1 mnt=$2 extra=${3:+,$3}
server=${src%%:*}
case "$server" in
    *[!0-9.]*)
        addr=$(nslookup "$server" 2>/dev/null | awk '/^Address/ && $NF ~ /^[0-9.]+$/ {a=$NF} END {print a}')
        [ -n "$addr" ] || { echo "nfsmount: cannot resolve $server" >&2; exit 1; }
        ;;
    *) addr=$server ;;
esac
myip=$(cat /run/xenlab-ip 2>/dev/null)
[ -n "$myip" ] && [ "$myip" != none ] || myip=0.0.0.0
mkdir -p "$mnt"
modprobe -q nfsv4 2>/dev/null
modprobe -q nfsv3 2>/dev/null
rc=1
for v in ${NFSMOUNT_VERS:-4.2 3}; do
    case "$v" in
        4*) opts="vers=$v,addr=$addr,clientaddr=$myip,proto=tcp,hard$extra"
            set -- -t nfs4 -o "$opts" ;;
        *)  opts="vers=$v,addr=$addr,mountaddr=$addr,proto=tcp,mountproto=tcp,nolock,hard$extra"
            set -- -t nfs -o "$opts" ;;
    esac
    echo "nfsmount: mount $* $src $mnt" >&2
    mount "$@" "$src" "$mnt" && {
        echo "nfsmount: mounted $src on $mnt (vers=$v)" >&2
        exit 0
    }
    rc=$?
done
exit $rc
EOF

# --- /init -----------------------------------------------------------------
cat > "$STAGE/init" <<'EOF'
#!/bin/sh
export PATH=/bin:/sbin HOME=/root
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null || mdev -s
mkdir -p /dev/pts /dev/shm /run /tmp
mount -t devpts devpts /dev/pts 2>/dev/null
mount -t tmpfs tmpfs /run
mount -t tmpfs tmpfs /tmp
exec </dev/console >/dev/console 2>&1

log() { echo "xenlab-init: $*"; }
# xl shutdown and xl reboot: the guest kernel runs /sbin/poweroff or reboot, which (busybox, no -f)
# signal PID 1 (USR2 poweroff, USR1 halt, TERM reboot). This init is a shell: it traps them and does
# it at once (-f: no init to ask). The keep-alive loop below waits interruptibly, so it is prompt.
trap 'log "poweroff requested"; sync; poweroff -f' USR2
trap 'log "halt requested"; sync; halt -f' USR1
trap 'log "reboot requested"; sync; reboot -f' TERM
load() {
    for m in "$@"; do
        if modprobe "$m" 2>/dev/null; then
            log "loaded $m"
        else
            log "warning: cannot load module $m"
        fi
    done
}

IP="" GW="" NAME=xenlab-guest
for w in $(cat /proc/cmdline); do
    case "$w" in
        xenlab.ip=*)   IP=${w#*=} ;;
        xenlab.gw=*)   GW=${w#*=} ;;
        xenlab.name=*) NAME=${w#*=} ;;
    esac
done

hostname "$NAME"
echo "$NAME" > /etc/hostname
echo "127.0.1.1 $NAME" >> /etc/hosts

load xen-netfront xen-blkfront
# Only useful when testing under QEMU; harmless elsewhere.
[ -d /sys/bus/pci/devices ] && modprobe -q virtio_pci 2>/dev/null && modprobe -q virtio_net 2>/dev/null

ip link set lo up
ip addr add 127.0.0.1/8 dev lo 2>/dev/null

ADDR=none
if [ -n "$IP" ]; then
    i=0
    while [ ! -e /sys/class/net/eth0 ] && [ $i -lt 20 ]; do
        sleep 1
        i=$((i + 1))
    done
    if [ -e /sys/class/net/eth0 ]; then
        case "$IP" in */*) ;; *) IP="$IP/24" ;; esac
        if ip addr add "$IP" dev eth0 && ip link set eth0 up; then
            ADDR=${IP%/*}
            if [ -n "$GW" ]; then
                ip route add default via "$GW" || log "warning: cannot add default route via $GW"
            fi
        else
            log "warning: failed to configure eth0 with $IP"
        fi
    else
        log "warning: eth0 did not appear within 20 s; networking not configured"
    fi
else
    log "warning: no xenlab.ip= on the kernel command line"
fi
echo "$ADDR" > /run/xenlab-ip

load sunrpc nfsv3 nfsv4

echo "XENLAB-GUEST-READY name=$NAME ip=$ADDR"

# Command agent: one /bin/sh per TCP connection on port 7000 (-ll: keep listening).
(
    while :; do
        nc -ll -p 7000 -e /bin/agent-sh
        log "agent exited (rc=$?), restarting"
        sleep 1
    done
) &
log "agent listening on tcp/7000"

# init must never exit; the periodic wake-up also reaps orphaned children. "wait" (not a foreground
# sleep) lets the traps above run as soon as a signal arrives.
while :; do
    sleep 60 &
    wait $!
done
EOF

chmod 0755 "$STAGE/init" "$STAGE/bin/agent-sh" "$STAGE/bin/nfsmount"

# --- pack ------------------------------------------------------------------
mkdir -p "$OUT_DIR"
OUT="$OUT_DIR/guest-initrd.gz"
(
    cd "$STAGE"
    find . -mindepth 1 | LC_ALL=C sort | cpio --quiet -o -H newc -R 0:0
) | gzip -9 -n > "$OUT.tmp"
mv "$OUT.tmp" "$OUT"

size=$(stat -c %s "$OUT")
echo "built $OUT: $size bytes ($(( (size + 1023) / 1024 )) KiB), kernel $KVER, ${#SELECTED[@]} modules"
if (( size >= 4 * 1024 * 1024 )); then
    echo "warning: initramfs is larger than 4 MiB" >&2
fi
