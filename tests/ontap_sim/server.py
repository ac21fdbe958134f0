"""A stateful ONTAP 9 REST simulator, just large enough for netapp.ontap's volume, export policy,
export policy rule, qtree, quota and rest_info modules (shared/reference/ecosystem.md A.5).

It serves HTTPS on 127.0.0.1 from a thread, checks HTTP Basic auth, keeps the SVM's volumes,
export policies and rules, qtrees, quota rules and jobs in memory, and records every request. The
fidelity rules the real modules depend on are kept: dotted keys in bodies, ``fields=`` projection
that keeps arrays of objects, quoted and ``|``/``*`` query values, queries on object-valued fields
matching their ``.name``, numbers sent as strings stored as ints, the trailing ``/`` on
export-policies, ``return_records``, ``return_timeout`` (201/200 when a job finishes in time, 202
otherwise), the jobs endpoint, 404 "entry doesn't exist" with code 4, 409 on duplicates.

SnapMirror (na_ontap_snapmirror): a second SVM (``vault_svm``, peered unless ``peered=False``), ``/api/svm/peers``,
the built-in ``/api/snapmirror/policies``, ``/api/snapmirror/relationships`` (create as a job, with
``create_destination`` making a DP volume in the destination SVM; ``state: snapmirrored`` initializes
it; PATCH changes policy, schedule or state; DELETE keeps the destination volume) and their
``/transfers``; transfers finish at once.

Two CLI commands through ``/api/private/cli`` (na_ontap_rest_cli), for storage fencing:
``vserver export-policy cache flush`` (POST) and ``vserver export-policy check-access`` (GET; one record
per path component, the SVM root and the volume, as the CLI prints them: path, policy, policy-owner,
policy-owner-type, ruleidx, access; field names are the CLI's with ``_`` for ``-``, not checked against
a real cluster). The export access cache is modelled: ``client_access()`` stands for an NFS client's
request, answered from the cache when an entry is there (as ONTAP does for up to an hour), else from
the rules and then cached; only a cache flush empties it.

Faults are queued from the test (``fail_next``, ``lock_next``, ``fail_job``, ``slow_job``); each
matches a method and a regular expression searched in the path (``/api/...``), and is used up by the
next matching requests.
"""

from __future__ import annotations

import base64
import copy
import datetime
import fnmatch
import http.server
import ipaddress
import json
import re
import ssl
import threading
import uuid as uuidlib
from urllib.parse import parse_qs, urlsplit

SVM_UUID = "11111111-1111-1111-1111-111111111111"
AGGR_UUID = "22222222-2222-2222-2222-222222222222"
CLUSTER = {"name": "sim-cluster", "uuid": "33333333-3333-3333-3333-333333333333",
           "version": {"full": "NetApp Release 9.14.1: simulated", "generation": 9, "major": 14, "minor": 1}}

# Query parameters that are options, not filters.
_OPTIONS = {"fields", "return_records", "return_timeout", "max_records", "new_index", "order_by"}
# Fields ONTAP sends as numbers; the modules send some of them as strings.
_NUMERIC = {("space", "size"), ("size",), ("space", "hard_limit"), ("space", "soft_limit"),
            ("files", "hard_limit"), ("files", "soft_limit"), ("unix_permissions",),
            ("nas", "unix_permissions"), ("index",), ("count",)}
# Keys every record carries whatever `fields` asks for.
_IDENTITY = {
    "volume": ("uuid", "name"),
    "policy": ("id", "name"),
    "rule": ("index",),
    "qtree": ("svm", "volume", "id", "name"),
    "quota": ("uuid",),
    "svm": ("uuid", "name"),
    # ONTAP returns the fields a query names: the snapshot policy module reads svm.name without asking.
    "snapshot_policy": ("uuid", "name", "svm"),
    "snapshot_schedule": ("schedule",),
    "svm_peer": ("uuid",),
    "snapmirror_policy": ("uuid", "name"),
    "relationship": ("uuid",),
    "transfer": ("uuid",),
}
# ONTAP's built-in SnapMirror policies (cluster-wide: no svm in their records) and their REST type. Over
# REST every relationship is XDP; the policy decides: XDPDefault is a vault (keeps the copies labelled
# daily and weekly), MirrorAllSnapshots a mirror, MirrorAndVault both.
SNAPMIRROR_POLICIES = (("XDPDefault", "async"), ("MirrorAllSnapshots", "async"), ("MirrorAndVault", "async"),
                       ("MirrorLatest", "async"), ("Asynchronous", "async"), ("Sync", "sync"),
                       ("StrictSync", "sync"))
VAULT_SVM_UUID = "55555555-5555-5555-5555-555555555555"
# The cluster's job schedules (cron), as a fresh ONTAP 9 cluster has them.
SCHEDULES = {name: "4444%04d-0000-0000-0000-000000000000" % i
             for i, name in enumerate(("5min", "8hour", "hourly", "daily", "weekly", "monthly"), start=1)}


class ApiError(Exception):
    """An ONTAP error reply: HTTP status and {"error": {"message", "code", "target"?}}."""

    def __init__(self, status, message, code, target=None):
        super().__init__(message)
        self.status = status
        self.body = {"error": {"message": message, "code": str(code)}}
        if target:
            self.body["error"]["target"] = target


def not_found(target="uuid"):
    return ApiError(404, "entry doesn't exist", 4, target)


def self_signed_cert(directory):
    """Write a throwaway key and self-signed certificate for 127.0.0.1; return (cert, key) paths."""
    # pylint: disable=import-outside-toplevel
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ontap-sim")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .sign(key, hashes.SHA256()))
    cert_path = "%s/sim-cert.pem" % directory
    key_path = "%s/sim-key.pem" % directory
    with open(cert_path, "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))
    with open(key_path, "wb") as f:
        f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()))
    return cert_path, key_path


# ------------------------------------------------------------------------------------------------
# Plain-data helpers: dotted keys, projection, queries


def expand_dotted(body):
    """{"svm.name": "x", "nas": {"path": "/v"}} -> {"svm": {"name": "x"}, "nas": {"path": "/v"}}."""
    out = {}
    for key, value in (body or {}).items():
        if isinstance(value, dict):
            value = expand_dotted(value)
        parts = key.split(".")
        node = out
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        if isinstance(value, dict) and isinstance(node.get(parts[-1]), dict):
            deep_merge(node[parts[-1]], value)
        else:
            node[parts[-1]] = value
    return out


def deep_merge(target, source):
    for key, value in source.items():
        if isinstance(value, dict) and isinstance(target.get(key), dict):
            deep_merge(target[key], value)
        else:
            target[key] = copy.deepcopy(value)
    return target


def normalise_numbers(record, path=()):
    """Numbers sent as strings ("42949672960", "0750") become ints, as ONTAP stores them."""
    for key, value in list(record.items()):
        here = path + (key,)
        if isinstance(value, dict):
            normalise_numbers(value, here)
        elif here in _NUMERIC or here[-2:] in _NUMERIC:
            if isinstance(value, str) and value.strip().isdigit():
                record[key] = int(value.strip(), 10)
    return record


def project(record, fields, identity=()):
    """Keep only the dotted `fields` (and the identity keys); arrays of objects stay arrays."""
    wanted = [f for f in (fields or "").split(",") if f]
    if not wanted or "*" in wanted or "**" in wanted:
        return copy.deepcopy(record)
    out = {}
    for key in identity:
        if key in record:
            out[key] = copy.deepcopy(record[key])
    for field in wanted:
        _copy_path(record, out, field.split("."))
    return out


def _copy_path(src, dst, parts):
    key = parts[0]
    if not isinstance(src, dict) or key not in src:
        return
    value = src[key]
    if len(parts) == 1:
        dst[key] = copy.deepcopy(value)
    elif isinstance(value, list):
        items = dst.setdefault(key, [{} for dummy in value])
        for item_src, item_dst in zip(value, items, strict=False):
            _copy_path(item_src, item_dst, parts[1:])
    elif isinstance(value, dict):
        _copy_path(value, dst.setdefault(key, {}), parts[1:])


def _values(record, parts):
    """Every value at a dotted path; lists match any element; objects stand for their name."""
    if not parts:
        if isinstance(record, dict):
            return [record.get("name")] if "name" in record else []
        if isinstance(record, list):
            return [v for item in record for v in _values(item, [])]
        return [record]
    if isinstance(record, list):
        return [v for item in record for v in _values(item, parts)]
    if not isinstance(record, dict) or parts[0] not in record:
        return []
    return _values(record[parts[0]], parts[1:])


def _text(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def matches(record, query):
    for key, wanted in query.items():
        if key in _OPTIONS:
            continue
        values = [_text(v) for v in _values(record, key.split("."))]
        alternatives = []
        for alt in wanted.split("|"):
            alt = alt.strip()
            if len(alt) >= 2 and alt[0] == alt[-1] == '"':
                alt = alt[1:-1]
            alternatives.append(alt)
        if not any(fnmatch.fnmatchcase(v, alt) if "*" in alt else v == alt
                   for v in values for alt in alternatives):
            return False
    return True


# ------------------------------------------------------------------------------------------------
# The filer's state


class Fault:
    def __init__(self, method, path, count, kind, **details):
        self.method = method.upper()
        self.path = re.compile(path)
        self.remaining = count
        self.kind = kind
        self.details = details

    def applies(self, method, path):
        return self.remaining > 0 and self.method == method and self.path.search(path) is not None


class OntapSimulator:
    """The simulated cluster, with one SVM and one aggregate; `start()` serves it over HTTPS."""

    def __init__(self, username="admin", password="netapp-sim-password", svm="svm1", aggregate="aggr1",
                 vault_svm="svm_vault", peered=True):
        self.username = username
        self.password = password
        self.svm = {"name": svm, "uuid": SVM_UUID}
        # A second SVM on the cluster, a SnapMirror destination; peered with the first unless told otherwise.
        self.vault_svm = {"name": vault_svm, "uuid": VAULT_SVM_UUID}
        self.svm_peers = {}      # uuid -> record (one per direction)
        self.relationships = {}  # uuid -> SnapMirror relationship record (with "transfers": [...])
        self.aggregate = {"name": aggregate, "uuid": AGGR_UUID}
        self.lock = threading.RLock()
        if peered:
            self.peer_svms()
        self.requests = []
        self.faults = []
        self.volumes = {}        # uuid -> record
        self.policies = {}       # id -> record (with "rules": [...])
        self.qtrees = {}         # (volume uuid, id) -> record
        self.quota_rules = {}    # uuid -> record
        self.jobs = {}           # uuid -> {"record": ..., "polls": n, "final": state}
        self.snapshot_policies = {}  # uuid -> record (cluster-scoped built-ins, and the SVM's own)
        self.access_cache = {}   # (volume name, client address) -> access, what NFS requests were answered
        self.cache_flushes = []  # {"vserver", "cache"} of every export cache flush, in order
        self._next_policy_id = 12884901889
        self._add_policy("default")
        for name, enabled, copies in (("default", True, (("hourly", 6), ("daily", 2), ("weekly", 2))),
                                      ("default-1weekly", True, (("hourly", 6), ("daily", 2), ("weekly", 1))),
                                      ("none", False, ())):
            self._add_snapshot_policy(name, None, enabled, [{"schedule": {"name": n}, "count": c} for n, c in copies])
        self._server = None
        self._thread = None
        self.port = None

    # -- serving ------------------------------------------------------------------------------
    def start(self, cert, key):
        handler = type("Handler", (_Handler,), {"sim": self})
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        server.socket = context.wrap_socket(server.socket, server_side=True)
        server.daemon_threads = True
        self._server = server
        self.port = server.server_address[1]
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self.port

    def stop(self):
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    # -- control from the test ----------------------------------------------------------------
    def fail_next(self, method, path, count=1, status=500, message="Internal error. Simulated failure.", code="8"):
        """The next `count` matching requests get an HTTP error reply and change nothing."""
        with self.lock:
            self.faults.append(Fault(method, path, count, "error", status=status, message=message, code=code))

    def lock_next(self, method, path, count=1):
        """The next `count` matching requests find the object "temporarily locked" (netapp.ontap
        retries a POST or PATCH three times, 30 s apart, on this message; other methods fail)."""
        message = ("Volume is temporarily locked by another operation. Wait a few minutes, then try the "
                   "command again.")
        self.fail_next(method, path, count, status=409, message=message, code="917536")

    def fail_job(self, method, path, count=1, message="Simulated job failure.", code=13001):
        """The next `count` matching job requests start a job that ends in `failure`, changing nothing."""
        with self.lock:
            self.faults.append(Fault(method, path, count, "job_failure", message=message, code=code))

    def slow_job(self, method, path, polls=1, count=1):
        """The next `count` matching job requests answer 202 and stay `running` for `polls` job GETs."""
        with self.lock:
            self.faults.append(Fault(method, path, count, "job_slow", polls=polls))

    def clear(self):
        with self.lock:
            self.requests.clear()
            self.faults.clear()

    # -- views for assertions -----------------------------------------------------------------
    def policy(self, name):
        with self.lock:
            return next((copy.deepcopy(p) for p in self.policies.values() if p["name"] == name), None)

    def policy_names(self):
        with self.lock:
            return sorted(p["name"] for p in self.policies.values())

    def volume(self, name):
        with self.lock:
            return next((copy.deepcopy(v) for v in self.volumes.values() if v["name"] == name), None)

    def snapshot_policy(self, name):
        """The SVM's snapshot policy of that name (else the cluster's), as stored."""
        with self.lock:
            found = sorted((p for p in self.snapshot_policies.values() if p["name"] == name),
                           key=lambda p: p["scope"] != "svm")
            return copy.deepcopy(found[0]) if found else None

    def qtree_map(self, volume):
        """{qtree name: record} of a volume, without the implicit qtree 0."""
        with self.lock:
            return {q["name"]: copy.deepcopy(q) for q in self.qtrees.values()
                    if q["volume"]["name"] == volume and q["id"] != 0}

    def peer_svms(self):
        """Peer the two SVMs (both directions, as ``vserver peer create`` leaves them)."""
        with self.lock:
            for local, remote in ((self.svm, self.vault_svm), (self.vault_svm, self.svm)):
                peer_uuid = str(uuidlib.uuid4())
                self.svm_peers[peer_uuid] = {
                    "uuid": peer_uuid, "name": remote["name"], "svm": dict(local), "state": "peered",
                    "peer": {"svm": dict(remote), "cluster": {"name": CLUSTER["name"]}}, "applications": ["snapmirror"]}

    def relationship(self, destination_path):
        """The SnapMirror relationship of that destination path, as stored (None: none)."""
        with self.lock:
            return next((copy.deepcopy(r) for r in self.relationships.values()
                         if r["destination"]["path"] == destination_path), None)

    def client_access(self, volume, address):
        """An NFS client at ``address`` reaching ``volume``: answered from the export access cache when it
        holds the client, else from the volume's export policy rules (then cached). "read-write", "read"
        or "denied"."""
        with self.lock:
            key = (volume, address)
            if key not in self.access_cache:
                record = next((v for v in self.volumes.values() if v["name"] == volume), None)
                if record is None:
                    raise KeyError(volume)
                self.access_cache[key] = self._evaluate(record["nas"]["export_policy"]["name"], address,
                                                        "read_write")[1]
            return self.access_cache[key]

    def tree_quotas(self, volume):
        with self.lock:
            return {r["qtree"]["name"]: copy.deepcopy(r) for r in self.quota_rules.values()
                    if r["volume"]["name"] == volume and r["type"] == "tree"}

    # -- request handling ---------------------------------------------------------------------
    def handle(self, method, raw_path, headers, body):
        """Return (status, reply dict or None) for one request; record it first."""
        split = urlsplit(raw_path)
        path = split.path
        query = {k: v[-1] for k, v in parse_qs(split.query, keep_blank_values=True).items()}
        with self.lock:
            entry = {"method": method, "path": path, "query": query, "body": body}
            self.requests.append(entry)
            try:
                self._authorise(headers)
                fault = next((f for f in self.faults if f.applies(method, path)), None)
                if fault is not None:
                    fault.remaining -= 1
                    if fault.kind == "error":
                        raise ApiError(fault.details["status"], fault.details["message"], fault.details["code"])
                status, reply = self._route(method, path.rstrip("/"), query, body, fault)
            except ApiError as exc:
                status, reply = exc.status, exc.body
            entry["status"] = status
            return status, reply

    def _authorise(self, headers):
        expected = "Basic " + base64.b64encode(("%s:%s" % (self.username, self.password)).encode("utf-8")).decode()
        if headers.get("Authorization") != expected:
            raise ApiError(401, "not authorized for that command", 6)

    def _route(self, method, path, query, body, fault):
        routes = [
            (r"/api/cluster", {"GET": self._get_cluster}),
            (r"/api/cluster/nodes", {"GET": self._get_nodes}),
            (r"/api/cluster/jobs/(?P<uuid>[^/]+)", {"GET": self._get_job}),
            (r"/api/svm/svms", {"GET": self._get_svms}),
            (r"/api/storage/volumes", {"GET": self._get_volumes, "POST": self._post_volume}),
            (r"/api/storage/volumes/(?P<uuid>[^/]+)", {"GET": self._get_volume, "PATCH": self._patch_volume,
                                                       "DELETE": self._delete_volume}),
            (r"/api/protocols/nfs/export-policies", {"GET": self._get_policies, "POST": self._post_policy}),
            (r"/api/protocols/nfs/export-policies/(?P<id>\d+)", {"GET": self._get_policy,
                                                                 "PATCH": self._patch_policy,
                                                                 "DELETE": self._delete_policy}),
            (r"/api/protocols/nfs/export-policies/(?P<id>\d+)/rules", {"GET": self._get_rules,
                                                                       "POST": self._post_rule}),
            (r"/api/protocols/nfs/export-policies/(?P<id>\d+)/rules/(?P<index>\d+)",
             {"GET": self._get_rule, "PATCH": self._patch_rule, "DELETE": self._delete_rule}),
            (r"/api/storage/snapshot-policies", {"GET": self._get_snapshot_policies,
                                                 "POST": self._post_snapshot_policy}),
            (r"/api/storage/snapshot-policies/(?P<uuid>[^/]+)", {"GET": self._get_snapshot_policy,
                                                                 "PATCH": self._patch_snapshot_policy,
                                                                 "DELETE": self._delete_snapshot_policy}),
            (r"/api/storage/snapshot-policies/(?P<uuid>[^/]+)/schedules",
             {"GET": self._get_snapshot_schedules, "POST": self._post_snapshot_schedule}),
            (r"/api/storage/snapshot-policies/(?P<uuid>[^/]+)/schedules/(?P<schedule>[^/]+)",
             {"GET": self._get_snapshot_schedule, "PATCH": self._patch_snapshot_schedule,
              "DELETE": self._delete_snapshot_schedule}),
            (r"/api/storage/qtrees", {"GET": self._get_qtrees, "POST": self._post_qtree}),
            (r"/api/storage/qtrees/(?P<vol>[^/]+)/(?P<id>\d+)", {"GET": self._get_qtree,
                                                                 "PATCH": self._patch_qtree,
                                                                 "DELETE": self._delete_qtree}),
            (r"/api/private/cli/vserver/export-policy/cache/flush", {"POST": self._cli_cache_flush}),
            (r"/api/private/cli/vserver/export-policy/check-access", {"GET": self._cli_check_access}),
            (r"/api/svm/peers", {"GET": self._get_svm_peers}),
            (r"/api/snapmirror/policies", {"GET": self._get_snapmirror_policies}),
            (r"/api/snapmirror/relationships", {"GET": self._get_relationships, "POST": self._post_relationship}),
            (r"/api/snapmirror/relationships/(?P<uuid>[^/]+)", {"GET": self._get_relationship,
                                                                "PATCH": self._patch_relationship,
                                                                "DELETE": self._delete_relationship}),
            (r"/api/snapmirror/relationships/(?P<uuid>[^/]+)/transfers", {"GET": self._get_transfers,
                                                                          "POST": self._post_transfer}),
            (r"/api/storage/quota/rules", {"GET": self._get_quota_rules, "POST": self._post_quota_rule}),
            (r"/api/storage/quota/rules/(?P<uuid>[^/]+)", {"GET": self._get_quota_rule,
                                                           "PATCH": self._patch_quota_rule,
                                                           "DELETE": self._delete_quota_rule}),
        ]
        for pattern, methods in routes:
            found = re.fullmatch(pattern, path)
            if found:
                if method not in methods:
                    raise ApiError(405, "The method %s is not allowed on %s" % (method, path), 3)
                request = {"query": query, "body": expand_dotted(body) if isinstance(body, dict) else {},
                           "fault": fault, "method": method, "path": path}
                return methods[method](request, **found.groupdict())
        raise ApiError(404, "API not found", 3)

    # -- jobs -----------------------------------------------------------------------------------
    def _job(self, request, status_done, extra=None, apply=None):
        """Run `apply` as a job: success at once, or as the fault says (failure, or slow)."""
        fault = request["fault"]
        job_uuid = str(uuidlib.uuid4())
        job = {"uuid": job_uuid, "description": "%s %s" % (request["method"], request["path"]),
               "state": "success", "message": "success", "code": 0,
               "_links": {"self": {"href": "/api/cluster/jobs/%s" % job_uuid}}}
        polls = 0
        if fault is not None and fault.kind == "job_failure":
            job.update(state="failure", message=fault.details["message"], code=fault.details["code"])
            extra = None
        else:
            if apply is not None:
                apply()
            if fault is not None and fault.kind == "job_slow":
                polls = fault.details["polls"]
        self.jobs[job_uuid] = {"record": job, "polls": polls}
        reply = {"job": {"uuid": job_uuid, "_links": job["_links"]}}
        if extra and request["query"].get("return_records") == "true":
            reply.update(num_records=1, records=[extra])
        timeout = request["query"].get("return_timeout", "0")
        finished_in_time = polls == 0 and job["state"] == "success" and timeout not in ("", "0")
        return (status_done if finished_in_time else 202), reply

    def _get_job(self, request, uuid):
        entry = self.jobs.get(uuid)
        if entry is None:
            raise not_found()
        record = copy.deepcopy(entry["record"])
        if entry["polls"] > 0:
            entry["polls"] -= 1
            record.update(state="running", message="in progress")
        return 200, project(record, request["query"].get("fields"), ("uuid",))

    # -- cluster, svm ---------------------------------------------------------------------------
    def _get_cluster(self, request):
        return 200, project(CLUSTER, request["query"].get("fields"), ("name", "uuid"))

    def _get_nodes(self, request):
        del request
        return 200, {"records": [{"name": "sim-01", "version": CLUSTER["version"]}], "num_records": 1}

    def _get_svms(self, request):
        return self._collection([dict(self.svm), dict(self.vault_svm)], request, "svm")

    def _collection(self, records, request, kind):
        query = request["query"]
        found = [project(r, query.get("fields"), _IDENTITY[kind]) for r in records if matches(r, query)]
        return 200, {"records": found, "num_records": len(found)}

    def _volume_named(self, body):
        """The volume a POST body names in ``volume.name``, or ONTAP's 404 for a missing one."""
        name = (body.get("volume") or {}).get("name")
        volume = next((v for v in self.volumes.values() if v["name"] == name), None)
        if volume is None:
            raise ApiError(404, 'Volume "%s" does not exist.' % name, 917927, "volume.name")
        return volume

    def _check_svm(self, body):
        name = (body.get("svm") or {}).get("name")
        if name != self.svm["name"]:
            raise ApiError(404, 'SVM "%s" does not exist.' % name, 2621462, "svm.name")

    # -- volumes --------------------------------------------------------------------------------
    def _get_volumes(self, request):
        return self._collection(list(self.volumes.values()), request, "volume")

    def _get_volume(self, request, uuid):
        if uuid not in self.volumes:
            raise not_found()
        return 200, project(self.volumes[uuid], request["query"].get("fields"), _IDENTITY["volume"])

    def _post_volume(self, request):
        body = normalise_numbers(request["body"])
        self._check_svm(body)
        name = body.get("name")
        if not name or not body.get("aggregates"):
            raise ApiError(400, "Missing required field: %s" % ("name" if not name else "aggregates"), 262195)
        if any(v["name"] == name for v in self.volumes.values()):
            raise ApiError(409, 'Duplicate volume name "%s".' % name, 917835, "name")
        policy = ((body.get("nas") or {}).get("export_policy") or {}).get("name", "default")
        self._policy_by_name(policy)
        self._check_snapshot_policy(body)
        vol_uuid = str(uuidlib.uuid4())
        record = {
            "uuid": vol_uuid, "name": name, "svm": dict(self.svm), "type": body.get("type", "rw"),
            "style": "flexvol", "state": body.get("state", "online"), "comment": body.get("comment", ""),
            "aggregates": [dict(self.aggregate)],
            "space": {"size": int(body.get("size", 20 * 1024 ** 2)), "snapshot": {"reserve_percent": 5},
                      "logical_space": {"enforcement": False, "reporting": False}},
            "nas": {"path": "", "security_style": "unix", "export_policy": {"name": "default"},
                    "unix_permissions": 755, "uid": 0, "gid": 0},
            "guarantee": {"type": "volume"}, "snapshot_policy": {"name": "default"},
            "snaplock": {"type": "non_snaplock"}, "encryption": {"enabled": False},
            "tiering": {"policy": "none"}, "efficiency": {"compression": "none"}, "files": {"maximum": 566000},
            "quota": {"enabled": False, "state": "off"},
        }

        def apply():
            self.volumes[vol_uuid] = record
            self._apply_volume_change(record, body)
            # Every volume has an implicit qtree 0 named "", the volume itself.
            self.qtrees[(vol_uuid, 0)] = {"id": 0, "name": "", "svm": dict(self.svm),
                                          "volume": {"name": name, "uuid": vol_uuid}, "security_style": "unix",
                                          "unix_permissions": 755,
                                          "export_policy": dict(record["nas"]["export_policy"]),
                                          "path": record["nas"]["path"]}

        return self._job(request, 201, apply=apply)

    def _apply_volume_change(self, record, body):
        if "size" in body:
            record["space"]["size"] = int(body["size"])
        for key in ("name", "comment", "state", "type"):
            if key in body:
                record[key] = body[key]
        nas = body.get("nas") or {}
        if "export_policy" in nas:
            policy = self._policy_by_name(nas["export_policy"].get("name"))
            record["nas"]["export_policy"] = {"name": policy["name"], "id": policy["id"]}
        for key in ("path", "security_style", "unix_permissions", "uid", "gid"):
            if key in nas:
                record["nas"][key] = nas[key]
        for key in ("guarantee", "space"):
            if isinstance(body.get(key), dict):
                deep_merge(record[key], body[key])
        if (body.get("snapshot_policy") or {}).get("name"):
            policy = self._snapshot_policy_named(body["snapshot_policy"]["name"])
            record["snapshot_policy"] = {"name": policy["name"], "uuid": policy["uuid"]}
        if "quota" in body and "enabled" in body["quota"]:
            enabled = body["quota"]["enabled"] in (True, "true")
            record["quota"] = {"enabled": enabled, "state": "on" if enabled else "off"}

    def _patch_volume(self, request, uuid):
        record = self.volumes.get(uuid)
        if record is None:
            raise not_found()
        body = normalise_numbers(request["body"])
        policy = ((body.get("nas") or {}).get("export_policy") or {}).get("name")
        if policy is not None:
            self._policy_by_name(policy)
        self._check_snapshot_policy(body)
        return self._job(request, 200, apply=lambda: self._apply_volume_change(record, body))

    def _delete_volume(self, request, uuid):
        if uuid not in self.volumes:
            raise not_found()

        def apply():
            del self.volumes[uuid]
            for key in [k for k in self.qtrees if k[0] == uuid]:
                del self.qtrees[key]
            for key in [k for k, r in self.quota_rules.items() if r["volume"]["uuid"] == uuid]:
                del self.quota_rules[key]

        return self._job(request, 200, apply=apply)

    # -- export policies and rules ----------------------------------------------------------------
    def _add_policy(self, name):
        policy_id = self._next_policy_id
        self._next_policy_id += 1
        self.policies[policy_id] = {"id": policy_id, "name": name, "svm": dict(self.svm), "rules": []}
        return self.policies[policy_id]

    def _policy_by_name(self, name):
        policy = next((p for p in self.policies.values() if p["name"] == name), None)
        if policy is None:
            raise ApiError(404, 'Export policy "%s" does not exist in SVM "%s".' % (name, self.svm["name"]),
                           1703954, "export_policy.name")
        return policy

    def _policy(self, policy_id):
        policy = self.policies.get(int(policy_id))
        if policy is None:
            raise not_found("policy.id")
        return policy

    def _get_policies(self, request):
        return self._collection(list(self.policies.values()), request, "policy")

    def _get_policy(self, request, id):  # pylint: disable=redefined-builtin
        return 200, project(self._policy(id), request["query"].get("fields"), _IDENTITY["policy"])

    def _post_policy(self, request):
        body = request["body"]
        self._check_svm(body)
        name = body.get("name")
        if not name:
            raise ApiError(400, "Missing required field: name", 262195, "name")
        if any(p["name"] == name for p in self.policies.values()):
            raise ApiError(409, 'Duplicate export policy "%s" in SVM "%s".' % (name, self.svm["name"]),
                           1703952, "name")
        policy = self._add_policy(name)
        for rule in body.get("rules") or []:
            self._insert_rule(policy, rule)
        if request["query"].get("return_records") == "true":
            return 201, {"num_records": 1, "records": [copy.deepcopy(policy)]}
        return 201, {}

    def _patch_policy(self, request, id):  # pylint: disable=redefined-builtin
        policy = self._policy(id)
        name = request["body"].get("name")
        if name and name != policy["name"]:
            if any(p["name"] == name for p in self.policies.values()):
                raise ApiError(409, 'Duplicate export policy "%s".' % name, 1703952, "name")
            for holder in self._policy_users(policy["name"]):
                holder["name"] = name
            policy["name"] = name
        return 200, {}

    def _policy_users(self, name):
        """The export_policy objects (of volumes and qtrees) that name this policy."""
        users = [v["nas"]["export_policy"] for v in self.volumes.values()
                 if v["nas"]["export_policy"]["name"] == name]
        users += [q["export_policy"] for q in self.qtrees.values()
                  if q["id"] != 0 and q["export_policy"]["name"] == name]
        return users

    def _delete_policy(self, request, id):  # pylint: disable=redefined-builtin
        del request
        policy = self._policy(id)
        if policy["name"] == "default":
            raise ApiError(409, 'The "default" export policy cannot be deleted.', 1703950)
        if self._policy_users(policy["name"]):
            raise ApiError(409, 'Cannot delete export policy "%s": it is in use by a volume or a qtree.'
                           % policy["name"], 1703949)
        del self.policies[policy["id"]]
        return 200, {}

    @staticmethod
    def _new_rule(body):
        rule = {"clients": [], "ro_rule": [], "rw_rule": [], "superuser": ["any"], "protocols": ["any"],
                "anonymous_user": "65534", "allow_suid": True, "allow_device_creation": True,
                "ntfs_unix_security": "fail", "chown_mode": "restricted"}
        rule.update({k: copy.deepcopy(v) for k, v in body.items() if k in rule})
        return rule

    def _insert_rule(self, policy, body):
        body = normalise_numbers(dict(body))
        for key in ("clients", "ro_rule", "rw_rule"):
            if not body.get(key):
                raise ApiError(400, "Missing required field: %s" % key, 262195, key)
        rule = self._new_rule(body)
        rules = policy["rules"]
        index = body.get("index")
        if index is None or index > len(rules):
            index = max([r["index"] for r in rules] + [0]) + 1
        else:
            for other in rules:
                if other["index"] >= index:
                    other["index"] += 1
        rule["index"] = index
        rules.append(rule)
        rules.sort(key=lambda r: r["index"])
        return rule

    def _rule(self, policy, index):
        rule = next((r for r in policy["rules"] if r["index"] == int(index)), None)
        if rule is None:
            raise not_found("index")
        return rule

    def _get_rules(self, request, id):  # pylint: disable=redefined-builtin
        return self._collection(self._policy(id)["rules"], request, "rule")

    def _get_rule(self, request, id, index):  # pylint: disable=redefined-builtin
        rule = self._rule(self._policy(id), index)
        return 200, project(rule, request["query"].get("fields"), _IDENTITY["rule"])

    def _post_rule(self, request, id):  # pylint: disable=redefined-builtin
        rule = self._insert_rule(self._policy(id), request["body"])
        if request["query"].get("return_records") == "true":
            return 201, {"num_records": 1, "records": [copy.deepcopy(rule)]}
        return 201, {}

    def _patch_rule(self, request, id, index):  # pylint: disable=redefined-builtin
        policy = self._policy(id)
        rule = self._rule(policy, index)
        body = normalise_numbers(dict(request["body"]))
        body.pop("index", None)
        rule.update({k: copy.deepcopy(v) for k, v in body.items() if k in self._new_rule({})})
        new_index = request["query"].get("new_index")
        if new_index not in (None, "") and int(new_index) != rule["index"]:
            target = int(new_index)
            policy["rules"].remove(rule)
            for position, other in enumerate(policy["rules"], start=1):
                other["index"] = position if position < target else position + 1
            rule["index"] = min(target, len(policy["rules"]) + 1)
            policy["rules"].append(rule)
            policy["rules"].sort(key=lambda r: r["index"])
        return 200, {}

    def _delete_rule(self, request, id, index):  # pylint: disable=redefined-builtin
        del request
        policy = self._policy(id)
        policy["rules"].remove(self._rule(policy, index))
        return 200, {}

    # -- the export access cache, through the private CLI --------------------------------------------
    @staticmethod
    def _client_match(match, address):
        """An address or subnet client-match (the simulator resolves no names or netgroups)."""
        try:
            ip = ipaddress.ip_address(address)
            if "/" in match:
                return ip in ipaddress.ip_network(match, strict=False)
            return ip == ipaddress.ip_address(match)
        except ValueError:
            return False

    def _evaluate(self, policy_name, address, access_type):
        """(rule index, access) of the first rule of the policy that matches the client (0, denied: none)."""
        policy = self._policy_by_name(policy_name)
        for rule in policy["rules"]:
            if not any(self._client_match(c["match"], address) for c in rule["clients"]):
                continue
            if not {"any", "nfs", "nfs3", "nfs4"} & set(rule.get("protocols") or ["any"]):
                continue
            allowed = {"any", "sys"}
            if access_type == "read_write" and allowed & set(rule["rw_rule"]):
                return rule["index"], "read-write"
            if allowed & set(rule["ro_rule"]):
                return rule["index"], "read"
            return rule["index"], "denied"
        return 0, "denied"

    def _cli_cache_flush(self, request):
        body = request["body"]
        vserver = body.get("vserver")
        if vserver not in (self.svm["name"], "*"):
            raise ApiError(400, 'Vserver "%s" does not exist.' % vserver, 2621462, "vserver")
        cache = body.get("cache", "all")
        if cache not in ("all", "access", "host", "id", "ip", "name", "netgroup", "showmount"):
            raise ApiError(400, 'Invalid value "%s" for field "cache".' % cache, 262179, "cache")
        self.cache_flushes.append({"vserver": vserver, "cache": cache})
        if cache in ("all", "access"):
            self.access_cache.clear()
        return 200, {}

    def _cli_check_access(self, request):
        query = request["query"]
        for key in ("vserver", "volume", "client_ip", "authentication_method", "protocol", "access_type"):
            if not query.get(key):
                raise ApiError(400, 'Missing required field "%s".' % key.replace("_", "-"), 262179, key)
        if query["vserver"] != self.svm["name"]:
            raise ApiError(400, 'Vserver "%s" does not exist.' % query["vserver"], 2621462, "vserver")
        if query["access_type"] not in ("read", "read_write"):
            raise ApiError(400, 'Invalid value "%s" for field "access-type".' % query["access_type"], 262179)
        volume = next((v for v in self.volumes.values() if v["name"] == query["volume"]), None)
        if volume is None:
            raise ApiError(400, 'Volume "%s" does not exist in Vserver "%s".' % (query["volume"], self.svm["name"]),
                           917927, "volume")
        try:
            ipaddress.ip_address(query["client_ip"])
        except ValueError:
            raise ApiError(400, 'Invalid IP address "%s".' % query["client_ip"], 262179, "client-ip") from None
        records = []
        # the SVM root (policy "default", no rules here), then the volume at its junction
        for path, policy, owner in (("/", "default", "%s_root" % self.svm["name"]),
                                    (volume["nas"]["path"] or "/" + volume["name"],
                                     volume["nas"]["export_policy"]["name"], volume["name"])):
            index, access = self._evaluate(policy, query["client_ip"], query["access_type"])
            records.append({"vserver": self.svm["name"], "volume": volume["name"], "client_ip": query["client_ip"],
                            "path": path, "policy": policy, "policy_owner": owner, "policy_owner_type": "volume",
                            "ruleidx": index, "access": access})
        return 200, {"records": records, "num_records": len(records)}

    # -- SVM peers and SnapMirror --------------------------------------------------------------------
    def _get_svm_peers(self, request):
        return self._collection(list(self.svm_peers.values()), request, "svm_peer")

    def _get_snapmirror_policies(self, request):
        records = [{"uuid": "6666%04d-0000-0000-0000-000000000000" % i, "name": name, "type": kind,
                    "scope": "cluster"} for i, (name, kind) in enumerate(SNAPMIRROR_POLICIES, start=1)]
        return self._collection(records, request, "snapmirror_policy")

    def _svm_named(self, name):
        return next((dict(svm) for svm in (self.svm, self.vault_svm) if svm["name"] == name), None)

    def _endpoint(self, body, key):
        """(svm record, volume name) of a relationship's source or destination path ``svm:volume``."""
        path = ((body.get(key) or {}).get("path") or "")
        svm_name, sep, volume = path.partition(":")
        if not sep or not volume:
            raise ApiError(400, 'Invalid value "%s" for field "%s.path": expected "svm:volume".' % (path, key),
                           13303842, "%s.path" % key)
        svm = self._svm_named(svm_name)
        if svm is None:
            raise ApiError(404, 'SVM "%s" does not exist.' % svm_name, 2621462, "%s.path" % key)
        return svm, volume

    def _volume_in(self, svm, name):
        return next((v for v in self.volumes.values() if v["name"] == name and v["svm"]["name"] == svm["name"]), None)

    @staticmethod
    def _snapmirror_policy_type(name):
        """The REST type of a built-in SnapMirror policy, or ONTAP's 404 for one that does not exist."""
        policy = dict(SNAPMIRROR_POLICIES).get(name)
        if policy is None:
            raise ApiError(404, 'SnapMirror policy "%s" does not exist.' % name, 13303827, "policy.name")
        return policy

    @staticmethod
    def _transfer_schedule(body):
        """The body's transfer_schedule.name (None: none given or cleared), or ONTAP's 404 for a missing one."""
        schedule = (body.get("transfer_schedule") or {}).get("name")
        if schedule and schedule not in SCHEDULES:
            raise ApiError(404, 'Schedule "%s" does not exist.' % schedule, 13303828, "transfer_schedule.name")
        return schedule

    def _post_relationship(self, request):
        body = request["body"]
        src_svm, src_name = self._endpoint(body, "source")
        dst_svm, dst_name = self._endpoint(body, "destination")
        source = self._volume_in(src_svm, src_name)
        if source is None:
            raise ApiError(404, 'Volume "%s" in SVM "%s" does not exist.' % (src_name, src_svm["name"]), 917927,
                           "source.path")
        if src_svm["name"] != dst_svm["name"] and not any(
                p["svm"]["name"] == dst_svm["name"] and p["peer"]["svm"]["name"] == src_svm["name"]
                and p["state"] == "peered" for p in self.svm_peers.values()):
            raise ApiError(400, 'SVM "%s" is not peered with SVM "%s".' % (dst_svm["name"], src_svm["name"]),
                           13303825, "destination.path")
        if any(r["destination"]["path"] == body["destination"]["path"] for r in self.relationships.values()):
            raise ApiError(409, 'A SnapMirror relationship with destination "%s" already exists.'
                           % body["destination"]["path"], 13303812, "destination.path")
        policy_name = (body.get("policy") or {}).get("name", "MirrorAllSnapshots")
        policy = self._snapmirror_policy_type(policy_name)
        schedule = self._transfer_schedule(body)
        destination = self._volume_in(dst_svm, dst_name)
        create = (body.get("create_destination") or {}).get("enabled") in (True, "true")
        if destination is not None and destination["type"] != "dp":
            raise ApiError(400, 'Destination volume "%s" must be of type DP.' % dst_name, 13303846, "destination.path")
        if destination is None and not create:
            raise ApiError(404, 'Volume "%s" in SVM "%s" does not exist.' % (dst_name, dst_svm["name"]), 917927,
                           "destination.path")
        state = body.get("state", "uninitialized")
        if state not in ("uninitialized", "snapmirrored"):
            raise ApiError(400, 'Invalid value "%s" for field "state".' % state, 262179, "state")
        rel_uuid = str(uuidlib.uuid4())
        record = {"uuid": rel_uuid, "source": {"path": body["source"]["path"], "svm": src_svm},
                  "destination": {"path": body["destination"]["path"], "svm": dst_svm},
                  "policy": {"name": policy_name, "type": policy}, "state": "uninitialized", "healthy": True,
                  "transfer_schedule": {"name": schedule} if schedule else None, "transfers": []}

        def apply():
            if destination is None:
                vol_uuid = str(uuidlib.uuid4())
                self.volumes[vol_uuid] = {
                    "uuid": vol_uuid, "name": dst_name, "svm": dst_svm, "type": "dp", "style": "flexvol",
                    "state": "online", "comment": "", "aggregates": [dict(self.aggregate)],
                    "space": {"size": source["space"]["size"]},
                    "nas": {"path": "", "security_style": "unix", "export_policy": {"name": "default"}},
                    "snapshot_policy": {"name": "none"}, "quota": {"enabled": False, "state": "off"}}
            self.relationships[rel_uuid] = record
            if state == "snapmirrored":
                self._transfer(record, "initialize")

        return self._job(request, 201, apply=apply)

    def _transfer(self, record, kind):
        """A baseline (initialize) or incremental (update) transfer, finished at once."""
        transfer = {"uuid": str(uuidlib.uuid4()), "state": "success", "type": kind,
                    "relationship": {"uuid": record["uuid"]}}
        record["transfers"].append(transfer)
        record["state"] = "snapmirrored"
        record["transfer"] = {"uuid": transfer["uuid"], "state": "success"}
        return transfer

    def _relationship(self, uuid):
        record = self.relationships.get(uuid)
        if record is None:
            raise not_found()
        return record

    @staticmethod
    def _relationship_view(record):
        view = {k: copy.deepcopy(v) for k, v in record.items() if k != "transfers" and v is not None}
        return view

    def _get_relationships(self, request):
        return self._collection([self._relationship_view(r) for r in self.relationships.values()], request,
                                "relationship")

    def _get_relationship(self, request, uuid):
        return 200, project(self._relationship_view(self._relationship(uuid)), request["query"].get("fields"),
                            _IDENTITY["relationship"])

    def _patch_relationship(self, request, uuid):
        record = self._relationship(uuid)
        body = request["body"]
        policy_name = (body.get("policy") or {}).get("name")
        policy = self._snapmirror_policy_type(policy_name) if policy_name is not None else None
        schedule = self._transfer_schedule(body)
        state = body.get("state")
        if state not in (None, "snapmirrored", "paused", "broken_off"):
            raise ApiError(400, 'Invalid value "%s" for field "state".' % state, 262179, "state")

        def apply():
            if policy_name is not None:
                record["policy"] = {"name": policy_name, "type": policy}
            if "transfer_schedule" in body:
                record["transfer_schedule"] = {"name": schedule} if schedule else None
            if state == "snapmirrored":
                if record["state"] == "uninitialized":
                    self._transfer(record, "initialize")
                record["state"] = "snapmirrored"
            elif state is not None:
                record["state"] = state

        return self._job(request, 200, apply=apply)

    def _delete_relationship(self, request, uuid):
        self._relationship(uuid)

        def apply():
            del self.relationships[uuid]  # the destination volume and its copies stay, as on ONTAP

        return self._job(request, 200, apply=apply)

    def _get_transfers(self, request, uuid):
        return self._collection(copy.deepcopy(self._relationship(uuid)["transfers"]), request, "transfer")

    def _post_transfer(self, request, uuid):
        record = self._relationship(uuid)
        if record["state"] == "uninitialized":
            raise ApiError(400, "The relationship is not initialized.", 13303812)
        transfer = self._transfer(record, "update")
        return 201, {"num_records": 1, "records": [copy.deepcopy(transfer)]}

    # -- snapshot policies and their schedules ----------------------------------------------------
    def _add_snapshot_policy(self, name, svm, enabled, copies, comment=""):
        record = {"uuid": str(uuidlib.uuid4()), "name": name, "scope": "svm" if svm else "cluster",
                  "enabled": enabled, "comment": comment, "copies": []}
        if svm:
            record["svm"] = dict(svm)
        self.snapshot_policies[record["uuid"]] = record
        for body in copies:
            self._add_snapshot_copy(record, body)
        return record

    @staticmethod
    def _snapshot_count(value, where):
        if isinstance(value, str) and value.strip().isdigit():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0 or value > 1023:
            raise ApiError(400, 'Invalid value for field "%s": the count must be from 0 to 1023.' % where, 262179,
                           where)
        return value

    def _add_snapshot_copy(self, record, body):
        """One schedule of a policy: it must be a cluster job schedule, once per policy, and the policy's
        copies stay at most 1,023 (ONTAP's limit per volume)."""
        schedule = ((body.get("schedule") or {}).get("name") or "").strip()
        if schedule not in SCHEDULES:
            raise ApiError(404, 'Schedule "%s" does not exist.' % schedule, 1638455, "schedule.name")
        if any(c["schedule"]["name"] == schedule for c in record["copies"]):
            raise ApiError(409, 'Schedule "%s" is already part of Snapshot policy "%s".' % (schedule, record["name"]),
                           1638454, "schedule.name")
        count = self._snapshot_count(body.get("count"), "count")
        if count + sum(c["count"] for c in record["copies"]) > 1023:
            raise ApiError(400, "The total count of Snapshot copies of a policy cannot exceed 1023.", 1638473, "count")
        label = body.get("snapmirror_label") or "-"
        entry = {"schedule": {"name": schedule, "uuid": SCHEDULES[schedule]}, "count": count,
                 "prefix": body.get("prefix") or schedule, "snapmirror_label": label}
        record["copies"].append(entry)
        return entry

    def _snapshot_policy(self, policy_uuid):
        record = self.snapshot_policies.get(policy_uuid)
        if record is None:
            raise not_found()
        return record

    def _snapshot_policy_named(self, name):
        """A volume may use its SVM's policy of that name or, failing that, the cluster's."""
        found = sorted((p for p in self.snapshot_policies.values() if p["name"] == name
                        and (p["scope"] == "cluster" or p["svm"]["name"] == self.svm["name"])),
                       key=lambda p: p["scope"] != "svm")
        if not found:
            raise ApiError(404, 'Snapshot policy "%s" does not exist.' % name, 1638413, "snapshot_policy.name")
        return found[0]

    def _check_snapshot_policy(self, body):
        name = (body.get("snapshot_policy") or {}).get("name")
        if name is not None:
            self._snapshot_policy_named(name)

    def _get_snapshot_policies(self, request):
        return self._collection(list(self.snapshot_policies.values()), request, "snapshot_policy")

    def _get_snapshot_policy(self, request, uuid):
        return 200, project(self._snapshot_policy(uuid), request["query"].get("fields"),
                            _IDENTITY["snapshot_policy"])

    def _post_snapshot_policy(self, request):
        body = normalise_numbers(request["body"])
        svm = None
        if body.get("svm"):
            self._check_svm(body)
            svm = self.svm
        name = body.get("name")
        if not name:
            raise ApiError(400, "Missing required field: name", 262195, "name")
        scope = "svm" if svm else "cluster"
        if any(p["name"] == name and p["scope"] == scope for p in self.snapshot_policies.values()):
            raise ApiError(409, 'Duplicate Snapshot policy name "%s".' % name, 1638410, "name")
        copies = body.get("copies") or []
        if not copies:
            raise ApiError(400, "A Snapshot policy needs at least one schedule.", 1638456, "copies")
        if len(copies) > 5:
            raise ApiError(400, "A Snapshot policy can have at most five schedules.", 1638457, "copies")
        record = {"uuid": str(uuidlib.uuid4()), "name": name, "scope": scope,
                  "enabled": body.get("enabled", True) in (True, "true"), "comment": body.get("comment", ""),
                  "copies": []}
        if svm:
            record["svm"] = dict(svm)
        for copy_body in copies:  # all checked before the policy exists: a refused POST leaves nothing
            self._add_snapshot_copy(record, expand_dotted(copy_body))
        self.snapshot_policies[record["uuid"]] = record
        if request["query"].get("return_records") == "true":
            return 201, {"num_records": 1, "records": [copy.deepcopy(record)]}
        return 201, {}

    def _patch_snapshot_policy(self, request, uuid):
        record = self._snapshot_policy(uuid)
        body = request["body"]
        unknown = sorted(k for k in body if k not in ("enabled", "comment", "name"))
        if unknown:
            raise ApiError(400, 'Field "%s" cannot be set in this operation.' % unknown[0], 262188, unknown[0])
        if "enabled" in body:
            record["enabled"] = body["enabled"] in (True, "true")
        if "comment" in body:
            record["comment"] = body["comment"]
        return 200, {}

    def _snapshot_policy_users(self, record):
        return [v["name"] for v in self.volumes.values() if v["snapshot_policy"].get("uuid") == record["uuid"]
                or (v["snapshot_policy"].get("uuid") is None and v["snapshot_policy"]["name"] == record["name"])]

    def _delete_snapshot_policy(self, request, uuid):
        del request
        record = self._snapshot_policy(uuid)
        if record["scope"] == "cluster" and record["name"] in ("default", "default-1weekly", "none"):
            raise ApiError(409, 'Cannot delete the built-in Snapshot policy "%s".' % record["name"], 1638416)
        users = self._snapshot_policy_users(record)
        if users:
            raise ApiError(409, 'Snapshot policy "%s" is in use by volume(s) %s.' % (record["name"], ", ".join(users)),
                           1638412)
        del self.snapshot_policies[uuid]
        return 200, {}

    @staticmethod
    def _schedule_record(record, entry):
        return dict(copy.deepcopy(entry), snapshot_policy={"name": record["name"], "uuid": record["uuid"]})

    def _snapshot_copy(self, record, schedule_uuid):
        entry = next((c for c in record["copies"] if c["schedule"]["uuid"] == schedule_uuid), None)
        if entry is None:
            raise not_found("schedule.uuid")
        return entry

    def _get_snapshot_schedules(self, request, uuid):
        record = self._snapshot_policy(uuid)
        return self._collection([self._schedule_record(record, c) for c in record["copies"]], request,
                                "snapshot_schedule")

    def _get_snapshot_schedule(self, request, uuid, schedule):
        record = self._snapshot_policy(uuid)
        return 200, project(self._schedule_record(record, self._snapshot_copy(record, schedule)),
                            request["query"].get("fields"), _IDENTITY["snapshot_schedule"])

    def _post_snapshot_schedule(self, request, uuid):
        record = self._snapshot_policy(uuid)
        if len(record["copies"]) >= 5:
            raise ApiError(400, "A Snapshot policy can have at most five schedules.", 1638457, "schedule")
        self._add_snapshot_copy(record, request["body"])
        return 201, {}

    def _patch_snapshot_schedule(self, request, uuid, schedule):
        record = self._snapshot_policy(uuid)
        entry = self._snapshot_copy(record, schedule)
        body = request["body"]
        if "count" in body:
            count = self._snapshot_count(body["count"], "count")
            if count - entry["count"] + sum(c["count"] for c in record["copies"]) > 1023:
                raise ApiError(400, "The total count of Snapshot copies of a policy cannot exceed 1023.", 1638473,
                               "count")
            entry["count"] = count
        for key in ("prefix", "snapmirror_label"):
            if key in body:
                entry[key] = body[key] or ("-" if key == "snapmirror_label" else entry["schedule"]["name"])
        return 200, {}

    def _delete_snapshot_schedule(self, request, uuid, schedule):
        del request
        record = self._snapshot_policy(uuid)
        entry = self._snapshot_copy(record, schedule)
        if len(record["copies"]) == 1:
            raise ApiError(409, "A Snapshot policy must keep at least one schedule.", 1638458, "schedule")
        record["copies"].remove(entry)
        return 200, {}

    # -- qtrees -----------------------------------------------------------------------------------
    def _get_qtrees(self, request):
        return self._collection(list(self.qtrees.values()), request, "qtree")

    def _qtree(self, vol, qtree_id):
        record = self.qtrees.get((vol, int(qtree_id)))
        if record is None:
            raise not_found("id")
        return record

    def _get_qtree(self, request, vol, id):  # pylint: disable=redefined-builtin
        return 200, project(self._qtree(vol, id), request["query"].get("fields"), _IDENTITY["qtree"])

    def _post_qtree(self, request):
        body = normalise_numbers(request["body"])
        self._check_svm(body)
        volume = self._volume_named(body)
        name = body.get("name")
        if not name or "/" in name or len(name) > 64:
            raise ApiError(400, "Invalid qtree name %r." % name, 918235, "name")
        if any(q["volume"]["uuid"] == volume["uuid"] and q["name"] == name for q in self.qtrees.values()):
            raise ApiError(409, 'Qtree "%s" already exists in volume "%s".' % (name, volume["name"]), 918236, "name")
        policy_name = (body.get("export_policy") or {}).get("name") or volume["nas"]["export_policy"]["name"]
        policy = self._policy_by_name(policy_name)
        qtree_id = max([k[1] for k in self.qtrees if k[0] == volume["uuid"]] + [0]) + 1
        record = {"id": qtree_id, "name": name, "svm": dict(self.svm),
                  "volume": {"name": volume["name"], "uuid": volume["uuid"]},
                  "security_style": body.get("security_style", volume["nas"]["security_style"]),
                  "unix_permissions": body.get("unix_permissions", 755),
                  "export_policy": {"name": policy["name"], "id": policy["id"]},
                  "path": "%s/%s" % (volume["nas"]["path"], name)}

        def apply():
            self.qtrees[(volume["uuid"], qtree_id)] = record

        return self._job(request, 201, apply=apply)

    def _patch_qtree(self, request, vol, id):  # pylint: disable=redefined-builtin
        record = self._qtree(vol, id)
        body = normalise_numbers(request["body"])
        if "export_policy" in body:
            policy = self._policy_by_name(body["export_policy"].get("name"))
            body["export_policy"] = {"name": policy["name"], "id": policy["id"]}

        def apply():
            for key in ("name", "security_style", "unix_permissions", "export_policy"):
                if key in body:
                    record[key] = body[key]

        return self._job(request, 200, apply=apply)

    def _delete_qtree(self, request, vol, id):  # pylint: disable=redefined-builtin
        record = self._qtree(vol, id)

        def apply():
            del self.qtrees[(vol, record["id"])]
            for key in [k for k, r in self.quota_rules.items()
                        if r["volume"]["uuid"] == vol and r["qtree"]["name"] == record["name"]]:
                del self.quota_rules[key]

        return self._job(request, 200, apply=apply)

    # -- quota rules ------------------------------------------------------------------------------
    def _get_quota_rules(self, request):
        return self._collection(list(self.quota_rules.values()), request, "quota")

    def _quota_rule(self, rule_uuid):
        if rule_uuid not in self.quota_rules:
            raise not_found()
        return self.quota_rules[rule_uuid]

    def _get_quota_rule(self, request, uuid):
        return 200, project(self._quota_rule(uuid), request["query"].get("fields"), _IDENTITY["quota"])

    def _post_quota_rule(self, request):
        body = normalise_numbers(request["body"])
        self._check_svm(body)
        volume = self._volume_named(body)
        rule_type = body.get("type")
        if rule_type != "tree":
            raise ApiError(400, "The simulator supports tree quota rules only.", 5308545, "type")
        target = (body.get("qtree") or {}).get("name", "")
        qtree = next((q for q in self.qtrees.values()
                      if q["volume"]["uuid"] == volume["uuid"] and q["name"] == target), None)
        if target and qtree is None:
            raise ApiError(404, 'Qtree "%s" does not exist in volume "%s".' % (target, volume["name"]), 918242,
                           "qtree.name")
        if any(r["volume"]["uuid"] == volume["uuid"] and r["type"] == "tree" and r["qtree"]["name"] == target
               for r in self.quota_rules.values()):
            raise ApiError(409, "Duplicate tree quota rule for qtree \"%s\"." % target, 5308561)
        rule_uuid = str(uuidlib.uuid4())
        record = {"uuid": rule_uuid, "svm": dict(self.svm), "volume": {"name": volume["name"], "uuid": volume["uuid"]},
                  "type": "tree", "qtree": {"name": target, "id": qtree["id"] if qtree else 0},
                  "space": {}, "files": {}}
        for key in ("space", "files"):
            for limit in ("hard_limit", "soft_limit"):
                if (body.get(key) or {}).get(limit) not in (None, "-"):
                    record[key][limit] = int((body.get(key) or {})[limit])

        def apply():
            self.quota_rules[rule_uuid] = record

        return self._job(request, 201, extra=copy.deepcopy(record), apply=apply)

    def _patch_quota_rule(self, request, uuid):
        record = self._quota_rule(uuid)
        body = normalise_numbers(request["body"])

        def apply():
            for key in ("space", "files"):
                for limit, value in (body.get(key) or {}).items():
                    if value in (None, "-"):
                        record[key].pop(limit, None)
                    else:
                        record[key][limit] = int(value)

        return self._job(request, 200, apply=apply)

    def _delete_quota_rule(self, request, uuid):
        self._quota_rule(uuid)
        return self._job(request, 200, apply=lambda: self.quota_rules.pop(uuid, None))


class _Handler(http.server.BaseHTTPRequestHandler):
    sim = None  # set on the subclass made by OntapSimulator.start
    server_version = "ontap-sim"

    def log_message(self, format, *args):  # pylint: disable=redefined-builtin
        """Quiet: the simulator records requests itself."""

    def _serve(self):
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw.strip() else None
        except ValueError:
            body = None
            status, reply = 400, {"error": {"message": "Invalid JSON input.", "code": "262179"}}
        else:
            status, reply = self.sim.handle(self.command, self.path, self.headers, body)
        data = json.dumps(reply if reply is not None else {}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/hal+json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PATCH = do_DELETE = _serve
