#!/usr/bin/env bash
# Build the Debian 12 (bookworm) systemd image the molecule scenarios run, with debootstrap and
# `podman import` (there is no image registry to pull from). Idempotent and cached:
#
#   key    = sha256 of this script (which holds the package lists), scripts/image-lib.sh and
#            scripts/containers.conf
#   image  = localhost/consolidation-xen-base:bookworm, labelled consolidation.xen.base-key=<key>
#   cache  = .cache/base-image/rootfs-<key>.tar (gitignored): the trimmed root filesystem
#
# Image present with the right label: nothing to do (~1 s). Image missing but the tarball cached:
# import only. Otherwise: debootstrap, upgrade from bookworm-updates/-security, pre-download the
# dom0 role's packages into the apt cache (the role still installs them; the molecule runs just
# need no downloads), trim, tar, import. FORCE=1 rebuilds from scratch.
#
# Installs debootstrap, podman and runc with apt-get when missing (CI starts from a bare machine).
# Needs root (debootstrap, chroot). TOOLS_ONLY=1 installs the tools and stops.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
IMAGE=${MOLECULE_BASE_IMAGE:-localhost/consolidation-xen-base:bookworm}
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
SECURITY_MIRROR=${DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}
SUITE=bookworm
CACHE=$ROOT/.cache/base-image
LABEL=consolidation.xen.base-key

# What ansible, the roles and the tests need in every container. grub2-common: update-grub on PATH, as on
# a server booting with GRUB (molecule/dom0 proves that the Xen postinsts' update-grub calls are the dom0
# role's no-op during its install).
BASE_PACKAGES=(
    systemd systemd-sysv dbus python3 python3-apt sudo openssh-server openssh-client iproute2
    ca-certificates procps gnupg iputils-ping less
    grub2-common
)
# Downloaded into /var/cache/apt/archives but NOT installed: roles/dom0 and roles/image_store
# install them during converge, without a download. Keep in step with their vars/Debian.yml.
PRESEED_PACKAGES=(xen-system-amd64 qemu-system-xen bridge-utils nfs-common)

say() { printf '[base-image] %s\n' "$*"; }
die() { printf '[base-image] ERROR: %s\n' "$*" >&2; exit 1; }
start=$SECONDS

[ "$(id -u)" = 0 ] || die "needs root (debootstrap and chroot)"

# --- tools ----------------------------------------------------------------------------------------
missing=()
command -v debootstrap >/dev/null 2>&1 || missing+=(debootstrap)
command -v podman >/dev/null 2>&1 || missing+=(podman)
command -v runc >/dev/null 2>&1 || missing+=(runc)
if [ ${#missing[@]} -gt 0 ]; then
    say "installing ${missing[*]} with apt-get"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    apt-get install -y -q --no-install-recommends "${missing[@]}" containernetworking-plugins \
        uidmap slirp4netns fuse-overlayfs
fi
# TOOLS_ONLY=1: stop here (scripts/test.sh installs every host package first, one apt-get at a time,
# then builds the images in the background).
[ "${TOOLS_ONLY:-0}" = 1 ] && exit 0
# shellcheck source=scripts/podman-env.sh
. "$ROOT/scripts/podman-env.sh"
# shellcheck source=scripts/image-lib.sh
. "$ROOT/scripts/image-lib.sh"

key=$(base_image_key "$ROOT")
tarball=$CACHE/rootfs-$key.tar

# --- cached? --------------------------------------------------------------------------------------
if [ "${FORCE:-0}" != 1 ] && image_has_key "$IMAGE" "$LABEL" "$key"; then
    say "$IMAGE is up to date (key $key); nothing to do ($((SECONDS - start)) s)"
    exit 0
fi

# --- root filesystem ------------------------------------------------------------------------------
if [ "${FORCE:-0}" = 1 ] || [ ! -s "$tarball" ]; then
    mkdir -p "$CACHE"
    rootfs=$(mktemp -d "$CACHE/rootfs.XXXXXX")
    cleanup() { chroot_release "$rootfs"; rm -rf "$rootfs"; }
    trap cleanup EXIT

    say "debootstrap $SUITE (minbase + ${#BASE_PACKAGES[@]} packages) from $MIRROR; about 2 minutes"
    t=$SECONDS
    include=$(IFS=,; echo "${BASE_PACKAGES[*]}")
    debootstrap --variant=minbase --include="$include" "$SUITE" "$rootfs" "$MIRROR" \
        > "$CACHE/debootstrap.log" 2>&1 || { tail -20 "$CACHE/debootstrap.log" >&2; die "debootstrap failed (log: $CACHE/debootstrap.log)"; }
    say "  debootstrap done ($((SECONDS - t)) s)"

    cat > "$rootfs/etc/apt/sources.list" <<EOF
deb $MIRROR $SUITE main
deb $MIRROR $SUITE-updates main
deb $SECURITY_MIRROR $SUITE-security main
EOF
    chroot_prepare "$rootfs"

    say "upgrading from $SUITE-updates and $SUITE-security; pre-downloading ${PRESEED_PACKAGES[*]}"
    t=$SECONDS
    chroot "$rootfs" /usr/bin/env DEBIAN_FRONTEND=noninteractive LC_ALL=C.UTF-8 sh -euc "
        apt-get update -q
        apt-get -y -q -o Dpkg::Options::=--force-confold dist-upgrade
        apt-get clean
        apt-get install -y -q --download-only --no-install-recommends ${PRESEED_PACKAGES[*]}
    " > "$CACHE/apt.log" 2>&1 || { tail -20 "$CACHE/apt.log" >&2; die "apt in the chroot failed (log: $CACHE/apt.log)"; }
    say "  apt done ($((SECONDS - t)) s; $(find "$rootfs/var/cache/apt/archives" -name '*.deb' | wc -l) .debs pre-downloaded)"

    say "trimming and preparing for systemd in a container"
    chroot_release "$rootfs"
    # Docs, man pages and translations are never read in a test container.
    rm -rf "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/* "$rootfs"/usr/share/info/* \
        "$rootfs"/usr/share/locale/* "$rootfs"/var/log/*.log "$rootfs"/var/log/apt/* \
        "$rootfs"/tmp/* "$rootfs"/var/tmp/*
    cat > "$rootfs/etc/dpkg/dpkg.cfg.d/01-container-nodoc" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
EOF
    # Every container gets its own machine id and its own ssh host keys, made at first boot.
    : > "$rootfs/etc/machine-id"
    rm -f "$rootfs"/etc/ssh/ssh_host_*
    cat > "$rootfs/etc/systemd/system/ssh-host-keys.service" <<'EOF'
[Unit]
Description=Generate missing ssh host keys (container first boot)
Before=ssh.service
ConditionPathExists=!/etc/ssh/ssh_host_ed25519_key

[Service]
Type=oneshot
ExecStart=/usr/bin/ssh-keygen -A

[Install]
WantedBy=multi-user.target
EOF
    ln -sf /etc/systemd/system/ssh-host-keys.service \
        "$rootfs/etc/systemd/system/multi-user.target.wants/ssh-host-keys.service"
    # Units that cannot work in an unprivileged container and would leave systemd "degraded"
    # (run-rpc_pipefs.mount: nfs-common, which roles/image_store installs; no sunrpc in a container).
    for unit in systemd-remount-fs.service getty@tty1.service console-getty.service \
                sys-kernel-config.mount sys-kernel-debug.mount sys-kernel-tracing.mount \
                systemd-firstboot.service systemd-modules-load.service \
                run-rpc_pipefs.mount; do
        ln -sf /dev/null "$rootfs/etc/systemd/system/$unit"
    done

    t=$SECONDS
    size=$(save_rootfs "$rootfs" "$tarball")
    say "  rootfs tarball: $tarball ($size, $((SECONDS - t)) s; older ones deleted)"
    trap - EXIT
    cleanup
else
    say "using the cached root filesystem $tarball"
fi

# --- import ---------------------------------------------------------------------------------------
t=$SECONDS
import_rootfs "$tarball" "$IMAGE" "$LABEL" "$key" "consolidation.xen molecule base ($SUITE, key $key)"
say "imported $IMAGE (key $key) in $((SECONDS - t)) s; total $((SECONDS - start)) s"
