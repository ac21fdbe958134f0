"""plan.yml's HTML report, rendered in headless Chromium and read back as a person would see it.

plan.yml runs for real (the origin's cluster, inventories/example) and writes its report; Chromium
(Debian's chromium-headless-shell, scripts/browser-packages.sh) loads the file, and the test reads the
rendered page over the DevTools protocol: the verdict badge and its colour, every host's memory and vCPU
bars (each segment's rendered width against its size, the guests against the text plan printed by the
same run), the failure table, the HVM spread and the headroom. A screenshot of each page is kept in
.cache/artifacts/ (CI keeps it). Chromium's DevTools endpoint listens on 127.0.0.1 only.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import signal
import subprocess
import time
import urllib.request

import pytest
from test_plan_playbook import ROOT, run

websocket = pytest.importorskip("websocket", reason="websocket-client (requirements-dev.txt) is not installed")

CHROMIUM = shutil.which("chromium-headless-shell") or shutil.which("chromium")
ARTIFACTS = ROOT / ".cache" / "artifacts"

# What the page shows, read from the rendered DOM (layout included: getBoundingClientRect).
READ_PAGE = r"""
(() => {
  const text = (el) => el ? el.innerText.trim() : null;
  const bg = (el) => getComputedStyle(el).backgroundColor;
  const bars = [...document.querySelectorAll('.bar')].map((bar) => ({
    host: bar.dataset.host, kind: bar.dataset.bar, whole: +bar.dataset.whole,
    width: bar.getBoundingClientRect().width - 2,  // its 1px border on each side
    segments: [...bar.querySelectorAll('.seg')].map((s) => ({
      kind: s.dataset.kind, name: s.dataset.name, size: +s.dataset.size,
      width: s.getBoundingClientRect().width, colour: bg(s)})),
  }));
  const rows = (sel) => [...document.querySelectorAll(sel + ' tbody tr')].map((tr) => ({
    cells: [...tr.cells].map((c) => c.innerText.trim()), colour: bg(tr.cells[0])}));
  const verdict = document.getElementById('verdict');
  return JSON.stringify({
    title: document.title, verdict: text(verdict), verdictColour: bg(verdict), bars,
    failures: rows('table.failures'), domains: rows('table.domains'), hvm: rows('table.hvm'),
    headroom: text(document.getElementById('headroom')),
    external: document.querySelectorAll('script, link, img, iframe, [src]').length,
    height: document.documentElement.scrollHeight,
  });
})()
"""


class Browser:
    """One headless Chromium, driven over the DevTools protocol (a websocket on 127.0.0.1)."""

    def __init__(self, workdir):
        self.proc = subprocess.Popen(
            [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run",
             "--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0", "--user-data-dir=%s" % workdir,
             "--window-size=1280,1000", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
            # Debian's chromium-headless-shell is a shell script that runs the browser without exec:
            # its own process group, so that close() stops the browser and not only the script.
            start_new_session=True)
        port = None
        deadline = time.monotonic() + 60
        while port is None:
            line = self.proc.stderr.readline()
            assert line or self.proc.poll() is None, "chromium exited (rc %s)" % self.proc.poll()
            assert time.monotonic() < deadline, "chromium gave no DevTools endpoint in 60 s"
            m = re.search(r"DevTools listening on ws://127\.0\.0\.1:(\d+)/", line)
            if m:
                port = int(m.group(1))
        with urllib.request.urlopen("http://127.0.0.1:%d/json/list" % port, timeout=30) as r:
            pages = [t for t in json.load(r) if t["type"] == "page"]
        self.ws = websocket.create_connection(pages[0]["webSocketDebuggerUrl"], timeout=60,
                                              suppress_origin=True)
        self.next_id = 0
        self.call("Page.enable")

    def call(self, method, **params):
        self.next_id += 1
        self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.recv())
            if msg.get("id") == self.next_id:
                assert "error" not in msg, (method, msg)
                return msg["result"]

    def wait_event(self, name, limit=60):
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            msg = json.loads(self.ws.recv())
            if msg.get("method") == name:
                return msg
        raise AssertionError("no %s in %d s" % (name, limit))

    def open(self, path):
        self.call("Page.navigate", url=path.as_uri())
        self.wait_event("Page.loadEventFired")
        return json.loads(self.call("Runtime.evaluate", expression=READ_PAGE, returnByValue=True)["result"]["value"])

    def screenshot(self, target, height):
        self.call("Emulation.setDeviceMetricsOverride", width=1280, height=min(int(height), 8000), deviceScaleFactor=1,
                  mobile=False)
        data = self.call("Page.captureScreenshot", format="png")["data"]
        target.write_bytes(base64.b64decode(data))

    def close(self):
        try:
            self.ws.close()
        finally:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=20)
            # Every process of the group gone: the browser too, not only its wrapper script.
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                try:
                    os.killpg(self.proc.pid, 0)
                except ProcessLookupError:
                    return
                time.sleep(0.2)
            os.killpg(self.proc.pid, signal.SIGKILL)


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    assert CHROMIUM, "chromium-headless-shell is not installed: run scripts/browser-packages.sh (scripts/test.sh does)"
    b = Browser(tmp_path_factory.mktemp("chromium"))
    yield b
    b.close()


def text_plan(stdout):
    """{host: [guests]} from the Placement table plan.yml printed in the same run."""
    out = {}
    block = stdout.split("Placement (", 1)[1].split("N-", 1)[0]
    for line in block.splitlines()[2:]:
        cells = re.split(r"\s{2,}", line.strip())
        if len(cells) == 7:
            out[cells[0]] = [g for g in cells[6].split(", ") if g != "-"]
    return out


def check_bars(page, plan):
    hosts = sorted({b["host"] for b in page["bars"]})
    assert hosts == sorted(plan), (hosts, plan)
    for bar in page["bars"]:
        assert bar["width"] > 1000, bar  # the page's width, not a collapsed box
        total = sum(s["width"] for s in bar["segments"])
        assert abs(total - bar["width"]) <= 2, (bar["host"], bar["kind"], total, bar["width"])
        assert sum(s["size"] for s in bar["segments"]) == bar["whole"], bar
        for s in bar["segments"]:
            # each segment drawn at its share of the host, to a pixel and a half
            assert abs(s["width"] - bar["width"] * s["size"] / bar["whole"]) <= 1.5, (bar["host"], bar["kind"], s)
        guests = [s["name"] for s in bar["segments"] if s["kind"] in ("pv", "hvm")]
        assert guests == plan[bar["host"]], (bar["host"], guests, plan[bar["host"]])
        kinds = [s["kind"] for s in bar["segments"] if s["kind"] not in ("pv", "hvm")]
        assert kinds == (["dom0", "reserve", "free"] if bar["kind"] == "memory" else ["free"]), kinds
        for s in bar["segments"]:
            if s["kind"] == "hvm":
                assert s["colour"] == "rgb(232, 131, 58)" and s["name"].startswith("win-"), s
            if s["kind"] == "pv":
                assert s["colour"] == "rgb(59, 125, 216)", s


def test_the_report_of_a_passing_plan_shows_every_host_to_scale(browser, tmp_path):
    target = tmp_path / "report.html"
    result = run("plan.yml", "-e", "plan_report=%s" % target)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "HTML report: %s" % target in result.stdout
    page = browser.open(target)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    browser.screenshot(ARTIFACTS / "plan-report.png", page["height"])
    assert page["external"] == 0, "the report loads something: it must be self-contained"
    assert page["verdict"] == "N-1 PASSED" and page["verdictColour"] == "rgb(47, 158, 68)", page["verdict"]
    plan = text_plan(result.stdout)
    assert len(plan) == 4 and sum(len(g) for g in plan.values()) == 30, plan
    check_bars(page, plan)
    assert [r["cells"][0] for r in page["failures"]] == ["blade1", "blade2", "rack1", "blade3"]
    assert all(r["cells"][2] == "-" and r["cells"][-1] == "ok" for r in page["failures"]), page["failures"]
    assert [r["cells"][0] for r in page["domains"]] == ["chassis1", "rack1"]
    # The origin's rule: the HVM (Windows) guests spread, one per host.
    spread = [(r["cells"][0], r["cells"][1]) for r in page["hvm"]]
    assert spread == [(h, "1") for h in ("blade1", "blade2", "rack1", "blade3")], spread
    assert page["headroom"].startswith("14 more guest(s) of 1G, 1 vCPU, pvh fit with N-1"), page["headroom"]


def test_the_report_of_a_failed_plan_shows_the_stranded_guests_in_red(browser, tmp_path):
    target = tmp_path / "failed.html"
    result = run("plan.yml", "-e", "xen_tolerate=2", "-e", "plan_report=%s" % target)
    assert result.returncode != 0 and target.exists(), result.stdout[-3000:]
    page = browser.open(target)
    browser.screenshot(ARTIFACTS / "plan-report-failed.png", page["height"])
    assert page["verdict"] == "N-2 FAILED" and page["verdictColour"] == "rgb(201, 42, 42)", page["verdict"]
    check_bars(page, text_plan(result.stdout))
    failed = {r["cells"][0]: r for r in page["failures"] if r["cells"][-1] == "FAILED"}
    assert {h: r["cells"][2] for h, r in failed.items()} == {
        "blade1, blade2": "www-conf", "blade1, blade3": "upload", "blade2, blade3": "www-conf"}, page["failures"]
    assert all(r["colour"] == "rgb(255, 227, 227)" for r in failed.values())
    assert any(r["cells"][-1] == "ok" and r["colour"] != "rgb(255, 227, 227)" for r in page["failures"])
