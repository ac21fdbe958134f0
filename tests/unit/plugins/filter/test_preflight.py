"""The preflight: every problem any consumer would refuse, at once, naming variable and guest/host.

The property test at the end checks the promise behind it: for random inventories, whatever the
preflight accepts, the real consumers accept too (the guests role's filter + the xl renderer the
xl_configs module runs, the filer plan filter, the engine through cluster_model), and what it
refuses beyond them is only what it refuses on purpose (names, shared writable disks).
"""

from __future__ import annotations

import copy

import pytest
from ansible.errors import AnsibleFilterError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ansible_collections.consolidation.xen.plugins.filter.filer_plan import filer_plan as filer_plan_filter
from ansible_collections.consolidation.xen.plugins.filter.placement import cluster_model
from ansible_collections.consolidation.xen.plugins.filter.preflight import xl_guests
from ansible_collections.consolidation.xen.plugins.module_utils import contract, engine, xlcfg
from ansible_collections.consolidation.xen.plugins.module_utils.preflight import PreflightError, check


def base():
    hosts = {"blade%d" % i: {"xen_host_memory": "4G", "xen_host_cpus": 2, "xen_host_dom0_memory": "1G",
                             "xen_host_storage_address": "10.77.0.1%d" % i} for i in (1, 2, 3)}
    guests = {"g%d" % i: {"xen_guest_memory": "256M", "xen_guest_type": "pvh", "xen_guest_kernel": "/boot/vmlinuz",
                          "xen_guest_address": "10.77.0.10%d" % i} for i in (1, 2, 3, 4)}
    guests["g1"]["xen_guest_data"] = True
    return {"groups": {"xen_hosts": sorted(hosts), "xen_guests": sorted(guests), "filers": ["filer"]},
            "vars": dict(hosts, **guests, filer={"filer_backend": "linux"}), "run": {}}


def refused(inv, playbook="site"):
    with pytest.raises(PreflightError) as err:
        check(inv, playbook)
    return err.value.problems


def test_the_base_inventory_passes_and_plans():
    result = check(base())
    assert result["plan"]["ok"] and len(result["plan"]["assignments"]) == 4
    assert result["run"]["xen_tolerate"] == 1 and result["filers"]["filer"]["guests"][0]["guest"] == "g1"
    assert "inventory valid (3 dom0s, 4 guests, 1 filer); N-1 proof PASSED" in result["summary"]


def _set(inv, name, var, value):
    inv["vars"][name][var] = value
    return inv


CASES = [
    # (id, change, words every problem list must contain)
    ("hvm maxmem", lambda i: _set(_set(_set(i, "g1", "xen_guest_type", "hvm"), "g1", "xen_guest_maxmem", "512M"),
                                  "g1", "xen_guest_kernel", None), ["guest g1: xen_guest_maxmem: HVM guests need"]),
    ("maxmem below memory", lambda i: _set(i, "g2", "xen_guest_maxmem", "128M"), ["guest g2: xen_guest_maxmem"]),
    ("mac collision", lambda i: _set(_set(i, "g1", "xen_guest_mac", "00:16:3e:80:00:01"), "g2", "xen_guest_mac",
                                     "00:16:3e:80:00:01"), ["xen_guest_mac", "g1"]),
    ("uuid collision", lambda i: _set(_set(i, "g1", "xen_guest_uuid", "6f0c0d5e-7a34-4a55-9d1a-8e4c8a3d1b2c"), "g2",
                                      "xen_guest_uuid", "6f0c0d5e-7a34-4a55-9d1a-8e4c8a3d1b2c"), ["xen_guest_uuid"]),
    ("relative disk", lambda i: _set(i, "g3", "xen_guest_disks", [{"name": "root", "path": "img/g3.img"}]),
     ["guest g3: xen_guest_disks[0].path: must be an absolute path"]),
    ("vnc on pvh", lambda i: _set(i, "g3", "xen_guest_vnc", True), ["guest g3: xen_guest_vnc: is an HVM setting"]),
    ("vga on pvh", lambda i: _set(i, "g3", "xen_guest_vga", "none"), ["guest g3: xen_guest_vga: is an HVM setting"]),
    ("vga unknown", lambda i: _set(_set(i, "g2", "xen_guest_type", "hvm"), "g2", "xen_guest_vga", "vesa"),
     ["guest g2: xen_guest_vga: 'vesa' is not one of"]),
    ("videoram too small", lambda i: _set(_set(i, "g2", "xen_guest_type", "hvm"), "g2", "xen_guest_videoram", 4),
     ["guest g2: xen_guest_videoram: 4 MiB is below the 16 MiB"]),
    ("usb tablet maybe", lambda i: _set(_set(i, "g2", "xen_guest_type", "hvm"), "g2", "xen_guest_usb_tablet", "maybe"),
     ["guest g2: xen_guest_usb_tablet"]),
    ("usbversion with tablet", lambda i: _set(_set(_set(i, "g2", "xen_guest_type", "hvm"), "g2", "xen_guest_usbversion",
                                                   2), "g2", "xen_guest_usb_tablet", True),
     ["guest g2: xen_guest_usbversion: usbversion cannot be combined"]),
    ("boot order", lambda i: _set(_set(i, "g4", "xen_guest_type", "hvm"), "g4", "xen_guest_boot", "cx"),
     ["guest g4: xen_guest_boot: 'cx' is not a boot order"]),
    ("serial on pv", lambda i: _set(_set(i, "g4", "xen_guest_type", "pv"), "g4", "xen_guest_serial", "pty"),
     ["guest g4: xen_guest_serial: is an HVM setting"]),
    ("viridian maybe", lambda i: _set(_set(i, "g1", "xen_guest_type", "hvm"), "g1", "xen_guest_viridian", "maybe"),
     ["guest g1: xen_guest_viridian"]),
    ("no kernel", lambda i: _set(i, "g4", "xen_guest_kernel", None), ["guest g4: xen_guest_kernel: a PVH guest"]),
    ("shared disk", lambda i: _set(_set(i, "g1", "xen_guest_disks", [{"name": "r", "path": "/srv/xen/images/x.img"}]),
                                   "g2", "xen_guest_disks", [{"name": "r", "path": "/srv/xen/images/x.img",
                                                              "access": "ro"}]),
     ["xen_guest_disks: /srv/xen/images/x.img is used by guests g1, g2 and written by g1"]),
    ("size 512b", lambda i: _set(i, "g1", "xen_guest_memory", "512b"), ["guest g1: xen_guest_memory: unit 'b'"]),
    ("size float", lambda i: _set(i, "g1", "xen_guest_memory", 1.5), ["guest g1: xen_guest_memory: expected whole"]),
    ("vcpus float", lambda i: _set(i, "g1", "xen_guest_vcpus", 1.5), ["guest g1: xen_guest_vcpus: expected a whole"]),
    ("arabic digits", lambda i: _set(i, "blade1", "xen_host_cpus", "\u0662"), ["host blade1: xen_host_cpus"]),
    ("data without address", lambda i: _set(i, "g1", "xen_guest_address", None),
     ["guest g1: has a data area (xen_guest_data) but no xen_guest_address"]),
    ("bad address", lambda i: _set(i, "g2", "xen_guest_address", "10.0.0.1; rm"), ["guest g2: xen_guest_address"]),
    ("ssh option", lambda i: _set(i, "blade2", "dom0_ssh_address", "-oProxyCommand=x"),
     ["host blade2: dom0_ssh_address: '-oProxyCommand=x' starts with '-'"]),
    ("gateway newline", lambda i: _set(_set(i, "blade1", "dom0_bridge_address", "10.0.0.2/24"), "blade1",
                                       "dom0_bridge_gateway", "10.0.0.1\nup reboot"),
     ["host blade1: dom0_bridge_gateway"]),
    ("image dirs differ", lambda i: _set(i, "blade1", "guests_image_dir", "/srv/other"),
     ["guests_image_dir: differs between dom0s"]),
    ("pin unknown", lambda i: _set(i, "g1", "xen_guest_host", "blade9"), ["guest g1: xen_guest_host: 'blade9'"]),
    ("bmc without password", lambda i: _set(i, "blade1", "xen_host_bmc", {"address": "127.0.0.1", "user": "a"}),
     ["host blade1: xen_host_bmc.password: required"]),
    ("tolerate abc", lambda i: dict(i, run={"xen_tolerate": "abc"}), ["xen_tolerate: expected a whole number"]),
    ("overhead maybe", lambda i: dict(i, run={"xen_overhead": "maybe"}), ["xen_overhead: expected true or false"]),
    ("tolerate 3 of 3", lambda i: dict(i, run={"xen_tolerate": 3}), ["xen_tolerate: 3 host failure(s)"]),
]


@pytest.mark.parametrize(("change", "words"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_inventories_are_refused_naming_variable_and_guest(change, words):
    problems = refused(change(base()))
    text = "\n".join(problems)
    for w in words:
        assert w in text, text


@pytest.mark.parametrize("name", ["$(reboot)", "a b", "../etc", "x" * 300, "g\nx", "-g"])
def test_bad_guest_names_are_refused(name):
    inv = base()
    inv["vars"][name] = inv["vars"].pop("g4")
    inv["groups"]["xen_guests"] = ["g1", "g2", "g3", name]
    assert any(p.startswith("guest %r: name:" % name) for p in refused(inv)), refused(inv)


def test_a_host_that_is_also_a_guest_is_refused():
    inv = base()
    inv["groups"]["xen_guests"].append("blade3")
    inv["vars"]["blade3"].update(xen_guest_memory="256M", xen_guest_kernel="/boot/vmlinuz")
    assert "host blade3: is in both xen_hosts and xen_guests" in refused(inv)[0]


def test_every_problem_is_reported_at_once():
    inv = _set(_set(base(), "g1", "xen_guest_memory", "lots"), "blade1", "xen_host_cpus", 0)
    inv["run"] = {"xen_max_scenarios": -1}
    problems = refused(inv)
    assert len(problems) == 3, problems


def test_a_failed_proof_is_refused_with_the_table_and_live_playbooks_only_warn():
    inv = base()
    for g in ("g1", "g2", "g3"):  # one per host fits; a failed host's guest fits nowhere else
        inv["vars"][g]["xen_guest_memory"] = "1800M"
    with pytest.raises(PreflightError) as err:
        check(inv, "site")
    assert any("N-1" in line and "FAILED" in line for line in err.value.report["table"])
    result = check(dict(inv, run={"host": "blade1"}), "evacuate")
    assert "evacuate.yml goes on and proves its own moves" in result["warnings"][0]
    degraded = check(dict(inv, run={"xen_allow_degraded": "yes"}), "site")
    assert degraded["warnings"][0].startswith("DEGRADED CLUSTER ACCEPTED")
    # The refusal's table leaves the reasons to the problems list: each once.
    assert not any(line.startswith("reason: ") for line in err.value.report["table"])
    # plan.yml reports a failed plan before it fails: the preflight hands it the refusal instead of raising.
    planned = check(inv, "plan")
    assert planned["refused"][-1].startswith("plan: refused (-e xen_allow_degraded=true")
    assert planned["refused"][:-1] == ["plan: %s" % r for r in planned["plan"]["reasons"]]
    assert check(base(), "plan")["refused"] == [] and check(inv, "verify")["refused"] == []


def test_plan_report_must_go_to_an_existing_directory():
    inv = dict(base(), run={"plan_report": "/nowhere/at/all/report.html"},
               controller_dirs={"/nowhere/at/all/report.html": False})
    assert refused(inv, "plan") == ["plan_report: no such directory on the controller: /nowhere/at/all"]
    assert "plan_report: expected an absolute path" in refused(dict(base(), run={"plan_report": "r.html"}), "plan")[0]
    assert check(dict(base(), run={"plan_report": "/tmp/r.html"}, controller_dirs={"/tmp/r.html": True}),
                 "plan")["run"]["plan_report"] == "/tmp/r.html"


def test_live_playbooks_take_their_options_typed_and_no_limit():
    assert check(dict(base(), run={"host": "blade2", "parallel": "2"}), "evacuate")["run"]["parallel"] == 2
    assert "host: required: -e host=<one of blade1, blade2, blade3>" in refused(base(), "failover")
    assert "max_moves: must be >= 1, got '-1'" in refused(dict(base(), run={"max_moves": "-1"}), "rebalance")[0]
    problems = refused(dict(base(), run={"host": "blade2"}, cli={"limit": "blade2"}), "evacuate")
    assert "takes no --limit blade2" in problems[0]
    # site.yml takes --limit: it plans the whole cluster whatever the limit
    assert check(dict(base(), cli={"limit": "blade1", "start_at_task": "x"}), "site")["plan"]["ok"]


def test_the_example_inventory_passes():
    import pathlib

    import yaml
    # (inventories/lab uses templates: tests/integration runs the real plan.yml on it)
    result = check(_load(pathlib.Path(__file__).resolve().parents[4] / "inventories" / "example", yaml))
    assert len(result["guests"]) == 31 and result["plan"]["ok"]
    # 30 run; acc-test is stopped: validated, not placed, no capacity reserved, and the table says so
    assert len(result["plan"]["assignments"]) == 30 and result["plan"]["not_reserved"] == {"acc-test": "stopped"}
    assert "not reserved, not restarted (xen_guest_state): acc-test (stopped)" in result["table"]


def _load(path, yaml):
    """A small reader for the repo's YAML inventories (hosts.yml + group_vars + host_vars)."""
    data = yaml.safe_load((path / "hosts.yml").read_text())
    group_vars = {p.stem: yaml.safe_load(p.read_text()) or {} for p in (path / "group_vars").glob("*.yml")}
    host_vars = {p.stem: yaml.safe_load(p.read_text()) or {} for p in (path / "host_vars").glob("*.yml")} \
        if (path / "host_vars").is_dir() else {}
    members, hvars = {}, {}

    def walk(name, node, chain):
        node = node or {}
        for h, v in (node.get("hosts") or {}).items():
            members.setdefault(name, []).append(h)
            merged = {}
            for g in chain + [name]:
                merged.update(group_vars.get(g, {}))
                merged.update(groups_vars.get(g, {}))
            merged.update(v or {})
            merged.update(host_vars.get(h, {}))
            hvars[h] = merged
        for child, sub in (node.get("children") or {}).items():
            walk(child, sub, chain + [name])
            members.setdefault(name, []).extend(members.get(child, []))

    groups_vars = {}

    def collect(name, node):
        node = node or {}
        groups_vars[name] = node.get("vars") or {}
        for child, sub in (node.get("children") or {}).items():
            collect(child, sub)

    collect("all", data["all"])
    walk("all", data["all"], [])
    return {"groups": {g: members.get(g, []) for g in ("xen_hosts", "xen_guests", "filers")}, "vars": hvars,
            "run": dict(group_vars.get("all", {}))}


# --------------------------------------------------------------------------------------------------
# property: what the preflight accepts, every consumer accepts

def _mostly(valid, invalid, weight=12):
    """Valid values most of the time, so that both verdicts occur (most random inventories are bad)."""
    return st.sampled_from(list(valid) * weight + list(invalid))


SIZES = _mostly([128, "256M", "0.25G", "192 MiB"], ["512b", "1kb", "512 MB", 1.5, "\uff15\uff11\uff12", 0, "1.5M"])
GUEST = st.fixed_dictionaries({
    "xen_guest_memory": SIZES,
    "xen_guest_maxmem": _mostly([None, None, "512M"], ["64M", "1 GB"]),
    "xen_guest_vcpus": _mostly([None, 1, 2, "2"], [1.5, "two", 3, "\u0662"]),
    "xen_guest_type": _mostly(["pvh", "pvh", "hvm", "pv"], ["xen"]),
    "xen_guest_kernel": _mostly(["/boot/vmlinuz"], [None, "vmlinuz", "/boot/../boot/vmlinuz"]),
    "xen_guest_vnc": _mostly([None], [True, "maybe"], weight=20),
    "xen_guest_vga": _mostly([None, None, "none"], ["vesa"], weight=20),
    "xen_guest_usb_tablet": _mostly([None, None, False], ["maybe"], weight=20),
    "xen_guest_mac": _mostly([None], ["00:16:3e:80:00:01", "01:16:3e:80:00:01"], weight=20),
    "xen_guest_address": _mostly([None], ["10.77.0.101", "10.0.0.1; rm", "010.1.1.1"], weight=8),
    "xen_guest_data": _mostly([False], [True, {"quota": "1G"}, {"quota": "10XB"}], weight=10),
    "xen_guest_anti_affinity": _mostly([None, "web"], ["a b"]),
})


def _consumers_accept(inv):
    """The real consumers' verdict, each through the code path a role or module runs."""
    hv = inv["vars"]
    hosts, guests = inv["groups"]["xen_hosts"], inv["groups"]["xen_guests"]
    try:
        model = cluster_model(hv, hosts, guests)
        plan = engine.placement(model["guests"], model["hosts"], tolerate=1)
        if not plan["ok"]:
            return False
        xl = xl_guests(hv, guests, contract.BY_NAME["guests_default_disks"].default, "127.0.0.1")
        _out, errors = xlcfg.render_all(xl, image_dir="/srv/xen/images", default_bridge="br0")
        if errors:
            return False
        filer_plan_filter(hv, hosts, guests, contract.filer_defaults(
            {v.name: v.default for v in contract.SCOPE_VARS["filer"]}))
    except (AnsibleFilterError, ValueError):
        return False
    return True


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(GUEST, min_size=1, max_size=5))
def test_the_preflight_accepts_exactly_what_the_consumers_accept(guest_vars):
    inv = base()
    for g in list(inv["groups"]["xen_guests"]):
        del inv["vars"][g]
    inv["groups"]["xen_guests"] = ["g%d" % i for i in range(len(guest_vars))]
    for name, gv in zip(inv["groups"]["xen_guests"], guest_vars, strict=True):
        inv["vars"][name] = {k: v for k, v in gv.items() if v is not None}
    consumers = _consumers_accept(copy.deepcopy(inv))
    try:
        check(copy.deepcopy(inv))
        accepted = True
    except PreflightError:
        accepted = False
    # Names are fixed and valid, disks are per guest: nothing here is refused by the preflight alone.
    assert accepted == consumers


def _restore(run=None, filer=None, **guest_vars):
    inv = base()
    inv["vars"]["filer"] = dict({"filer_backend": "linux", "filer_linux_backup": {"dest": "/srv/backup"}},
                                **(filer or {}))
    inv["vars"]["g1"].update(guest_vars)
    inv["run"] = run or {}
    return inv


def test_restore_takes_a_guest_with_a_data_area_and_a_filer_with_backups():
    result = check(_restore({"guest": "g1"}), "restore")
    assert result["run"]["guest"] == "g1" and result["run"]["snapshot"] == "latest"
    assert result["run"]["restore_mode"] == "overwrite"
    assert check(_restore({"guest": "g1", "snapshot": "2026-12-06T013000Z", "restore_mode": "exact"}),
                 "restore")["run"]["snapshot"] == "2026-12-06T013000Z"
    assert "guest: required" in refused(_restore(), "restore")[0]
    unknown = refused(_restore({"guest": "g9"}), "restore")[0]
    assert "guest: 'g9' is not a guest of group xen_guests (g1, g2, g3, g4)" in unknown
    assert "guest: 'blade1' is not a guest" in refused(_restore({"guest": "blade1"}), "restore")[0]
    assert ("guest: g2 has no data area on filer filer (xen_guest_data unset or false, or xen_guest_state absent)"
            in refused(_restore({"guest": "g2"}), "restore")[0])
    assert "g1 has no data area on filer filer" in refused(_restore({"guest": "g1"}, xen_guest_state="absent"),
                                                           "restore")[0]
    assert ("filer filer: filer_linux_backup: not set, so there are no backups to restore g1 from"
            in refused(_restore({"guest": "g1"}, filer={"filer_linux_backup": None}), "restore")[0])
    assert ("filer_linux_backup: backups of the data area are for filer_backend linux"
            in " ".join(refused(_restore({"guest": "g1"}, filer={"filer_backend": "ontap"}), "restore")))
    assert "snapshot: expected latest or a backup's name" in refused(_restore({"guest": "g1", "snapshot": "../x"}),
                                                                     "restore")[0]
    assert "restore_mode: must be one of overwrite, missing, exact" in refused(
        _restore({"guest": "g1", "restore_mode": "delete"}), "restore")[0]
    assert "takes no --limit filer" in refused(dict(_restore({"guest": "g1"}), cli={"limit": "filer"}), "restore")[0]
    # a plan that does not hold does not stop a restore (it moves no guest)
    inv = _restore({"guest": "g1"})
    for g in ("g1", "g2", "g3"):
        inv["vars"][g]["xen_guest_memory"] = "1800M"
    assert "restore.yml moves no guest and goes on" in check(inv, "restore")["warnings"][0]
