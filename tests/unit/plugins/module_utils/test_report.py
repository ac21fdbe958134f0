"""plan.yml's report: the aligned text and the HTML page, from the engine's placement report."""

from __future__ import annotations

import html.parser

from ansible_collections.consolidation.xen.plugins.module_utils.engine import capacity, placement
from ansible_collections.consolidation.xen.plugins.module_utils.report import headroom_line, plan_html, plan_lines

HOSTS = [{"name": "h%d" % i, "memory_mb": 8192, "cpus": 4, "dom0_memory_mb": 1024} for i in (1, 2, 3)]
GUESTS = [{"name": "g%d" % i, "memory_mb": 1024, "vcpus": 1, "type": "hvm" if i == 1 else "pvh"} for i in range(1, 7)]


class Bars(html.parser.HTMLParser):
    """Every bar's segments (data attributes and width) from the page."""

    def __init__(self):
        super().__init__()
        self.bars, self.tags = [], set()

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.tags.add(tag)
        if "data-bar" in a:
            self.bars.append({"host": a["data-host"], "kind": a["data-bar"], "whole": int(a["data-whole"]), "segs": []})
        elif "data-kind" in a:
            width = float(a["style"].split("width:")[1].rstrip("%"))
            self.bars[-1]["segs"].append((a["data-kind"], a["data-name"], int(a["data-size"]), width))


def test_the_text_is_one_aligned_block_with_the_verdict_last():
    report = placement(GUESTS, HOSTS)
    lines = plan_lines(report, capacity=capacity(GUESTS, HOSTS, {"memory_mb": "1G", "vcpus": 1, "type": "pvh"}),
                       path="/tmp/x.html")
    head = next(line for line in lines if line.lstrip().startswith("host "))
    rows = [line for line in lines if line.lstrip().startswith(("h1 ", "h2 ", "h3 ")) and " active " in line]
    assert len(rows) == 3 and all(r.index("active") == head.index("state") for r in rows)
    assert any(line.startswith("Headroom: ") and "of 1G, 1 vCPU, pvh fit with N-1" in line for line in lines)
    assert lines[-2:] == ["HTML report: /tmp/x.html", "Verdict: N-1 PASSED"]


def test_a_refused_plan_lists_each_reason_once_and_ends_failed():
    big = [dict(g, memory_mb=3000) for g in GUESTS]
    report = placement(big, HOSTS)
    assert not report["ok"]
    refused = ["plan: %s" % r for r in report["reasons"]] + ["plan: refused (-e xen_allow_degraded=true ...)"]
    lines = plan_lines(report, refused=refused)
    for reason in report["reasons"]:
        assert sum(reason in line for line in lines) == 1, reason
    assert lines[-2] == "Refused (-e xen_allow_degraded=true ...); the reasons are above"
    assert lines[-1] == "Verdict: N-1 FAILED"


def test_the_page_draws_every_host_to_scale_and_loads_nothing():
    report = placement(GUESTS, HOSTS)
    page = plan_html(report)
    parser = Bars()
    parser.feed(page)
    assert not parser.tags & {"script", "link", "img", "iframe"}
    assert sorted({b["host"] for b in parser.bars}) == ["h1", "h2", "h3"]
    for drawn in parser.bars:
        assert sum(s[2] for s in drawn["segs"]) == drawn["whole"]
        assert abs(sum(s[3] for s in drawn["segs"]) - 100.0) < 0.01
        guests = sorted(s[1] for s in drawn["segs"] if s[0] in ("pv", "hvm"))
        assert guests == report["hosts"][drawn["host"]]["guests"]
    hvm = [s for b in parser.bars if b["kind"] == "memory" for s in b["segs"] if s[0] == "hvm"]
    assert [s[1] for s in hvm] == ["g1"]
    assert 'class="verdict passed">N-1 PASSED' in page


def test_names_are_escaped():
    guests = [dict(GUESTS[0], name="g<b>")] + GUESTS[1:]
    page = plan_html(placement(guests, HOSTS))
    assert "g<b>" not in page and "g&lt;b&gt;" in page


def test_the_headroom_line_reads_as_a_sentence():
    line = headroom_line({"fits": 3, "shape": {"memory_mb": "2G", "vcpus": 2, "type": "hvm"}, "tolerate": 1,
                          "bound": 4, "exact": True, "limited_by": "memory", "moves": 0})
    assert line == "3 more guest(s) of 2G, 2 vCPUs, hvm fit with N-1; counting bound 4 (exact); limited by memory"
