#!/usr/bin/env bash
# Build the SLES-shaped systemd image molecule/dom0_sles runs: no SLES image or repository can be
# reached from here, so the image is the molecule base image's Debian 12 userland made to look and
# behave like SLES 15 SP5 to Ansible and to the dom0 and image_store roles:
#
#   - it identifies as SLES 15 SP5 (os-release, /etc/products.d/baseproduct; no /etc/debian_version);
#   - real zypper (libzypp 17.25) and rpm (4.18, database in /usr/lib/sysimage/rpm as on SLES 15 SP5),
#     with a local rpm-md repository built here with rpmbuild and createrepo_c from the stand-in
#     packages in molecule/dom0_sles/image (SUSE's package names and file paths; see its README);
#   - libsolv's repo2solv and rpmdb2solv built as SUSE builds them (cmake -DSUSE=1): SLES 15 defines a
#     pattern by a package providing "pattern() = NAME", and only such a build turns those packages
#     into patterns (libzypp runs both tools with -X); Debian's build makes none, and
#     `zypper install -t pattern xen_server` finds nothing;
#   - what a SLES 15 install has: the basesystem pattern, grub2 (/boot/grub2/grub.cfg and grubenv
#     made as the installer makes them), perl-Bootloader, openssh under sshd.service;
#   - the files of the packages the roles install are absent until zypper installs them;
#   - no apt or dpkg programs (a SLES host has neither: a role that reached for them would fail).
#
#   key    = sha256 of this script, molecule/dom0_sles/image/ and the base image's key
#   image  = localhost/consolidation-xen-sles:15-sp5, labelled consolidation.xen.sles-key=<key>
#   cache  = .cache/sles-image/rootfs-<key>.tar (gitignored)
#
# Needs the base image's root filesystem (.cache/base-image/rootfs-<base key>.tar, left by
# scripts/build-base-image.sh; exported from the base image when only the image is there). Needs
# root (chroot). FORCE=1 rebuilds.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
IMAGE=${MOLECULE_SLES_IMAGE:-localhost/consolidation-xen-sles:15-sp5}
SRC=$ROOT/molecule/dom0_sles/image
CACHE=$ROOT/.cache/sles-image
LABEL=consolidation.xen.sles-key
# Installed with apt-get in the chroot, before apt and dpkg go: the package tools, the real GRUB tool
# the grub2 stand-in carries (grub-editenv), and the programs the openssh, bridge-utils and nfs-client
# stand-ins carry.
CHROOT_PACKAGES=(zypper libzypp-config rpm createrepo-c grub-common bridge-utils nfs-common)
# Only to build libsolv's tools from Debian's libsolv source (the version libzypp links); purged after.
BUILD_PACKAGES=(gcc g++ make cmake dpkg-dev librpm-dev libexpat1-dev zlib1g-dev liblzma-dev libzstd-dev libbz2-dev)
# What a SLES 15 install has before the roles run (installed with zypper from the local repository).
PREINSTALLED=(sles-release glibc bash kernel-default patterns-base-basesystem grub2 perl-Bootloader
              openssh-server openssh-clients)
REPO_DIR=/srv/repo/SLE-15-SP5-standin

say() { printf '[sles-image] %s\n' "$*"; }
die() { printf '[sles-image] ERROR: %s\n' "$*" >&2; exit 1; }
start=$SECONDS
[ "$(id -u)" = 0 ] || die "needs root (chroot)"
# shellcheck source=scripts/podman-env.sh
. "$ROOT/scripts/podman-env.sh"
# shellcheck source=scripts/image-lib.sh
. "$ROOT/scripts/image-lib.sh"

base_key=$(base_image_key "$ROOT")
base_tar=$ROOT/.cache/base-image/rootfs-$base_key.tar
# (paths relative to $SRC: the same content gives the same key in any checkout)
key=$( { cat "$ROOT/scripts/build-sles-image.sh"; echo "$base_key";
         cd "$SRC" && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum; } | sha256sum | cut -c1-16)
tarball=$CACHE/rootfs-$key.tar

if [ "${FORCE:-0}" != 1 ] && image_has_key "$IMAGE" "$LABEL" "$key"; then
    say "$IMAGE is up to date (key $key); nothing to do ($((SECONDS - start)) s)"
    exit 0
fi

if [ "${FORCE:-0}" = 1 ] || [ ! -s "$tarball" ]; then
    mkdir -p "$CACHE"
    if [ ! -s "$base_tar" ]; then
        base_image=${MOLECULE_BASE_IMAGE:-localhost/consolidation-xen-base:bookworm}
        image_has_key "$base_image" consolidation.xen.base-key "$base_key" || "$ROOT/scripts/build-base-image.sh"
        if [ ! -s "$base_tar" ]; then
            say "exporting the base image's root filesystem"
            mkdir -p "$(dirname "$base_tar")"
            cid=$(podman create "$base_image")
            podman export "$cid" > "$base_tar.part"
            podman rm "$cid" >/dev/null
            mv "$base_tar.part" "$base_tar"
        fi
    fi
    rootfs=$(mktemp -d "$CACHE/rootfs.XXXXXX")
    cleanup() { chroot_release "$rootfs"; rm -rf "$rootfs"; }
    trap cleanup EXIT
    tar --numeric-owner -C "$rootfs" -xf "$base_tar"
    chroot_prepare "$rootfs"
    in_root() { chroot "$rootfs" /usr/bin/env LC_ALL=C.UTF-8 DEBIAN_FRONTEND=noninteractive "$@"; }

    t=$SECONDS
    in_root sh -euc "apt-get update -q && apt-get install -y -q --no-install-recommends ${CHROOT_PACKAGES[*]} && apt-get clean" \
        > "$CACHE/apt.log" 2>&1 || { tail -20 "$CACHE/apt.log" >&2; die "apt-get in the chroot failed (log: $CACHE/apt.log)"; }
    say "apt-get: ${CHROOT_PACKAGES[*]} ($((SECONDS - t)) s)"

    # libsolv's tools with SUSE's autopatterns, from the source of the libsolv libzypp links (Debian's
    # build flags, SUSE=1 for DEBIAN=1; static, so no second libsolv library in the image).
    t=$SECONDS
    sed -n 's/^deb /deb-src /p' "$rootfs/etc/apt/sources.list" > "$rootfs/etc/apt/sources.list.d/sources.list"
    in_root sh -euc "
        apt-get update -q
        apt-get install -y -q --no-install-recommends ${BUILD_PACKAGES[*]}
        mkdir -p /tmp/libsolv && cd /tmp/libsolv
        apt-get source -q libsolv=\$(dpkg-query -W -f='\${Version}' libsolv1)
        mkdir build && cd build
        cmake ../libsolv-*/ -DCMAKE_BUILD_TYPE=Release -DSUSE=1 -DMULTI_SEMANTICS=1 -DENABLE_PUBKEY=1 \
            -DENABLE_SUSEREPO=1 -DENABLE_RPMMD=1 -DENABLE_RPMDB=1 -DENABLE_RPMDB_BYRPMHEADER=1 \
            -DENABLE_LZMA_COMPRESSION=1 -DENABLE_BZIP2_COMPRESSION=1 -DENABLE_ZSTD_COMPRESSION=1 \
            -DENABLE_COMPLEX_DEPS=1 -DDISABLE_SHARED=1 -DENABLE_STATIC_TOOLS=1
        make -j\$(nproc) repo2solv rpmdb2solv
        install -m 0755 tools/repo2solv tools/rpmdb2solv /usr/bin/
        cd / && rm -rf /tmp/libsolv /etc/apt/sources.list.d/sources.list
        apt-get purge -y -q --autoremove ${BUILD_PACKAGES[*]}
        apt-get clean
    " > "$CACHE/libsolv.log" 2>&1 || { tail -20 "$CACHE/libsolv.log" >&2; die "building libsolv's tools failed (log: $CACHE/libsolv.log)"; }
    say "libsolv's repo2solv and rpmdb2solv built with SUSE's autopatterns ($((SECONDS - t)) s)"

    # The rpm database where SLES 15 SP5 keeps it (Debian's rpm defaults to ~/.rpmdb).
    mkdir -p "$rootfs/usr/lib/sysimage/rpm" "$rootfs/etc/rpm"
    echo '%_dbpath /usr/lib/sysimage/rpm' > "$rootfs/etc/rpm/macros"
    rm -rf "$rootfs/var/lib/rpm"
    ln -s ../../usr/lib/sysimage/rpm "$rootfs/var/lib/rpm"

    t=$SECONDS
    rm -rf "$rootfs/tmp/standin"
    cp -a "$SRC" "$rootfs/tmp/standin"
    in_root sh -euc '
        rpm --initdb
        cd /tmp/standin
        for spec in specs/*.spec; do
            rpmbuild -bb --quiet --define "_topdir /tmp/standin/build" --define "_sourcedir /tmp/standin/files" \
                --define "debug_package %{nil}" --define "__os_install_post %{nil}" \
                --define "_build_id_links none" --define "_buildhost sles-image" "$spec"
        done
        mkdir -p '"$REPO_DIR"'
        cp build/RPMS/*/*.rpm '"$REPO_DIR"'/
        createrepo_c --quiet '"$REPO_DIR"'
    ' > "$CACHE/rpmbuild.log" 2>&1 || { tail -20 "$CACHE/rpmbuild.log" >&2; die "rpmbuild/createrepo_c failed (log: $CACHE/rpmbuild.log)"; }
    say "$(find "$rootfs$REPO_DIR" -name '*.rpm' | wc -l) stand-in rpms in $REPO_DIR ($((SECONDS - t)) s)"

    cat > "$rootfs/etc/zypp/repos.d/SLE-15-SP5-standin.repo" <<EOF
[SLE-15-SP5-standin]
name=SLE 15 SP5 stand-in packages (consolidation.xen, built by scripts/build-sles-image.sh)
enabled=1
autorefresh=1
baseurl=dir:$REPO_DIR
type=rpm-md
# Built here and unsigned (SUSE's repositories are signed and checked).
gpgcheck=0
EOF

    # The Debian identity goes before zypper installs SLES's. Debian's ssh units, its sysv script (which
    # systemd would run as ssh.service) and the base image's first-boot key service give way to
    # SUSE's sshd.service, which makes missing host keys itself.
    rm -f "$rootfs/etc/debian_version" "$rootfs/etc/os-release" "$rootfs/usr/lib/os-release" \
        "$rootfs/etc/systemd/system/sshd.service" "$rootfs/etc/systemd/system/multi-user.target.wants/ssh.service" \
        "$rootfs/etc/systemd/system/sockets.target.wants/ssh.socket" \
        "$rootfs"/usr/lib/systemd/system/ssh.service "$rootfs"/usr/lib/systemd/system/ssh@.service \
        "$rootfs"/usr/lib/systemd/system/ssh.socket "$rootfs"/etc/init.d/ssh "$rootfs"/etc/rc?.d/[SK][0-9][0-9]ssh \
        "$rootfs/etc/systemd/system/ssh-host-keys.service" \
        "$rootfs/etc/systemd/system/multi-user.target.wants/ssh-host-keys.service"
    t=$SECONDS
    in_root sh -euc "
        zypper --non-interactive --quiet refresh
        zypper --non-interactive --quiet install --no-recommends ${PREINSTALLED[*]}
        # What SLES's installer leaves: an environment block and a generated menu.
        grub2-editenv create
        grub2-mkconfig -o /boot/grub2/grub.cfg
        rm -f /var/log/grub2-mkconfig.calls
        systemctl enable sshd.service
    " > "$CACHE/zypper.log" 2>&1 || { tail -20 "$CACHE/zypper.log" >&2; die "zypper in the chroot failed (log: $CACHE/zypper.log)"; }
    say "zypper: preinstalled ${PREINSTALLED[*]} ($((SECONDS - t)) s)"

    # Every other stand-in's files are absent until the roles install the package (Debian's copies of
    # brctl and mount.nfs included).
    for rpmfile in "$rootfs$REPO_DIR"/*.rpm; do
        name=$(in_root rpm -qp --qf '%{NAME}' "${rpmfile#"$rootfs"}")
        case " ${PREINSTALLED[*]} " in *" $name "*) continue ;; esac
        in_root rpm -qlp "${rpmfile#"$rootfs"}" | while read -r path; do
            if [ -L "$rootfs$path" ] || [ -f "$rootfs$path" ]; then rm -f "$rootfs$path"; fi
        done
    done

    # No apt or dpkg programs, no build leftovers.
    chroot_release "$rootfs"
    rm -rf "$rootfs/tmp/standin" "$rootfs"/var/cache/apt/* "$rootfs"/var/lib/apt/lists/*
    rm -f "$rootfs"/usr/bin/apt "$rootfs"/usr/bin/apt-* "$rootfs"/usr/bin/dpkg "$rootfs"/usr/bin/dpkg-* \
        "$rootfs"/usr/sbin/dpkg-*
    # Debian's configuration directories that SLES has not (grub-common's grub.d, ifupdown hooks), so
    # that molecule/dom0_sles's check that no Debian path was written finds none by chance.
    rm -rf "$rootfs/etc/default/grub.d" "$rootfs/etc/network"
    t=$SECONDS
    size=$(save_rootfs "$rootfs" "$tarball")
    say "rootfs tarball: $tarball ($size, $((SECONDS - t)) s)"
    trap - EXIT
    cleanup
else
    say "using the cached root filesystem $tarball"
fi

t=$SECONDS
import_rootfs "$tarball" "$IMAGE" "$LABEL" "$key" "consolidation.xen molecule SLES 15 SP5 stand-in (key $key)"
say "imported $IMAGE (key $key) in $((SECONDS - t)) s; total $((SECONDS - start)) s"
