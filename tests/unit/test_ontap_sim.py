"""Self-tests of the ONTAP REST simulator (tests/ontap_sim): the fidelity rules netapp.ontap needs."""

from __future__ import annotations

import base64
import json
import ssl
import urllib.error
import urllib.request

import pytest

pytest.importorskip("cryptography")

# pylint: disable=wrong-import-position
from ansible_collections.consolidation.xen.tests.ontap_sim import OntapSimulator, self_signed_cert
from ansible_collections.consolidation.xen.tests.ontap_sim.server import expand_dotted, matches, project


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    simulator = OntapSimulator(password="pw")
    simulator.start(*self_signed_cert(tmp_path_factory.mktemp("cert")))
    yield simulator
    simulator.stop()


def call(sim, method, path, body=None, password="pw"):
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request("https://127.0.0.1:%d%s" % (sim.port, path), data=data, method=method)
    request.add_header("Authorization", "Basic " + base64.b64encode(b"admin:" + password.encode()).decode())
    request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, context=context, timeout=10) as reply:  # nosec - local simulator
            return reply.status, json.loads(reply.read() or b"{}")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


def test_dotted_keys_projection_and_queries():
    assert expand_dotted({"svm.name": "s", "nas": {"path": "/v"}, "nas.security_style": "unix"}) == \
        {"svm": {"name": "s"}, "nas": {"path": "/v", "security_style": "unix"}}
    record = {"uuid": "u", "aggregates": [{"name": "a", "uuid": "1"}], "volume": {"name": "vol"},
              "clients": [{"match": "192.0.2.1/32"}, {"match": "192.0.2.2/32"}]}
    assert project(record, "aggregates.name,") == {"aggregates": [{"name": "a"}]}
    assert matches(record, {"volume": "vol", "clients.match": "192.0.2.2/32", "aggregates.name": '"a"|b'})
    assert matches(record, {"uuid": "*"}) and not matches(record, {"volume": "other"})


def test_auth_not_found_duplicates_and_jobs(sim):
    assert call(sim, "GET", "/api/cluster?fields=version", password="wrong")[0] == 401
    status, reply = call(sim, "GET", "/api/cluster?fields=version")
    assert status == 200 and reply["version"]["generation"] == 9
    assert call(sim, "POST", "/api/protocols/nfs/export-policies", {"name": "p1", "svm.name": "svm1"})[0] == 201
    status, reply = call(sim, "POST", "/api/protocols/nfs/export-policies", {"name": "p1", "svm": {"name": "svm1"}})
    assert status == 409
    status, reply = call(sim, "GET", '/api/protocols/nfs/export-policies/?fields=name,id&name="p1"')
    assert reply["num_records"] == 1
    policy_id = reply["records"][0]["id"]
    status, reply = call(sim, "GET", "/api/protocols/nfs/export-policies/%d/rules/1" % policy_id)
    assert status == 404 and reply["error"] == {"message": "entry doesn't exist", "code": "4", "target": "index"}
    status, reply = call(sim, "POST", "/api/protocols/nfs/export-policies/%d/rules?return_records=true" % policy_id,
                         {"clients": [{"match": "192.0.2.9/32"}], "ro_rule": ["sys"], "rw_rule": ["sys"]})
    assert status == 201 and reply["records"][0]["index"] == 1 and reply["records"][0]["superuser"] == ["any"]

    body = {"name": "v1", "svm.name": "svm1", "aggregates": [{"name": "aggr1"}], "size": "1048576", "nas.path": "/v1"}
    sim.slow_job("POST", "^/api/storage/volumes$", polls=1)
    status, reply = call(sim, "POST", "/api/storage/volumes?return_timeout=30", body)
    assert status == 202
    href = reply["job"]["_links"]["self"]["href"]
    assert call(sim, "GET", href)[1]["state"] == "running"
    assert call(sim, "GET", href)[1]["state"] == "success"
    status, reply = call(sim, "GET", "/api/storage/volumes?name=v1&fields=space.size,nas.path,quota.state,uuid")
    assert reply["records"][0]["space"]["size"] == 1048576 and reply["records"][0]["quota"]["state"] == "off"

    sim.fail_job("POST", "^/api/storage/qtrees$", message="no space")
    status, reply = call(sim, "POST", "/api/storage/qtrees?return_timeout=30",
                         {"volume": {"name": "v1"}, "svm": {"name": "svm1"}, "name": "q1", "unix_permissions": "0750"})
    assert status == 202
    job = call(sim, "GET", reply["job"]["_links"]["self"]["href"])[1]
    assert job["state"] == "failure" and job["message"] == "no space" and sim.qtree_map("v1") == {}
    status, reply = call(sim, "POST", "/api/storage/qtrees?return_timeout=30",
                         {"volume": {"name": "v1"}, "svm": {"name": "svm1"}, "name": "q1", "unix_permissions": "0750"})
    assert status == 201 and sim.qtree_map("v1")["q1"]["unix_permissions"] == 750

    sim.fail_next("GET", "^/api/storage/qtrees$", status=503, message="busy")
    assert call(sim, "GET", '/api/storage/qtrees?volume=v1&name="q1"')[0] == 503
    status, reply = call(sim, "GET", '/api/storage/qtrees?volume=v1&name="q1"&fields=export_policy')
    assert status == 200 and reply["records"][0]["export_policy"]["name"] == "default"


def test_snapshot_policies_schedules_and_the_volumes_that_use_them():
    sim = OntapSimulator(password="pw")
    body = {"name": "snap1", "svm.name": "svm1", "enabled": True,
            "copies": [{"schedule": {"name": "hourly"}, "count": 6},
                       {"schedule": {"name": "daily"}, "count": 7, "snapmirror_label": "daily"}]}
    assert sim.handle("POST", "/api/storage/snapshot-policies", {}, body)[0] == 401  # no credentials
    auth = {"Authorization": "Basic " + base64.b64encode(b"admin:pw").decode()}
    assert sim.handle("POST", "/api/storage/snapshot-policies?return_timeout=30", auth, body)[0] == 201
    assert sim.handle("POST", "/api/storage/snapshot-policies", auth, body)[0] == 409
    # the cluster's built-in policy of a name does not hide the SVM's: scope and svm.name select
    query = ("name=snap1&svm.name=svm1&scope=svm"
             "&fields=enabled,copies.count,copies.schedule.name,copies.snapmirror_label,scope,")
    status, reply = sim.handle("GET", "/api/storage/snapshot-policies?" + query, auth, None)
    record = reply["records"][0]
    assert record["svm"]["name"] == "svm1" and record["scope"] == "svm"
    assert [(c["schedule"]["name"], c["count"], c["snapmirror_label"]) for c in record["copies"]] == [
        ("hourly", 6, "-"), ("daily", 7, "daily")]
    assert sim.handle("GET", "/api/storage/snapshot-policies?name=default&scope=cluster", auth, None)[1][
        "num_records"] == 1
    schedules = "/api/storage/snapshot-policies/%s/schedules" % record["uuid"]
    status, reply = sim.handle("GET", schedules + "?fields=schedule.name,schedule.uuid,count,prefix", auth, None)
    daily = next(r for r in reply["records"] if r["schedule"]["name"] == "daily")
    assert sim.handle("PATCH", "%s/%s" % (schedules, daily["schedule"]["uuid"]), auth, {"count": "14"})[0] == 200
    assert sim.snapshot_policy("snap1")["copies"][1]["count"] == 14
    # refused: an unknown schedule, more than 1,023 copies, a sixth schedule; nothing changes
    status, reply = sim.handle("POST", schedules, auth, {"schedule.name": "every-10min", "count": "3"})
    assert status == 404 and reply["error"]["message"] == 'Schedule "every-10min" does not exist.'
    status, reply = sim.handle("PATCH", "%s/%s" % (schedules, daily["schedule"]["uuid"]), auth, {"count": "1020"})
    assert status == 400 and sim.snapshot_policy("snap1")["copies"][1]["count"] == 14
    many = dict(body, name="snap2", copies=[{"schedule": {"name": n}, "count": 1}
                                            for n in ("5min", "8hour", "hourly", "daily", "weekly", "monthly")])
    assert sim.handle("POST", "/api/storage/snapshot-policies", auth, many)[0] == 400
    assert sim.snapshot_policy("snap2") is None
    # a volume may name only a policy that exists; one in use cannot be deleted
    volume = {"name": "v1", "svm.name": "svm1", "aggregates": [{"name": "aggr1"}], "snapshot_policy.name": "nope"}
    status, reply = sim.handle("POST", "/api/storage/volumes?return_timeout=30", auth, volume)
    assert status == 404 and reply["error"]["target"] == "snapshot_policy.name" and sim.volume("v1") is None
    volume["snapshot_policy.name"] = "snap1"
    assert sim.handle("POST", "/api/storage/volumes?return_timeout=30", auth, volume)[0] == 201
    assert sim.volume("v1")["snapshot_policy"] == {"name": "snap1", "uuid": record["uuid"]}
    status, reply = sim.handle("DELETE", "/api/storage/snapshot-policies/%s" % record["uuid"], auth, None)
    assert status == 409 and "in use by volume(s) v1" in reply["error"]["message"]
    builtin = sim.snapshot_policy("none")
    assert sim.handle("DELETE", "/api/storage/snapshot-policies/%s" % builtin["uuid"], auth, None)[0] == 409


AUTH = "Basic " + base64.b64encode(b"admin:pw").decode()


def test_check_access_and_the_export_access_cache_that_only_a_flush_empties():
    sim = OntapSimulator(password="pw")
    policy = sim._add_policy("xen_images")  # pylint: disable=protected-access
    sim._insert_rule(policy, {"clients": [{"match": "10.0.0.1/32"}], "ro_rule": ["sys"], "rw_rule": ["sys"]})  # pylint: disable=protected-access
    sim._insert_rule(policy, {"clients": [{"match": "10.0.0.0/24"}], "ro_rule": ["sys"], "rw_rule": ["never"]})  # pylint: disable=protected-access
    sim.volumes["v"] = {"name": "xen_images", "nas": {"path": "/xen_images", "export_policy": {"name": "xen_images"}}}
    query = "vserver=svm1&volume=xen_images&client_ip=%s&authentication_method=sys&protocol=nfs&access_type=%s"
    cli = "/api/private/cli/vserver/export-policy/check-access?"
    status, reply = sim.handle("GET", cli + query % ("10.0.0.1", "read_write"), {"Authorization": AUTH}, None)
    assert status == 200 and [(r["path"], r["policy"], r["ruleidx"], r["access"]) for r in reply["records"]] == [
        ("/", "default", 0, "denied"), ("/xen_images", "xen_images", 1, "read-write")]
    assert sim.handle("GET", cli + query % ("10.0.0.2", "read_write"), {"Authorization": AUTH}, None)[1][
        "records"][1]["access"] == "read"
    assert sim.handle("GET", cli + query % ("10.0.1.2", "read"), {"Authorization": AUTH}, None)[1][
        "records"][1]["access"] == "denied"
    assert sim.handle("GET", cli + "vserver=svm1", {"Authorization": AUTH}, None)[0] == 400
    # an NFS client let in stays let in after its rule went, until the caches are flushed
    assert sim.client_access("xen_images", "10.0.0.1") == "read-write"
    policy["rules"].pop(0)
    assert sim.client_access("xen_images", "10.0.0.1") == "read-write"
    flush = "/api/private/cli/vserver/export-policy/cache/flush"
    assert sim.handle("POST", flush, {"Authorization": AUTH}, {"vserver": "svm9"})[0] == 400
    assert sim.client_access("xen_images", "10.0.0.1") == "read-write"
    assert sim.handle("POST", flush, {"Authorization": AUTH}, {"vserver": "svm1"}) == (200, {})
    assert sim.cache_flushes == [{"vserver": "svm1", "cache": "all"}]
    assert sim.client_access("xen_images", "10.0.0.1") == "read"
