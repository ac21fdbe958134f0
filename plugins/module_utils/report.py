# Copyright: consolidation.xen contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""plan.yml's report: the plan as aligned text for the terminal, and as a self-contained HTML page.

Pure Python: no Ansible, no I/O. Both read the engine's placement report (engine.placement, what
capacity_check returns as ``placement``), its headroom (engine.capacity) and the preflight's warnings.
"""

from __future__ import annotations

import html

from ansible_collections.consolidation.xen.plugins.module_utils.engine import failure_table, table_lines

# Bar segments, in the order they are drawn; the colours are the report's legend.
SEGMENTS = (("pv", "PV/PVH guest", "#3b7dd8"), ("hvm", "HVM guest", "#e8833a"), ("dom0", "dom0", "#6c757d"),
            ("reserve", "Xen reserve", "#343a40"), ("free", "free", "#e9ecef"))


def _pct(part, whole):
    return 0.0 if not whole else 100.0 * part / whole


def shape_text(shape):
    """A guest shape ({memory_mb, vcpus, type}) for people: ``1G, 1 vCPU, pvh``."""
    shape = shape or {}
    vcpus = shape.get("vcpus", 1)
    return "%s, %s vCPU%s, %s" % (shape.get("memory_mb", "?"), vcpus, "" if str(vcpus) == "1" else "s",
                                  shape.get("type", "pvh"))


def headroom_line(capacity):
    c = capacity
    moved = (" if %d planned guest(s) move (%d where they run)" % (c["moves"], c["fits_in_place"])
             if c.get("moves") else "")
    return "%d more guest(s) of %s fit with N-%d%s; counting bound %s%s; limited by %s" % (
        c["fits"], shape_text(c.get("shape")), c["tolerate"], moved, c["bound"], " (exact)" if c.get("exact") else "",
        c["limited_by"])


def plan_lines(placement, capacity=None, maintenance_lines=None, warnings=(), refused=(), path=None):
    """plan.yml's text: the placement table, the proof (each reason once), the headroom, the maintenance
    schedule, the warnings, where the HTML report is."""
    failover = placement["failover"]
    strategy = placement.get("strategy") or "-"
    lines = ["Placement (%s; memory as the engine counts it: guests with Xen's overhead):" % strategy]
    rows = [("host", "state", "guests", "memory used/capacity MiB", "vCPUs used/capacity", "HVM", "guests")]
    for name, h in placement["hosts"].items():
        hvm = str(h["hvm_guests"]) + ("/%d" % h["max_hvm"] if h.get("max_hvm") is not None else "")
        rows.append((name, h["state"], str(len(h["guests"])),
                     "%d/%d (%d%%)" % (h["used_mb"], h["capacity_mb"], round(_pct(h["used_mb"], h["capacity_mb"]))),
                     "%d/%d" % (h["vcpus_used"], h["vcpus_capacity"]), hvm, ", ".join(h["guests"]) or "-"))
    lines.extend(table_lines(rows))
    for u in placement.get("unplaced") or []:
        lines.append("  not placed: %s (%s)" % (u["guest"], u.get("reason", "")))
    lines.extend(failure_table(placement))
    if capacity:
        lines.append("Headroom: " + headroom_line(capacity))
    if maintenance_lines:
        lines.append("Maintenance schedule:")
        lines.extend("  " + line for line in maintenance_lines)
    lines.extend("WARNING: " + w for w in warnings or ())
    if refused:
        last = refused[-1]
        lines.append("Refused%s; the reasons are above" % (last[len("plan: refused"):] if last.startswith(
            "plan: refused") else ": " + last))
    if path:
        lines.append("HTML report: %s" % path)
    verdict = "PASSED" if failover.get("hosts_ok", failover["ok"]) and placement["ok"] else "FAILED"
    lines.append("Verdict: N-%d %s" % (failover["tolerate"], verdict))
    return lines


def _bar(host, h, kind):
    """One host's memory or vCPU bar: segments with their size in data attributes and a title each."""
    segs = []
    if kind == "memory":
        whole = h["memory_mb"]
        for g in h.get("guest_detail") or []:
            cls = "hvm" if g["type"] == "hvm" else "pv"
            segs.append((cls, g["name"], g["memory_mb"], "%s: %d MiB (%s)" % (g["name"], g["memory_mb"], g["type"])))
        segs.append(("dom0", "dom0", h["dom0_memory_mb"], "dom0: %d MiB" % h["dom0_memory_mb"]))
        segs.append(("reserve", "Xen", h["xen_reserve_mb"], "Xen reserve: %d MiB" % h["xen_reserve_mb"]))
        segs.append(("free", "free", h["free_mb"], "free: %d MiB" % h["free_mb"]))
    else:
        whole = h["vcpus_capacity"]
        for g in h.get("guest_detail") or []:
            cls = "hvm" if g["type"] == "hvm" else "pv"
            segs.append((cls, g["name"], g["vcpus"], "%s: %d vCPU(s)" % (g["name"], g["vcpus"])))
        segs.append(("free", "free", h["vcpus_free"], "free: %d vCPU(s)" % h["vcpus_free"]))
    out = ['<div class="bar" data-host="%s" data-bar="%s" data-whole="%d" role="img" aria-label="%s %s">'
           % (html.escape(host), kind, whole, html.escape(host), kind)]
    for cls, label, size, title in segs:
        size = max(0, size)
        out.append('<div class="seg %s" data-kind="%s" data-name="%s" data-size="%d" style="width:%.4f%%" '
                   'title="%s"><span>%s</span></div>'
                   % (cls, cls, html.escape(label), size, _pct(size, whole), html.escape(title), html.escape(label)))
    out.append("</div>")
    if kind == "memory":
        scale = "memory: %d of %d MiB in use (guests %d with Xen's overhead, dom0 %d, Xen reserve %d), %d free" % (
            whole - max(0, h["free_mb"]), whole, h["used_mb"], h["dom0_memory_mb"], h["xen_reserve_mb"], h["free_mb"])
    else:
        scale = "vCPUs: %d of %d in use, %d free" % (h["vcpus_used"], whole, h["vcpus_free"])
    out.append('<div class="scale">%s</div>' % html.escape(scale))
    return "".join(out)


def _table(head, rows, cls=""):
    out = ['<table class="%s"><thead><tr>%s</tr></thead><tbody>' % (cls, "".join("<th>%s</th>" % html.escape(c)
                                                                                 for c in head))]
    for row in rows:
        tr_cls = ' class="bad"' if row and row[-1] == "FAILED" else ""
        out.append("<tr%s>%s</tr>" % (tr_cls, "".join("<td>%s</td>" % html.escape(str(c)) for c in row)))
    out.append("</tbody></table>")
    return "".join(out)


CSS = """
body{font-family:DejaVu Sans,Liberation Sans,Arial,sans-serif;margin:24px;color:#212529;max-width:1200px}
h1{font-size:22px;margin:0 0 4px} h2{font-size:17px;margin:24px 0 8px;border-bottom:1px solid #dee2e6}
.verdict{display:inline-block;padding:4px 10px;border-radius:4px;font-weight:bold;color:#fff}
.passed{background:#2f9e44} .failed{background:#c92a2a}
.host{margin:10px 0 16px} .host h3{font-size:15px;margin:0 0 4px}
.bar{display:flex;width:100%;height:26px;border:1px solid #adb5bd;border-radius:3px;overflow:hidden;margin:2px 0}
.seg{height:100%;overflow:hidden;white-space:nowrap;font-size:11px;line-height:26px;color:#fff;box-sizing:border-box;
border-right:1px solid rgba(255,255,255,.6)}
.seg span{padding:0 3px}
.seg.pv{background:#3b7dd8}.seg.hvm{background:#e8833a}.seg.dom0{background:#6c757d}.seg.reserve{background:#343a40}
.seg.free{background:#e9ecef;color:#495057;border-right:0}
.scale{font-size:12px;color:#495057}
.legend span{display:inline-block;margin-right:14px;font-size:13px}
.legend i{display:inline-block;width:12px;height:12px;margin-right:4px;vertical-align:-1px}
table{border-collapse:collapse;font-size:13px;margin:4px 0}
th,td{border:1px solid #dee2e6;padding:3px 8px;text-align:left}
th{background:#f1f3f5} tr.bad td{background:#ffe3e3}
.warn{color:#c92a2a} ul{margin:4px 0}
"""


def plan_html(placement, capacity=None, warnings=(), refused=(), title="consolidation.xen plan", generated=None):
    """The plan as one self-contained HTML page (inline CSS, no script, nothing fetched): per-host memory and
    vCPU bars (guests, dom0, Xen reserve, free), the failure table with the stranded guests, the HVM spread,
    the headroom and the warnings."""
    failover = placement["failover"]
    ok = bool(placement["ok"])
    tol = failover["tolerate"]
    e = html.escape
    out = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8"><title>%s</title><style>%s</style>'
           "</head><body>" % (e(title), CSS)]
    out.append('<h1>%s</h1><p><span id="verdict" class="verdict %s">N-%d %s</span> %s</p>' % (
        e(title), "passed" if ok else "failed", tol, "PASSED" if ok else "FAILED",
        e("generated %s" % generated) if generated else ""))
    legend = "".join('<span><i style="background:%s"></i>%s</span>' % (seg[2], e(seg[1])) for seg in SEGMENTS)
    out.append('<div class="legend">%s</div>' % legend)
    out.append('<h2>Hosts</h2><section id="hosts">')
    for name, h in placement["hosts"].items():
        out.append('<div class="host" id="host-%s"><h3>%s <small>(%s; %d guest(s), %d/%d MiB for guests, '
                   "%d/%d vCPUs)</small></h3>" % (e(name), e(name), e(h["state"]), len(h["guests"]), h["used_mb"],
                                                  h["capacity_mb"], h["vcpus_used"], h["vcpus_capacity"]))
        out.append(_bar(name, h, "memory"))
        out.append(_bar(name, h, "vcpus"))
        out.append("</div>")
    out.append("</section>")
    out.append('<h2>Failover proof: N-%d %s <small>(%s, %d failure set(s))</small></h2>' % (
        tol, "PASSED" if failover.get("hosts_ok", failover["ok"]) else "FAILED", e(str(failover.get("method"))),
        failover.get("scenarios_total", 0)))
    rows = [(", ".join(sc["failed"]), len(sc["restarts"]), ", ".join(sc["stranded"]) or "-", sc["short_mb"],
             sc["short_vcpus"], "ok" if sc["ok"] else "FAILED") for sc in failover.get("scenarios", [])]
    out.append(_table(("failed host(s)", "restarts", "stranded guests", "short MiB", "short vCPUs", "result"), rows,
                      "failures"))
    if failover.get("unprotected"):
        out.append("<p>Not protected (movable: false): %s</p>" % e(", ".join(failover["unprotected"])))
    domains = failover.get("domains")
    if domains:
        out.append("<h2>Failure domains: %d at once, priority %s and up: %s</h2>" % (
            domains["tolerate"], e(domains["protect"]), "PASSED" if domains["ok"] else "FAILED"))
        rows = [(", ".join(sc["domains"]), ", ".join(sc["failed"]), len(sc["restarts"]), ", ".join(sc["stranded"])
                 or "-", ", ".join(sc["left_down"]) or "-", "ok" if not sc["stranded"] else "FAILED")
                for sc in domains["scenarios"]]
        out.append(_table(("failed domain(s)", "hosts", "restarts", "stranded guests", "left down (lower priority)",
                           "result"), rows, "domains"))
    out.append("<h2>HVM spread</h2>")
    rows = [(name, h["hvm_guests"], "-" if h.get("max_hvm") is None else h["max_hvm"],
             ", ".join(g["name"] for g in h.get("guest_detail") or [] if g["type"] == "hvm") or "-")
            for name, h in placement["hosts"].items()]
    out.append(_table(("host", "HVM guests", "max", "which"), rows, "hvm"))
    if capacity:
        out.append('<h2>Headroom</h2><p id="headroom">%s</p>' % e(headroom_line(capacity)))
    if placement.get("unplaced"):
        items = "".join("<li>%s: %s</li>" % (e(u["guest"]), e(u.get("reason", ""))) for u in placement["unplaced"])
        out.append('<h2>Not placed</h2><ul id="unplaced">%s</ul>' % items)
    if placement.get("not_reserved"):
        out.append("<p>Not reserved, not restarted (xen_guest_state): %s</p>" % e(", ".join(
            "%s (%s)" % kv for kv in sorted(placement["not_reserved"].items()))))
    reasons = list(placement.get("reasons") or [])
    if reasons or refused or warnings:
        out.append('<h2>Reasons and warnings</h2><ul class="warn">%s</ul>' % "".join(
            "<li>%s</li>" % e(r) for r in reasons + list(warnings or ())))
    out.append("</body></html>")
    return "\n".join(out) + "\n"
