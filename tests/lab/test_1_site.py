"""site.yml on the lab: what an operator checks after building the cluster, on the live machines."""

from __future__ import annotations

import json
import re

import pytest
from conftest import GUESTS, HVM, _log, _timed, playbook, recap

QUOTA_MB = 16


def test_site_yml_booted_every_blade_into_xen_through_grub(lab):
    for blade in lab.blades:
        info = lab.ssh(blade, "xl info").stdout
        assert re.search(r"^xen_version\s+:\s+4\.17", info, re.M), info
        caps = lab.ssh(blade, "cat /proc/xen/capabilities").stdout
        assert "control_d" in caps
        # Booted by GRUB (not QEMU's -kernel): GRUB's Xen entry passes the role's command line.
        cmdline = re.search(r"^xen_commandline\s+:\s+(.*)$", info, re.M).group(1)
        assert "dom0_mem=1024M,max:1024M" in cmdline and "spec-ctrl=eager-fpu" in cmdline, cmdline
        assert "placeholder" in cmdline, "not booted through GRUB's multiboot2 entry: " + cmdline
        # The Xen packages come installed in the lab image (lab/packages-preinstalled.txt), GRUB's default
        # entry plain Linux: the role wrote Xen's boot settings, regenerated grub.cfg and rebooted into
        # it. The role's install itself (its no-op update-grub for the postinsts) is molecule/dom0's.
        # The image store is mounted from the filer.
        mount = lab.ssh(blade, "findmnt -n -o SOURCE,FSTYPE /srv/xen/images").stdout.split()
        assert mount == ["10.77.0.2:/srv/nfs/xen_images", "nfs4"], mount


def test_the_hvm_guests_boot_one_per_blade(lab, tmp_path):
    """The origin's rule for its Windows servers: HVM guests spread (xen_host_max_hvm 1 in inventories/lab). Each
    runs as HVM, with QEMU's device model beside it, and answers; the time from xl create to its first answer
    (and to its kernel's start: the firmware phase before it) goes to the timings."""
    plan = lab.plan(tmp_path)
    homes = {g: plan[g] for g in HVM}
    assert len(set(homes.values())) == len(HVM), "HVM guests share a blade: %s" % homes
    for guest, blade in sorted(homes.items(), key=lambda kv: kv[1]):
        config = json.loads(lab.ssh(blade, "xl list -l %s" % guest).stdout)[0]["config"]
        assert config["c_info"]["type"] == "hvm", config["c_info"]
        domid = lab.ssh(blade, "xl domid %s" % guest).stdout.strip()
        lab.ssh(blade, "pgrep -f 'qemu-system-i386 -xen-domid %s '" % domid)  # its device model
        # Bounded wait (an HVM boot under emulation takes ~2 min), pinged from its own blade every second.
        waited = lab.ssh(blade, "for i in $(seq 1 300); do ping -c1 -W1 %s >/dev/null && xl uptime %s && exit 0; "
                         "sleep 1; done; exit 1" % (GUESTS[guest], guest), timeout=420, check=False)
        assert waited.returncode == 0, "%s (HVM) does not answer ping on %s: %s" % (guest, blade, waited)
        up = _seconds(waited.stdout.split()[-1])
        kernel_up = float(lab.guest(GUESTS[guest], "cat /proc/uptime", via=blade).split()[0])
        now = _seconds(lab.ssh(blade, "xl uptime %s" % guest).stdout.split()[-1])
        _log("  %s (HVM) on %s: answered ping %d s after xl create; firmware phase (hvmloader, SeaBIOS, kernel and "
             "initramfs loaded through fw_cfg) ~%d s" % (guest, blade, up, now - kernel_up))
        assert lab.guest(GUESTS[guest], "hostname", via=blade).strip() == guest


def _seconds(uptime):
    """xl uptime's last column (``1:02:03``, ``2:03`` or seconds) in seconds."""
    total = 0
    for part in uptime.split(":"):
        total = total * 60 + int(float(part))
    return total


def test_every_guest_runs_exactly_once_on_its_planned_host(lab, tmp_path):
    plan = lab.plan(tmp_path)
    assert sorted(plan) == sorted(GUESTS)
    # The origin's shape: every blade carries guests (spread), each could take a failed one's share.
    assert sorted(set(plan.values())) == sorted(lab.blades), plan
    running = {blade: lab.xl_list(blade) for blade in lab.blades}
    for guest, host in plan.items():
        where = [blade for blade, names in running.items() if guest in names]
        assert where == [host], "%s runs on %s, planned on %s" % (guest, where, host)
    # Autostart links: only on the planned host.
    for blade in lab.blades:
        links = lab.ssh(blade, "ls /etc/xen/auto").stdout.split()
        assert sorted(links) == sorted("%s.cfg" % g for g, h in plan.items() if h == blade)


def test_verify_yml_finds_the_built_cluster_safe_and_on_its_plan(lab, tmp_path):
    plan = lab.plan(tmp_path)
    result = _timed("verify.yml (the cluster site.yml built)", lambda: playbook("verify.yml"))
    out = result.stdout
    assert result.returncode == 0, out[-4000:] + result.stderr[-2000:]
    assert "verdict: SAFE" in out and "drift" not in out.split("TASK [Verify | The report]")[1], out[-4000:]
    assert "live N-1 proof: PASSED (survives 1 host failure(s))" in out, out[-4000:]
    # One row per guest: wanted running, running on its planned blade, linked there, ok.
    for guest, host in plan.items():
        row = r"^ +%s +running +%s +%s +%s +ok$" % (guest, host, host, host)
        assert re.search(row, out, re.M), (guest, out[-4000:])
    for blade in lab.blades:
        assert re.search(r"^ +%s +yes +\d+/\d+ .* ok$" % blade, out, re.M), (blade, out[-4000:])
    # Read-only: nothing changed on any host.
    assert all(changed == 0 for _, changed, _, _ in recap(out).values()), out[-2000:]


def test_every_guest_answers_on_the_network(lab):
    for guest, ip in GUESTS.items():
        # Bounded wait: a guest answers a few seconds after xl create under emulation.
        out = lab.ssh("blade2", "for i in $(seq 1 30); do ping -c1 -W2 %s >/dev/null && echo up && break; "
                      "sleep 2; done" % ip).stdout
        assert "up" in out, "%s (%s) does not answer ping from blade2" % (guest, ip)
        assert lab.guest(ip, "hostname").strip() == guest


# A second site.yml that changes nothing on any host: test_4_failover.py runs it (with one guest set to
# stopped, the run after the one that shut it down), so the lab pays for one such run, not two.


def _guest_export(lab, guest_ip):
    """The export path whose only client is guest_ip, read from the filer's exports file."""
    exports = lab.ssh("filer", "cat /etc/exports.d/*.exports").stdout
    paths = [line.split()[0] for line in exports.splitlines()
             if line.strip() and not line.startswith("#")
             and re.search(r"\s%s(/32)?\(" % re.escape(guest_ip), line)]
    assert len(paths) == 1, "expected one export for %s:\n%s" % (guest_ip, exports)
    clients = re.findall(r"\s(\S+)\(", [line for line in exports.splitlines() if line.startswith(paths[0] + " ")][0])
    assert clients == [guest_ip + "/32"], "export %s has clients %s" % (paths[0], clients)
    return paths[0]


def _project_row(lab, path):
    """The data area's project id (the role's /etc/projects) and its row of the project quota report (KiB)."""
    projid = lab.ssh("filer", "sed -n 's#^\\([0-9]*\\):%s$#\\1#p' /etc/projects" % path).stdout.strip()
    row = lab.ssh("filer", "xfs_quota -f -x -c 'report -p -n -N' /srv/nfs | grep '^#%s '" % projid).stdout.split()
    return projid, row


def test_a_guest_writing_past_its_quota_is_refused(lab):
    path = _guest_export(lab, GUESTS["g1"])
    out = lab.guest(GUESTS["g1"], (
        f"mkdir -p /mnt/data && nfsmount {lab.filer_ip}:{path} /mnt/data && echo MOUNTED; "
        f"dd if=/dev/zero of=/mnt/data/fill bs=1M count={QUOTA_MB * 3} conv=fsync; echo DD_RC=$?; "
        "ls -l /mnt/data/fill; umount /mnt/data"))
    _log("g1 quota test output: " + " | ".join(out.strip().splitlines()[-4:]))
    assert "MOUNTED" in out, out
    # EDQUOT (the lab filer's ext4 project quota; XFS would answer ENOSPC).
    assert "Disk quota exceeded" in out, out
    assert "DD_RC=0" not in out, out
    # What the filer allocated (the apparent size may run past it: failed writes leave holes).
    blocks, unit = lab.ssh("filer", "stat -c '%%b %%B' %s/fill" % path).stdout.split()
    assert int(blocks) * int(unit) <= QUOTA_MB * 1024 * 1024, (blocks, unit)
    row = _project_row(lab, path)[1]
    assert row[3] == str(QUOTA_MB * 1024) and QUOTA_MB * 1024 - 256 <= int(row[1]) <= int(row[3]), row  # KiB


def test_a_deleted_file_comes_back_with_restore_yml(lab):
    """The filer's backup (its own disk, a systemd timer), a file the guest deletes, restore.yml: the file is back
    for the guest, in the guest's project (the quota counts it), and the exports are untouched."""
    path = _guest_export(lab, GUESTS["g1"])
    mount = f"mkdir -p /mnt/data && nfsmount {lab.filer_ip}:{path} /mnt/data && echo MOUNTED; "
    # The quota test filled the area: make room, then the file the guest will lose.
    out = lab.guest(GUESTS["g1"], mount + "rm -f /mnt/data/fill; head -c 65536 /dev/urandom > /mnt/data/keep.bin; "
                    "sync; md5sum /mnt/data/keep.bin; umount /mnt/data")
    assert "MOUNTED" in out, out
    digest = re.search(r"^([0-9a-f]{32})\s", out, re.M).group(1)
    projid, row = _project_row(lab, path)
    used = int(row[1])
    units = lab.ssh("filer", "systemctl is-enabled consolidation-xen-backup.timer; "
                    "systemctl is-active consolidation-xen-backup.timer; findmnt -n -o SOURCE,FSTYPE /srv/backup; "
                    "findmnt -n -o SOURCE /srv/nfs").stdout.split()
    assert units == ["enabled", "active", "/dev/vdc", "ext4", "/dev/vdb"], units
    # A backup now, as its timer starts it (a oneshot service: systemctl returns when it is done).
    lab.ssh("filer", "systemctl start consolidation-xen-backup.service")
    latest = lab.ssh("filer", "readlink /srv/backup/latest").stdout.strip()
    assert re.match(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{6}Z$", latest), latest

    out = lab.guest(GUESTS["g1"], mount + "rm /mnt/data/keep.bin; ls /mnt/data; umount /mnt/data")
    assert "MOUNTED" in out and "keep.bin" not in out.split("MOUNTED", 1)[1], out
    exports = lab.ssh("filer", "cat /etc/exports.d/*.exports; exportfs -s").stdout

    result = _timed("restore.yml -e guest=g1 (a deleted file)", lambda: playbook("restore.yml", "-e", "guest=g1"))
    said = " ".join(result.stdout.split())
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert ("g1: restored 1 file(s), 0 directory(ies) from backup %s into %s (mode overwrite, project id %s); "
            "restored: keep.bin" % (latest, path, projid)) in said, said[-3000:]

    out = lab.guest(GUESTS["g1"], mount + "md5sum /mnt/data/keep.bin; umount /mnt/data")
    assert digest in out, out
    # In the guest's project, so its quota counts the file again; the exports are as they were.
    attr = lab.ssh("filer", "lsattr -p %s/keep.bin" % path).stdout.split()
    assert attr[0] == projid, attr
    assert int(_project_row(lab, path)[1][1]) == used
    assert lab.ssh("filer", "cat /etc/exports.d/*.exports; exportfs -s").stdout == exports
    _log("restore: keep.bin back from backup %s, project %s, %d KiB counted" % (latest, projid, used))


def test_a_guest_cannot_mount_another_guests_export(lab):
    other = _guest_export(lab, GUESTS["g2"])
    out = lab.guest(GUESTS["g1"], f"mkdir -p /mnt/other && nfsmount {lab.filer_ip}:{other} /mnt/other; "
                    "echo MOUNT_RC=$?; grep -c /mnt/other /proc/mounts")
    assert "MOUNT_RC=0" not in out, "g1 mounted g2's export:\n" + out
    assert out.strip().splitlines()[-1] == "0", out


@pytest.mark.parametrize("guest", ["g1", "g3"])
def test_a_dom0_address_cannot_mount_a_guests_export(lab, guest):
    path = _guest_export(lab, GUESTS[guest])
    result = lab.ssh("blade1", "mkdir -p /mnt/probe && timeout 60 mount -t nfs4 -o vers=4.2,soft,retrans=1 "
                     "%s:%s /mnt/probe" % (lab.filer_ip, path), check=False)
    lab.ssh("blade1", "mountpoint -q /mnt/probe && umount /mnt/probe || true", check=False)
    assert result.returncode != 0, "blade1 (10.77.0.11) mounted %s's export %s" % (guest, path)
    # NFSv4: the server hides exports a client may not mount ("No such file or directory") or
    # refuses them ("access denied").
    assert re.search(r"denied|no such file", (result.stderr + result.stdout).lower()), result.stderr
