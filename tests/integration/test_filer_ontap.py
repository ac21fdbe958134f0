"""End-to-end: the filer role's ontap backend, through the real netapp.ontap modules, against the
ONTAP REST simulator in tests/ontap_sim (HTTPS on 127.0.0.1, a throwaway certificate).

Each test writes an inventory (dom0s, guests, one ONTAP filer pointing at the simulator), runs the
venv's ansible-playbook applying consolidation.xen.filer, and asserts the simulator's state: qtrees,
tree quotas, export policies and their rules. Faults are injected in the simulator; whatever fails,
no qtree may be left reachable by any client other than its guest.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import PASSWORD

ROOT = Path(__file__).resolve().parents[2]
PLAYBOOK = shutil.which("ansible-playbook", path=str(Path(sys.executable).parent)) or shutil.which("ansible-playbook")
DATA = "xen_data"
IMAGES = "xen_images"
MIB = 1024 * 1024

pytestmark = pytest.mark.skipif(PLAYBOOK is None, reason="ansible-playbook not installed")

DOM0S = {"dom0a": "192.0.2.1", "dom0b": "192.0.2.2", "dom0c": "192.0.2.3"}
GUESTS = {
    "web1": {"xen_guest_address": "192.0.2.11", "xen_guest_data": True},
    "db1": {"xen_guest_address": "192.0.2.12",
            "xen_guest_data": {"quota": "2G", "soft_quota": "1536M", "files": 100000}},
    "mail1": {"xen_guest_address": "192.0.2.13", "xen_guest_data": {"quota": 512, "root_squash": False}},
    "ldap1": {"xen_guest_address": "192.0.2.14", "xen_guest_data": {"quota": "1G", "files": 5000}},
    "dns1": {"xen_guest_address": "192.0.2.15"},  # no data area
}
PLAY = [{"name": "Filer", "hosts": "filers", "gather_facts": False, "roles": ["consolidation.xen.filer"]}]


def write_inventory(path, sim, guests, **filer_vars):
    filer = {
        "ansible_connection": "local",
        "ansible_python_interpreter": sys.executable,
        "filer_backend": "ontap",
        "filer_ontap_hostname": "127.0.0.1",
        "filer_ontap_http_port": sim.port,
        "filer_ontap_validate_certs": False,
        "filer_ontap_username": sim.username,
        "filer_ontap_password": PASSWORD,
        "filer_ontap_vserver": "svm1",
        "filer_ontap_aggregate": "aggr1",
        "filer_image_size": "10G",
        "filer_data_size": "20G",
        "filer_quota": "1G",
    }
    filer.update(filer_vars)
    inventory = {"all": {"children": {
        "xen_hosts": {"hosts": {name: {"xen_host_storage_address": ip} for name, ip in DOM0S.items()}},
        "xen_guests": {"hosts": guests},
        "filers": {"hosts": {"fas1": filer}},
    }}}
    path.mkdir(exist_ok=True)
    (path / "hosts.yml").write_text(yaml.safe_dump(inventory))
    (path / "filer.yml").write_text(yaml.safe_dump(PLAY))
    return path


def play(path, *args, playbook="filer.yml"):
    env = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0", ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"))
    result = subprocess.run([PLAYBOOK, "-i", str(path / "hosts.yml"), str(path / playbook), *args],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=240, check=False)
    output = result.stdout + result.stderr
    assert PASSWORD not in output, "the ONTAP password appeared in ansible-playbook's output"
    return result


def recap(result):
    found = re.search(r"^fas1\s*:.*?changed=(\d+).*?failed=(\d+)", result.stdout, re.M)
    assert found, result.stdout + result.stderr
    return {"changed": int(found.group(1)), "failed": int(found.group(2))}


def guests_with_data(guests):
    return {name: hv["xen_guest_address"] for name, hv in guests.items() if hv.get("xen_guest_data")}


def rule_clients(policy):
    return [[c["match"] for c in rule["clients"]] for rule in policy["rules"]]


def assert_no_open_qtree(sim):
    """Every qtree of the data volume carries its own guest policy with at most its one /32 rule."""
    for name, qtree in sim.qtree_map(DATA).items():
        policy = sim.policy(qtree["export_policy"]["name"])
        assert qtree["export_policy"]["name"] == "xen_guest_%s" % name, qtree
        assert len(policy["rules"]) <= 1, policy
        for rule in policy["rules"]:
            assert len(rule["clients"]) == 1 and rule["clients"][0]["match"].endswith("/32"), rule


def assert_applied(sim, guests, kept=()):
    """The plan of `guests` is on the filer; `kept` are removed guests whose qtree stays, closed."""
    wanted = guests_with_data(guests)
    images = sim.policy("xen_images")
    assert sorted(rule_clients(images)) == sorted([["%s/32" % ip] for ip in DOM0S.values()])
    assert all(r["rw_rule"] == ["sys"] and r["superuser"] == ["sys"] for r in images["rules"])
    assert sim.volume(IMAGES)["nas"]["export_policy"]["name"] == "xen_images"
    assert sim.volume(IMAGES)["nas"]["path"] == "/xen_images"
    data = sim.policy("xen_data")
    assert sorted(rule_clients(data)) == sorted([["%s/32" % ip] for ip in wanted.values()])
    assert all(r["ro_rule"] == ["sys"] and r["rw_rule"] == ["never"] and r["superuser"] == ["none"]
               for r in data["rules"])
    assert sim.volume(DATA)["nas"]["export_policy"]["name"] == "xen_data"
    assert sim.volume(DATA)["quota"]["state"] == "on"
    # the role's default Snapshot policy, the SVM's own, on both volumes
    snapshots = sim.snapshot_policy("xen_snapshots")
    assert snapshots["scope"] == "svm" and snapshots["svm"]["name"] == "svm1" and snapshots["enabled"] is True
    assert [(c["schedule"]["name"], c["count"], c["snapmirror_label"]) for c in snapshots["copies"]] == [
        ("hourly", 6, "-"), ("daily", 7, "daily"), ("weekly", 4, "weekly")]
    assert sim.volume(IMAGES)["snapshot_policy"]["name"] == "xen_snapshots"
    assert sim.volume(DATA)["snapshot_policy"]["name"] == "xen_snapshots"

    assert set(sim.qtree_map(DATA)) == set(wanted) | set(kept)
    for name in kept:
        assert sim.policy("xen_guest_%s" % name)["rules"] == []
    for name, ip in wanted.items():
        qtree = sim.qtree_map(DATA)[name]
        assert qtree["security_style"] == "unix"
        policy = sim.policy("xen_guest_%s" % name)
        assert qtree["export_policy"]["name"] == policy["name"]
        assert rule_clients(policy) == [["%s/32" % ip]]
        squash = guests[name]["xen_guest_data"] is True or guests[name]["xen_guest_data"].get("root_squash", True)
        assert policy["rules"][0]["superuser"] == (["none"] if squash else ["sys"])
        assert policy["rules"][0]["rw_rule"] == ["sys"]
    assert_no_open_qtree(sim)


def test_apply_rerun_remove_and_purge(sim, tmp_path):
    path = write_inventory(tmp_path / "inv", sim, GUESTS)
    first = play(path, "-v")
    assert first.returncode == 0, first.stdout + first.stderr
    assert recap(first)["changed"] > 0
    assert_applied(sim, GUESTS)
    quotas = sim.tree_quotas(DATA)
    assert set(quotas) == {"web1", "db1", "mail1", "ldap1"}
    assert quotas["web1"]["space"] == {"hard_limit": 1024 * MIB}
    assert quotas["db1"]["space"] == {"hard_limit": 2048 * MIB, "soft_limit": 1536 * MIB}
    assert quotas["db1"]["files"] == {"hard_limit": 100000}
    assert quotas["mail1"]["space"] == {"hard_limit": 512 * MIB}
    assert quotas["ldap1"]["files"] == {"hard_limit": 5000}

    again = play(path)
    assert again.returncode == 0, again.stdout + again.stderr
    assert recap(again)["changed"] == 0, again.stdout

    # db1 leaves the inventory. The first attempt meets a locked rule and must stop, loudly.
    remaining = {k: v for k, v in GUESTS.items() if k != "db1"}
    path = write_inventory(tmp_path / "inv", sim, remaining)
    db1_policy = sim.policy("xen_guest_db1")["id"]
    sim.lock_next("DELETE", r"/export-policies/%d/rules/" % db1_policy)
    locked = play(path)
    assert locked.returncode != 0
    assert "filer (ontap):" in locked.stdout and "temporarily locked" in locked.stdout, locked.stdout
    assert_no_open_qtree(sim)

    removed = play(path)
    assert removed.returncode == 0, removed.stdout + removed.stderr
    assert sim.policy("xen_guest_db1")["rules"] == []
    assert "db1" in sim.qtree_map(DATA) and "db1" in sim.tree_quotas(DATA)
    assert sim.qtree_map(DATA)["db1"]["export_policy"]["name"] == "xen_guest_db1"
    assert ["192.0.2.12/32"] not in rule_clients(sim.policy("xen_data"))
    assert_applied(sim, remaining, kept=["db1"])

    purged = play(path, "-e", "filer_purge=true")
    assert purged.returncode == 0, purged.stdout + purged.stderr
    assert "db1" not in sim.qtree_map(DATA) and "db1" not in sim.tree_quotas(DATA)
    assert sim.policy("xen_guest_db1") is None
    assert_applied(sim, remaining)


SMALL = {k: GUESTS[k] for k in ("web1", "db1")}


def test_server_error_on_qtree_creation_fails_with_no_open_qtree(sim, tmp_path):
    sim.fail_next("POST", r"^/api/storage/qtrees$", status=500, message="Internal error. Simulated RPC failure.")
    result = play(write_inventory(tmp_path / "inv", sim, SMALL))
    assert result.returncode != 0
    assert "filer (ontap):" in result.stdout and "Simulated RPC failure" in result.stdout, result.stdout
    assert "db1" not in sim.qtree_map(DATA)  # db1 comes first: its POST was the one that failed
    assert sim.tree_quotas(DATA) == {}  # the run stopped before any quota
    assert rule_clients(sim.policy("xen_guest_db1")) == [["192.0.2.12/32"]]
    assert_no_open_qtree(sim)


def test_failed_quota_job_fails_the_run(sim, tmp_path):
    sim.fail_job("POST", r"^/api/storage/quota/rules$", message="Simulated: quota rule job aborted.")
    result = play(write_inventory(tmp_path / "inv", sim, SMALL))
    assert result.returncode != 0
    assert "filer (ontap):" in result.stdout and "quota rule job aborted" in result.stdout, result.stdout
    assert set(sim.qtree_map(DATA)) == {"web1", "db1"}
    assert "db1" not in sim.tree_quotas(DATA)
    assert_no_open_qtree(sim)


def test_slow_job_is_waited_for(sim, tmp_path):
    # netapp.ontap polls a job every max(job_timeout / 6, 5) s: the quota module's 30 s give 5 s.
    sim.slow_job("POST", r"^/api/storage/quota/rules$", polls=1)
    result = play(write_inventory(tmp_path / "inv", sim, {"web1": GUESTS["web1"]}))
    assert result.returncode == 0, result.stdout + result.stderr
    post = next(r for r in sim.requests if r["method"] == "POST" and r["path"] == "/api/storage/quota/rules")
    assert post["status"] == 202
    job_gets = [r for r in sim.requests if r["path"].startswith("/api/cluster/jobs/")]
    assert len(job_gets) >= 2  # running, then success
    assert set(sim.qtree_map(DATA)) == {"web1"} and set(sim.tree_quotas(DATA)) == {"web1"}
    assert_no_open_qtree(sim)


@pytest.mark.parametrize(("guest", "message"), [
    ({"xen_guest_address": "192.0.2.21", "xen_guest_data": {"quota": "1G", "soft_quota": "2G"}},
     "above the hard quota"),
    ({"xen_guest_data": True}, "has a data area (xen_guest_data) but no xen_guest_address"),
])
def test_bad_input_fails_before_any_request(sim, tmp_path, guest, message):
    result = play(write_inventory(tmp_path / "inv", sim, dict(SMALL, bad1=guest)), "-v")
    assert result.returncode != 0
    assert message in result.stdout and "bad1" in result.stdout, result.stdout
    assert sim.requests == []


def test_snapshot_policy_changed_named_or_left_alone(sim, tmp_path):
    """A changed count is patched in place (the policy keeps its uuid); a policy of another name is made
    and the volumes move to it; null leaves the volumes' policy alone."""
    path = write_inventory(tmp_path / "inv", sim, SMALL)
    assert play(path).returncode == 0
    first = sim.snapshot_policy("xen_snapshots")
    weekly = {"schedules": [{"schedule": "hourly", "count": 6},
                            {"schedule": "daily", "count": 14, "snapmirror_label": "daily"},
                            {"schedule": "weekly", "count": 4, "snapmirror_label": "weekly"}]}
    changed = play(write_inventory(tmp_path / "inv", sim, SMALL, filer_ontap_snapshot_policy=weekly))
    assert changed.returncode == 0, changed.stdout + changed.stderr
    after = sim.snapshot_policy("xen_snapshots")
    assert after["uuid"] == first["uuid"] and [c["count"] for c in after["copies"]] == [6, 14, 4]
    assert any(r["method"] == "PATCH" and "/schedules/" in r["path"] for r in sim.requests)

    own = {"name": "nightly", "schedules": [{"schedule": "daily", "count": 30}]}
    moved = play(write_inventory(tmp_path / "inv", sim, SMALL, filer_ontap_snapshot_policy=own))
    assert moved.returncode == 0, moved.stdout + moved.stderr
    assert [(c["schedule"]["name"], c["count"]) for c in sim.snapshot_policy("nightly")["copies"]] == [("daily", 30)]
    assert sim.volume(IMAGES)["snapshot_policy"]["name"] == sim.volume(DATA)["snapshot_policy"]["name"] == "nightly"

    sim.clear()
    alone = play(write_inventory(tmp_path / "inv", sim, SMALL, filer_ontap_snapshot_policy=None))
    assert alone.returncode == 0 and recap(alone)["changed"] == 0, alone.stdout
    assert not any("snapshot-policies" in r["path"] for r in sim.requests)
    assert sim.volume(DATA)["snapshot_policy"]["name"] == "nightly"


def test_refused_snapshot_policy_fails_cleanly_before_any_volume(sim, tmp_path):
    """ONTAP refuses the policy (here: a schedule the cluster does not have): the run stops with ONTAP's
    words, no volume exists yet, and no policy was left half made."""
    odd = {"schedules": [{"schedule": "hourly", "count": 6}, {"schedule": "every-10min", "count": 3}]}
    result = play(write_inventory(tmp_path / "inv", sim, SMALL, filer_ontap_snapshot_policy=odd))
    assert result.returncode != 0
    assert "filer (ontap):" in result.stdout and "every-10min" in result.stdout, result.stdout
    assert "does not exist" in result.stdout, result.stdout
    assert sim.snapshot_policy("xen_snapshots") is None
    assert sim.volume(IMAGES) is None and sim.volume(DATA) is None


# One case through ansible-playbook (each costs a run); every refusal and its words are in
# tests/unit/plugins/module_utils/test_filer.py (test_bad_snapshot_policy_is_named).
@pytest.mark.parametrize(("policy", "message"), [
    ({"schedules": [{"schedule": "hourly", "count": 600}, {"schedule": "daily", "count": 600}]},
     "the counts add up to 1200 Snapshot copies; a volume holds at most 1023"),
])
def test_bad_snapshot_policy_fails_before_any_request(sim, tmp_path, policy, message):
    result = play(write_inventory(tmp_path / "inv", sim, SMALL, filer_ontap_snapshot_policy=policy), "-v")
    assert result.returncode != 0
    assert "filer_ontap_snapshot_policy" in result.stdout and message in result.stdout, result.stdout
    assert sim.requests == []


def test_vault_created_initialized_then_changed_in_place(sim, tmp_path):
    """filer_ontap_vault: each volume's SnapMirror vault to the second SVM, its DP volume made and the
    relationship initialized; a re-run changes nothing; another schedule is patched in place."""
    vault = {"vserver": "svm_vault", "volumes": ["data", "image"]}
    path = write_inventory(tmp_path / "inv", sim, SMALL, filer_ontap_vault=vault)
    first = play(path)
    assert first.returncode == 0, first.stdout + first.stderr
    for volume in (DATA, IMAGES):
        rel = sim.relationship("svm_vault:%s_vault" % volume)
        assert rel is not None, sim.relationships
        assert rel["source"]["path"] == "svm1:%s" % volume and rel["state"] == "snapmirrored" and rel["healthy"]
        assert rel["policy"] == {"name": "XDPDefault", "type": "async"}
        assert rel["transfer_schedule"] == {"name": "daily"}
        assert [t["type"] for t in rel["transfers"]] == ["initialize"]
        dest = next(v for v in sim.volumes.values() if v["name"] == "%s_vault" % volume)
        assert dest["svm"]["name"] == "svm_vault" and dest["type"] == "dp"
    again = play(path)
    assert again.returncode == 0 and recap(again)["changed"] == 0, again.stdout
    assert [t["type"] for t in sim.relationship("svm_vault:xen_data_vault")["transfers"]] == ["initialize"]

    weekly = play(write_inventory(tmp_path / "inv", sim, SMALL, filer_ontap_vault=dict(vault, schedule="weekly")))
    assert weekly.returncode == 0, weekly.stdout + weekly.stderr
    rel = sim.relationship("svm_vault:xen_data_vault")
    assert rel["transfer_schedule"] == {"name": "weekly"} and len(rel["transfers"]) == 1
    assert len(sim.relationships) == 2


@pytest.mark.parametrize("fault", ["unpeered", "job"])
def test_a_vault_that_cannot_be_made_fails_cleanly(sim, tmp_path, fault):
    """The destination SVM not peered (ONTAP refuses the relationship), or the create job fails: the run
    stops naming it, and no relationship or destination volume is left."""
    if fault == "unpeered":
        sim.svm_peers.clear()
    else:
        sim.fail_job("POST", r"^/api/snapmirror/relationships$", message="Simulated: SnapMirror create aborted.")
    result = play(write_inventory(tmp_path / "inv", sim, SMALL, filer_ontap_vault={"vserver": "svm_vault"}))
    assert result.returncode != 0
    words = "is not peered with SVM" if fault == "unpeered" else "SnapMirror create aborted"
    assert "filer (ontap):" in result.stdout and words in result.stdout, result.stdout
    assert sim.relationships == {}
    assert not any(v["svm"]["name"] == "svm_vault" for v in sim.volumes.values())
    assert sim.volume(DATA) is not None  # the volumes before it were made; a re-run finishes


def test_bad_vault_fails_before_any_request(sim, tmp_path):
    bad = {"vserver": "svm1", "volumes": ["data", "data"]}
    result = play(write_inventory(tmp_path / "inv", sim, SMALL, filer_ontap_vault=bad), "-v")
    assert result.returncode != 0
    flat = " ".join(result.stdout.split())
    assert "filer_ontap_vault: vserver: the vault must be another SVM than svm1 (the source)" in flat, result.stdout
    assert "filer_ontap_vault: volumes: expected a list of image and data (each once)" in flat, result.stdout
    assert sim.requests == []
