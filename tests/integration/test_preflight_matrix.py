"""The preflight matrix: bad inventories and bad -e values, through every playbook, touch no host.

Every case runs the real ansible-playbook (site.yml, plan.yml, evacuate.yml, failover.yml,
rebalance.yml from the repo root) on a three-blade inventory whose every managed host sits on
127.0.0.1 at a closed port, with ANSIBLE_SSH_EXECUTABLE pointing at a wrapper that records each
invocation before it runs the real ssh. Each case asserts: the run fails, the output names the
variable or option (and the guest or host), and the wrapper was never called. --limit, --tags,
--skip-tags and --start-at-task are in the matrix: none of them gets a run past the preflight.
Two positive controls prove the harness can see a connection and a clean plan.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
import yaml
from test_plan_playbook import PLAYBOOK, ROOT

pytestmark = pytest.mark.skipif(PLAYBOOK is None, reason="ansible-playbook not installed")

PWNED = "/tmp/consolidation-xen-matrix-pwned"


def base():
    hosts = {"blade%d" % i: {"xen_host_memory": "4G", "xen_host_cpus": 2, "xen_host_dom0_memory": "1G",
                             "xen_host_storage_address": "10.77.0.1%d" % i} for i in (1, 2, 3)}
    guests = {"g%d" % i: {"xen_guest_memory": "256M", "xen_guest_address": "10.77.0.10%d" % i} for i in (1, 2, 3, 4)}
    guests["g1"]["xen_guest_data"] = True
    guests["g2"]["xen_guest_data"] = True
    return {"all": {
        "vars": {"ansible_host": "127.0.0.1", "ansible_port": 1, "ansible_user": "root"},
        "children": {
            "xen_hosts": {"hosts": hosts},
            "xen_guests": {"hosts": guests, "vars": {"xen_guest_type": "pvh", "xen_guest_kernel": "/var/lib/xenlab/vmlinuz",
                                                     "xen_guest_ramdisk": "/var/lib/xenlab/initrd.img"}},
            "filers": {"hosts": {"filer": {"filer_backend": "linux"}}},
        }}}


def guest(inv, name, **variables):
    inv["all"]["children"]["xen_guests"]["hosts"].setdefault(name, {}).update(variables)
    return inv


def host(inv, name, **variables):
    inv["all"]["children"]["xen_hosts"]["hosts"][name].update(variables)
    return inv


def no_paging(inv):
    """Every dom0 without HAP and with a Xen built without shadow paging: no PVH guest can run anywhere."""
    for name in ("blade1", "blade2", "blade3"):
        host(inv, name, xen_host_hap=False, xen_host_shadow_paging=False)
    return inv


def filer(inv, **variables):
    inv["all"]["children"]["filers"]["hosts"]["filer"].update(variables)
    return inv


BACKUP = {"dest": "/srv/backup"}


def rename(inv, old, new):
    hosts = inv["all"]["children"]["xen_guests"]["hosts"]
    hosts[new] = hosts.pop(old)
    return inv


def too_big(inv):
    for name in ("g1", "g2", "g3"):  # one per blade fits, a failed blade's guest fits nowhere else
        guest(inv, name, xen_guest_memory="1800M")
    return inv


def chassis_too_small_outside(inv):
    """blade1 and blade2 share a chassis; its four high-priority guests (4 GiB) cannot all restart on blade3."""
    host(inv, "blade1", xen_host_failure_domain="chassis1")
    host(inv, "blade2", xen_host_failure_domain="chassis1")
    for name in ("g1", "g2", "g3", "g4"):
        guest(inv, name, xen_guest_memory="1G", xen_guest_priority="high")
    return inv


def also_guest(inv):
    guest(inv, "blade3", xen_guest_memory="256M")
    return inv


def same(inv, var, value, *names):
    for name in names:
        guest(inv, name, **{var: value})
    return inv


DOM0_TASK = "Install Xen and the dom0 tools"  # roles/dom0/tasks/install_apt.yml

# (id, playbook, extra arguments, inventory change, words the output must contain)
CASES = [
    # ---- a failing N-1 proof, whatever --limit / --tags / --skip-tags / --start-at-task say
    ("site-limit-failing-proof", "site.yml", ["--limit", "blade1"], too_big, ["N-1 proof: FAILED", "g1"]),
    ("site-tags-failing-proof", "site.yml", ["--tags", "dom0_configure"], too_big, ["N-1 proof: FAILED"]),
    ("site-skip-always-failing-proof", "site.yml", ["--skip-tags", "always"], too_big, ["N-1 proof: FAILED"]),
    ("site-start-at-failing-proof", "site.yml", ["--start-at-task", DOM0_TASK], too_big, ["N-1 proof: FAILED"]),
    ("plan-failing-proof", "plan.yml", [], too_big, ["N-1 proof: FAILED", "stranded"]),
    # ---- run options of the live playbooks
    ("rebalance-limit-max-moves-negative", "rebalance.yml", ["--limit", "blade1", "-e", "max_moves=-1"], None,
     ["max_moves: must be >= 1", "takes no --limit blade1"]),
    ("rebalance-max-moves-float", "rebalance.yml", ["-e", "max_moves=1.5"], None, ["max_moves: expected a whole number"]),
    ("rebalance-max-moves-word", "rebalance.yml", ["-e", "max_moves=abc"], None, ["max_moves: expected a whole number"]),
    ("rebalance-tags", "rebalance.yml", ["--tags", "x"], None, ["takes no --tags x"]),
    ("failover-limit-unknown-host", "failover.yml", ["--limit", "blade2", "-e", "host=blade9"], None,
     ["host: 'blade9' is not a host of group xen_hosts", "takes no --limit blade2"]),
    ("failover-guest-as-host", "failover.yml", ["-e", "host=g1"], None, ["host: 'g1' is not a host"]),
    ("failover-start-at-task", "failover.yml", ["-e", "host=blade2", "--start-at-task", "Failover | Start the guests planned here"],
     None, ["takes no --start-at-task"]),
    ("evacuate-no-host", "evacuate.yml", [], None, ["host: required: -e host=<one of blade1, blade2, blade3>"]),
    ("evacuate-parallel-zero", "evacuate.yml", ["-e", "host=blade2", "-e", "parallel=0"], None, ["parallel: must be >= 1"]),
    ("evacuate-limit", "evacuate.yml", ["-e", "host=blade2", "--limit", "blade2"], None, ["takes no --limit blade2"]),
    ("evacuate-skip-tags", "evacuate.yml", ["-e", "host=blade2", "--skip-tags", "always"], None, ["takes no --skip-tags"]),
    # ---- cluster-wide options
    ("tolerate-abc-site", "site.yml", ["-e", "xen_tolerate=abc"], None, ["xen_tolerate: expected a whole number"]),
    ("tolerate-one-plan", "plan.yml", ["-e", "xen_tolerate=one"], None, ["xen_tolerate: expected a whole number"]),
    ("tolerate-float-site", "site.yml", ["-e", "xen_tolerate=1.5", "--limit", "blade1"], None, ["xen_tolerate"]),
    ("tolerate-negative-plan", "plan.yml", ["-e", "xen_tolerate=-1"], None, ["xen_tolerate: must be >= 0"]),
    ("overhead-maybe", "site.yml", ["-e", "xen_overhead=maybe"], None, ["xen_overhead: expected true or false"]),
    ("max-scenarios-negative", "site.yml", ["-e", "xen_max_scenarios=-1"], None, ["xen_max_scenarios: must be >= 1"]),
    ("max-scenarios-zero", "plan.yml", ["-e", "xen_max_scenarios=0"], None, ["xen_max_scenarios: must be >= 1"]),
    ("strategy-random", "site.yml", ["-e", "xen_placement_strategy=random"], None, ["xen_placement_strategy"]),
    ("degraded-perhaps", "site.yml", ["-e", "xen_allow_degraded=perhaps"], None, ["xen_allow_degraded"]),
    # ---- guests the xl renderer refuses
    ("hvm-maxmem", "site.yml", ["--limit", "blade1"],
     lambda i: guest(i, "g1", xen_guest_type="hvm", xen_guest_maxmem="512M", xen_guest_kernel=None, xen_guest_ramdisk=None),
     ["guest g1: xen_guest_maxmem: HVM guests need memory == maxmem"]),
    ("maxmem-below-memory", "site.yml", [], lambda i: guest(i, "g2", xen_guest_maxmem="128M"),
     ["guest g2: xen_guest_maxmem"]),
    ("mac-collision", "site.yml", [], lambda i: same(i, "xen_guest_mac", "00:16:3e:80:00:01", "g1", "g2"),
     ["xen_guest_mac", "00:16:3e:80:00:01"]),
    ("uuid-collision", "site.yml", [],
     lambda i: same(i, "xen_guest_uuid", "6f0c0d5e-7a34-4a55-9d1a-8e4c8a3d1b2c", "g1", "g2"), ["xen_guest_uuid"]),
    ("name-command", "site.yml", [], lambda i: rename(i, "g4", "$(reboot)"), ["guest '$(reboot)': name"]),
    ("name-space", "site.yml", [], lambda i: rename(i, "g4", "a b"), ["guest 'a b': name"]),
    ("name-dotdot", "site.yml", [], lambda i: rename(i, "g4", "../etc"), ["guest '../etc': name"]),
    ("name-300", "site.yml", [], lambda i: rename(i, "g4", "x" * 300), ["guest 'xxxxxxxx", "name:"]),
    ("name-newline-exports", "site.yml", ["--limit", "filer"], lambda i: rename(i, "g1", "g1\n/ *(rw)"),
     ["guest 'g1\\n/ *(rw)': name"]),
    ("disk-relative", "site.yml", [], lambda i: guest(i, "g1", xen_guest_disks=[{"name": "root", "path": "images/g1.img"}]),
     ["guest g1: xen_guest_disks[0].path: must be an absolute path"]),
    ("disk-dotdot", "site.yml", [],
     lambda i: guest(i, "g1", xen_guest_disks=[{"name": "root", "path": "/srv/xen/images/../g1.img"}]),
     ["guest g1: xen_guest_disks[0].path"]),
    ("vnc-on-pvh", "site.yml", [], lambda i: guest(i, "g3", xen_guest_vnc=True), ["guest g3: xen_guest_vnc: is an HVM setting"]),
    ("vga-on-pvh-limit", "site.yml", ["--limit", "blade2"], lambda i: guest(i, "g3", xen_guest_vga="none"),
     ["guest g3: xen_guest_vga: is an HVM setting"]),
    ("usb-tablet-maybe-tags", "site.yml", ["--tags", "dom0_configure"],
     lambda i: guest(i, "g2", xen_guest_type="hvm", xen_guest_usb_tablet="maybe"), ["guest g2: xen_guest_usb_tablet"]),
    ("vga-typo-extra-var-check", "site.yml", ["--check", "-e", "xen_guest_vga=vesa"], None,
     ["guest g1: xen_guest_vga: is an HVM setting"]),
    ("shared-writable-disk", "site.yml", [],
     lambda i: same(i, "xen_guest_disks", [{"name": "root", "path": "/srv/xen/images/shared.img"}], "g1", "g2"),
     ["/srv/xen/images/shared.img is used by guests g1, g2"]),
    ("pvh-without-kernel", "site.yml", [], lambda i: guest(i, "g4", xen_guest_kernel=None, xen_guest_ramdisk=None),
     ["guest g4: xen_guest_kernel: a PVH guest needs"]),
    ("host-is-guest", "site.yml", [], also_guest, ["host blade3: is in both xen_hosts and xen_guests"]),
    # ---- sizes and numbers
    ("memory-512b", "site.yml", [], lambda i: guest(i, "g1", xen_guest_memory="512b"), ["guest g1: xen_guest_memory: unit 'b'"]),
    ("memory-1kb", "site.yml", [], lambda i: guest(i, "g1", xen_guest_memory="1kb"), ["guest g1: xen_guest_memory"]),
    ("memory-512-MB", "site.yml", [], lambda i: guest(i, "g1", xen_guest_memory="512 MB"), ["guest g1: xen_guest_memory", "ambiguous"]),
    ("memory-fullwidth", "site.yml", [], lambda i: guest(i, "g1", xen_guest_memory="\uff15\uff11\uff12"),
     ["guest g1: xen_guest_memory"]),
    ("memory-arabic", "site.yml", [], lambda i: guest(i, "g2", xen_guest_memory="\u0665\u0661\u0662"),
     ["guest g2: xen_guest_memory"]),
    ("memory-float", "site.yml", [], lambda i: guest(i, "g1", xen_guest_memory=1.5), ["guest g1: xen_guest_memory: expected whole MiB"]),
    ("memory-zero", "site.yml", [], lambda i: guest(i, "g1", xen_guest_memory=0), ["guest g1: xen_guest_memory: size must be positive"]),
    ("memory-negative", "site.yml", [], lambda i: guest(i, "g1", xen_guest_memory=-1), ["guest g1: xen_guest_memory"]),
    ("host-memory-lots", "site.yml", [], lambda i: host(i, "blade2", xen_host_memory="lots"), ["host blade2: xen_host_memory"]),
    ("vcpus-float", "site.yml", [], lambda i: guest(i, "g1", xen_guest_vcpus=1.5), ["guest g1: xen_guest_vcpus"]),
    ("vcpus-word", "site.yml", [], lambda i: guest(i, "g1", xen_guest_vcpus="two"), ["guest g1: xen_guest_vcpus"]),
    ("host-cpus-zero", "site.yml", [], lambda i: host(i, "blade1", xen_host_cpus=0), ["host blade1: xen_host_cpus: must be >= 1"]),
    ("host-state-bogus", "site.yml", [], lambda i: host(i, "blade1", xen_host_state="bogus"), ["host blade1: xen_host_state"]),
    ("host-shadow-paging-maybe", "site.yml", [], lambda i: host(i, "blade3", xen_host_shadow_paging="maybe"),
     ["host blade3: xen_host_shadow_paging"]),
    ("no-paging-for-pvh", "site.yml", ["--limit", "blade1"], no_paging,
     ["guest 'g1': no active host can run it: guest g1 is PVH, and host blade1 cannot run PVH guests: "
      "no hardware-assisted paging"]),
    ("priority-bogus", "site.yml", [], lambda i: guest(i, "g1", xen_guest_priority="urgent"),
     ["guest g1: xen_guest_priority: must be one of high, normal, low, got 'urgent'"]),
    ("state-bogus", "failover.yml", ["-e", "host=blade2"], lambda i: guest(i, "g3", xen_guest_state="paused"),
     ["guest g3: xen_guest_state: must be one of running, stopped, absent, got 'paused'"]),
    ("check-port-zero", "failover.yml", ["-e", "host=blade1"], lambda i: guest(i, "g2", xen_guest_check_port=0),
     ["guest g2: xen_guest_check_port: must be >= 1"]),
    ("check-port-no-address", "site.yml", [], lambda i: guest(i, "g5", xen_guest_memory="256M", xen_guest_check_port=22),
     ["guest g5: xen_guest_check_port: needs xen_guest_address"]),
    ("maintain-unknown-host", "plan.yml", ["-e", "maintain=blade1,blade9"], None,
     ["maintain: 'blade9' is neither 'all', a host nor a failure domain"]),
    ("maintain-batch-zero", "plan.yml", ["-e", "maintain=all", "-e", "batch=0"], None, ["batch: must be >= 1"]),
    ("maintain-min-tolerate-word", "plan.yml", ["-e", "maintain=all", "-e", "maintain_min_tolerate=one"], None,
     ["maintain_min_tolerate: expected a whole number"]),
    ("maintain-missing", "maintain.yml", [], None, ["maintain: required"]),
    ("maintain-limit", "maintain.yml", ["-e", "maintain=blade1", "--limit", "blade1"], None,
     ["maintain.yml: works on the whole cluster", "takes no --limit blade1"]),
    ("maintain-tasks-relative", "maintain.yml", ["-e", "maintain=blade1", "-e", "maintain_tasks=upgrade.yml"], None,
     ["maintain_tasks: expected an absolute path"]),
    ("maintain-tasks-missing", "maintain.yml", ["-e", "maintain=blade1", "-e", "maintain_tasks=/nonexistent/up.yml"],
     None, ["maintain_tasks: no such file on the controller: /nonexistent/up.yml"]),
    ("maintain-reboot-timeout-short", "maintain.yml", ["-e", "maintain=all", "-e", "maintain_reboot_timeout=5"], None,
     ["maintain_reboot_timeout: must be >= 30"]),
    ("maintenance-file-relative", "evacuate.yml", ["-e", "host=blade1", "-e", "xen_maintenance_file=maint.json"], None,
     ["xen_maintenance_file: expected an absolute path"]),
    ("shutdown-timeout-word", "site.yml", [], lambda i: host(i, "blade2", guests_shutdown_timeout="2m"),
     ["host blade2: guests_shutdown_timeout: expected a whole number"]),
    ("shutdown-force-maybe", "site.yml", [], lambda i: host(i, "blade1", guests_shutdown_force="maybe"),
     ["host blade1: guests_shutdown_force"]),
    ("failure-domain-injection", "site.yml", [], lambda i: host(i, "blade1", xen_host_failure_domain="chassis 1;rm"),
     ["host blade1: xen_host_failure_domain"]),
    ("tolerate-domains-all", "plan.yml", ["-e", "xen_tolerate_domains=3"], None,
     ["xen_tolerate_domains: 3 whole failure domain(s) to tolerate needs more than 3 domain(s)"]),
    ("tolerate-domains-word", "site.yml", ["-e", "xen_tolerate_domains=one"], None,
     ["xen_tolerate_domains: expected a whole number"]),
    ("domain-protect-bogus", "site.yml", ["-e", "xen_domain_protect=critical"], None,
     ["xen_domain_protect: must be one of high, normal, low"]),
    ("chassis-failing-proof", "site.yml", ["--limit", "blade3", "-e", "xen_tolerate_domains=1"],
     chassis_too_small_outside, ["Failure domains: 1 at once, guests of priority high and up restart: FAILED",
                                 "if failure domain(s) chassis1 fail (blade1, blade2)"]),
    ("pin-unknown", "site.yml", [], lambda i: guest(i, "g1", xen_guest_host="blade9"), ["guest g1: xen_guest_host: 'blade9'"]),
    # ---- filer
    ("data-without-address", "site.yml", [], lambda i: guest(i, "g1", xen_guest_address=None),
     ["guest g1: has a data area (xen_guest_data) but no xen_guest_address"]),
    ("address-injection", "site.yml", [], lambda i: guest(i, "g2", xen_guest_address="10.0.0.1; rm"), ["guest g2: xen_guest_address"]),
    ("address-twice", "site.yml", [], lambda i: same(i, "xen_guest_address", "10.77.0.150", "g3", "g4"),
     ["address 10.77.0.150: used by more than one machine: guest g3, guest g4"]),
    ("quota-unit", "site.yml", [], lambda i: guest(i, "g1", xen_guest_data={"quota": "10XB"}), ["guest g1: xen_guest_data.quota"]),
    # ---- injection
    ("ssh-address-option", "site.yml", [], lambda i: host(i, "blade2", dom0_ssh_address="-oProxyCommand=touch %s" % PWNED),
     ["host blade2: dom0_ssh_address", "starts with '-'"]),
    ("gateway-newline", "site.yml", ["--limit", "blade1"],
     lambda i: host(i, "blade1", dom0_bridge_enabled=True, dom0_bridge_address="10.0.0.2/24",
                    dom0_bridge_gateway="10.0.0.1\nup reboot"), ["host blade1: dom0_bridge_gateway"]),
    # ---- backups and restore.yml
    ("restore-no-guest", "restore.yml", [], lambda i: filer(i, filer_linux_backup=BACKUP),
     ["guest: required"]),
    ("restore-unknown-guest", "restore.yml", ["-e", "guest=g9"], lambda i: filer(i, filer_linux_backup=BACKUP),
     ["guest: 'g9' is not a guest of group xen_guests"]),
    ("restore-host-as-guest", "restore.yml", ["-e", "guest=blade1"], lambda i: filer(i, filer_linux_backup=BACKUP),
     ["guest: 'blade1' is not a guest of group xen_guests"]),
    ("restore-without-backups", "restore.yml", ["-e", "guest=g1"], None,
     ["filer filer: filer_linux_backup: not set, so there are no backups to restore g1 from"]),
    ("restore-guest-without-data", "restore.yml", ["-e", "guest=g3"], lambda i: filer(i, filer_linux_backup=BACKUP),
     ["guest: g3 has no data area on filer filer"]),
    ("restore-snapshot-path", "restore.yml", ["-e", "guest=g1", "-e", "snapshot=../../etc"],
     lambda i: filer(i, filer_linux_backup=BACKUP), ["snapshot: expected latest or a backup's name"]),
    ("restore-mode-delete", "restore.yml", ["-e", "guest=g1", "-e", "restore_mode=delete"],
     lambda i: filer(i, filer_linux_backup=BACKUP), ["restore_mode: must be one of overwrite, missing, exact"]),
    ("restore-limit", "restore.yml", ["-e", "guest=g1", "--limit", "filer"], lambda i: filer(i, filer_linux_backup=BACKUP),
     ["takes no --limit filer"]),
    ("backup-keep-zero", "site.yml", [], lambda i: filer(i, filer_linux_backup={"dest": "/srv/backup", "keep": 0}),
     ["filer filer: filer_linux_backup: keep: expected how many backups to keep"]),
    ("backup-calendar-injection", "site.yml", ["--limit", "filer"],
     lambda i: filer(i, filer_linux_backup={"dest": "/srv/backup", "on_calendar": "daily\nExecStartPre=/bin/touch " + PWNED}),
     ["filer filer: filer_linux_backup: on_calendar: expected a systemd calendar event"]),
    ("backup-on-ontap", "site.yml", [], lambda i: filer(i, filer_backend="ontap", filer_linux_backup=BACKUP),
     ["filer filer: filer_linux_backup: backups of the data area are for filer_backend linux"]),
    # ---- plan.yml's HTML report
    ("plan-report-relative", "plan.yml", ["-e", "plan_report=report.html"], None,
     ["plan_report: expected an absolute path, got 'report.html'"]),
    ("plan-report-no-directory", "plan.yml", ["-e", "plan_report=/nowhere/at/all/r.html"], None,
     ["plan_report: no such directory on the controller: /nowhere/at/all"]),
    # ---- verify.yml
    ("verify-limit", "verify.yml", ["--limit", "blade1"], None, ["verify.yml: works on the whole cluster", "takes no --limit blade1"]),
    ("verify-tolerate-word", "verify.yml", ["-e", "xen_tolerate=all"], None, ["xen_tolerate: expected a whole number"]),
    ("verify-bad-guest-memory", "verify.yml", [], lambda i: guest(i, "g2", xen_guest_memory="lots"),
     ["guest g2: xen_guest_memory"]),
    # ---- fencing
    ("bmc-without-password", "failover.yml", ["-e", "host=blade2"],
     lambda i: host(i, "blade2", xen_host_bmc={"address": "127.0.0.1", "user": "admin"}),
     ["host blade2: xen_host_bmc.password: required"]),
    ("bmc-bad-port", "failover.yml", ["-e", "host=blade2"],
     lambda i: host(i, "blade2", xen_host_bmc={"address": "127.0.0.1", "user": "admin", "password": "secret-pw", "port": "x"}),
     ["host blade2: xen_host_bmc.port"]),
]


@pytest.fixture(scope="module")
def wrapper(tmp_path_factory):
    work = tmp_path_factory.mktemp("matrix")
    script = work / "ssh"
    script.write_text('#!/bin/sh\nprintf "%%s\\n" "$*" >> "%s/ssh-calls"\nexec /usr/bin/ssh "$@"\n' % work)
    script.chmod(0o755)
    return work


def play(wrapper, tmp_path, playbook, args, inventory):
    inv = tmp_path / "hosts.yml"
    inv.write_text(yaml.safe_dump(inventory, allow_unicode=True))
    calls = wrapper / "ssh-calls"
    if calls.exists():
        calls.unlink()
    env = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0", ANSIBLE_SSH_EXECUTABLE=str(wrapper / "ssh"),
               ANSIBLE_TIMEOUT="2", ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_HOST_KEY_CHECKING="0")
    result = subprocess.run([PLAYBOOK, "-i", str(inv), playbook, *args], cwd=ROOT, env=env, capture_output=True,
                            text=True, timeout=300, check=False)
    attempts = calls.read_text().splitlines() if calls.exists() else []
    return result, result.stdout + result.stderr, attempts


@pytest.mark.parametrize(("playbook", "args", "change", "words"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_refused_before_any_connection(wrapper, tmp_path, playbook, args, change, words):
    inventory = base()
    if change:
        change(inventory)
    result, out, attempts = play(wrapper, tmp_path, playbook, args, inventory)
    assert result.returncode != 0, out[-3000:]
    for word in words:
        assert word in out, (word, out[-3000:])
    assert "no host was contacted, nothing was changed" in out, out[-3000:]
    assert attempts == [], attempts
    assert not Path(PWNED).exists()
    assert "secret-pw" not in out


def test_the_matrix_is_big_enough():
    assert len(CASES) >= 40


def test_control_a_valid_limited_site_run_passes_the_preflight_then_connects(wrapper, tmp_path):
    result, out, attempts = play(wrapper, tmp_path, "site.yml", ["--limit", "blade1"], base())
    assert "preflight: inventory valid (3 dom0s, 4 guests, 1 filer); N-1 proof PASSED" in out, out[-3000:]
    assert result.returncode != 0 and "UNREACHABLE" in out, out[-3000:]
    assert attempts and all("127.0.0.1" in a for a in attempts), attempts


def test_control_a_valid_plan_contacts_nothing(wrapper, tmp_path):
    result, out, attempts = play(wrapper, tmp_path, "plan.yml", [], base())
    assert result.returncode == 0, out[-3000:]
    assert "N-1 proof: PASSED" in out and attempts == []


def test_control_verify_passes_the_preflight_reads_every_dom0_and_reports_the_unreachable_ones_unsafe(wrapper,
                                                                                                      tmp_path):
    result, out, attempts = play(wrapper, tmp_path, "verify.yml", [], base())
    assert "preflight: inventory valid (3 dom0s, 4 guests, 1 filer); N-1 proof PASSED" in out, out[-3000:]
    assert result.returncode != 0, out[-3000:]
    for name in ("blade1", "blade2", "blade3"):
        assert "UNSAFE: host %s: unreachable or not running Xen: what runs there is unknown" % name in out
    assert "UNSAFE: guest g1: runs nowhere on the dom0s that were read (blade1, blade2, blade3 unread)" in out
    assert "the cluster is not safe" in out
    # Read-only, to every dom0 and nothing else: each attempt is a dom0's ssh (all on 127.0.0.1 here).
    assert attempts and all("127.0.0.1" in a for a in attempts), attempts
