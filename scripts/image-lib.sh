# shellcheck shell=bash
# Sourced by scripts/build-base-image.sh and scripts/build-sles-image.sh: what both do to make a
# container image from a root filesystem built in a chroot, cached by a content key. Part of the base
# image's key (base_image_key), so a change here rebuilds both images.

# base_image_key ROOT: the base image's key (its script, this library and the podman settings).
base_image_key() {
    cat "$1/scripts/build-base-image.sh" "$1/scripts/image-lib.sh" "$1/scripts/containers.conf" \
        | sha256sum | cut -c1-16
}

# image_has_key IMAGE LABEL KEY: the image exists and its LABEL is KEY.
image_has_key() {
    [ "$(podman image inspect --format "{{ index .Labels \"$2\" }}" "$1" 2>/dev/null || true)" = "$3" ]
}

# chroot_prepare ROOTFS: what a chroot needs for apt and maintainer scripts: /proc, /dev, /dev/pts,
# /sys, the host's resolv.conf, and a policy-rc.d that lets no service start.
chroot_prepare() {
    printf '#!/bin/sh\nexit 101\n' > "$1/usr/sbin/policy-rc.d"
    chmod 755 "$1/usr/sbin/policy-rc.d"
    mount -t proc proc "$1/proc"
    mount --bind /dev "$1/dev"
    mount --bind /dev/pts "$1/dev/pts"
    mount -t sysfs sysfs "$1/sys"
    cp /etc/resolv.conf "$1/etc/resolv.conf"
}

# chroot_release ROOTFS: undo chroot_prepare (every mount that is there; safe to run twice).
chroot_release() {
    local m
    for m in dev/pts dev proc sys; do
        if mountpoint -q "$1/$m" 2>/dev/null; then umount -l "$1/$m"; fi
    done
    rm -f "$1/usr/sbin/policy-rc.d" "$1/etc/resolv.conf"
}

# save_rootfs ROOTFS TARBALL: the tarball of ROOTFS (numeric owners, xattrs, ACLs), written whole or
# not at all; older tarballs beside it (other keys) are deleted. Prints its size.
save_rootfs() {
    tar --numeric-owner --xattrs --acls -C "$1" -cf "$2.part" .
    mv "$2.part" "$2"
    find "$(dirname "$2")" -maxdepth 1 -name 'rootfs-*.tar' ! -name "$(basename "$2")" -delete
    du -h "$2" | cut -f1
}

# import_rootfs TARBALL IMAGE LABEL KEY MESSAGE: `podman import` as a systemd image (/sbin/init as PID
# 1), labelled LABEL=KEY; untagged images left by earlier keys are pruned.
import_rootfs() {
    podman import --quiet \
        --change 'CMD ["/sbin/init"]' \
        --change 'ENV container=podman' \
        --change 'STOPSIGNAL SIGRTMIN+3' \
        --change "LABEL $3=$4" \
        --message "$5" \
        "$1" "$2" >/dev/null
    podman image prune -f >/dev/null 2>&1 || true
}
