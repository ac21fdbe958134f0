"""The lab fixture: real Xen 4.17 dom0s and a kernel-NFS filer under QEMU (lab/), built with site.yml.

One lab per test session, in this order: lab/up.sh 3 (fresh overlays: blades running plain Linux, the
dom0 and filer packages installed in the image, the NFS server not enabled), then
``ansible-playbook -i inventories/lab site.yml`` (sets up and starts the NFS server on the filer, writes
Xen's boot settings, reboots the blades into Xen through GRUB, mounts the image store, writes the guest
configs, starts the guests).
The tests then assert on the live machines. Times go to .cache/lab/timings.txt.

LAB_REUSE=1 uses a lab that is already up and converged (no up.sh, no first site.yml run);
LAB_KEEP_UP=1 leaves it running afterwards. Everything stays on 127.0.0.1 and the lab's private link.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LAB = ROOT / "lab"
CACHE = Path(os.environ.get("LAB_CACHE", ROOT / ".cache" / "lab"))
INVENTORY = ROOT / "inventories" / "lab"
PLAYBOOK = shutil.which("ansible-playbook", path=str(Path(sys.executable).parent)) or shutil.which("ansible-playbook")
TIMINGS = CACHE / "timings.txt"
# inventories/lab's guests and their addresses (plan: two per blade, g2+g3, g4+g5, g1+g6).
GUESTS = {"g%d" % i: "10.77.0.%d" % (100 + i) for i in range(1, 7)}
# The HVM guests (inventories/lab: lab_hvm_guests); the others are PVH.
HVM = ("g3", "g5")
RECAP = re.compile(r"^(\S+)\s+:\s+ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.M)


def _log(line):
    print(line, flush=True)
    with TIMINGS.open("a") as f:
        f.write(line + "\n")


def playbook_env():
    """The environment of a playbook run on the lab: no colours, per-task times (profile_tasks)."""
    return dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0", ANSIBLE_HOST_KEY_CHECKING="False",
                ANSIBLE_CALLBACKS_ENABLED="ansible.posix.profile_tasks")


def log_run(args, returncode, output):
    """Append a run's output to .cache/lab/playbooks.log (benchmarks/lab_profile.py reads it)."""
    with (CACHE / "playbooks.log").open("a") as log:
        log.write("\n===== %s (rc %d)\n%s" % (" ".join(args), returncode, output))


def playbook(*args, timeout=3600):
    """Run a playbook on the lab; its output (with per-task times) is appended to .cache/lab/playbooks.log."""
    cmd = [PLAYBOOK, "-i", str(INVENTORY), *args]
    result = subprocess.run(cmd, cwd=ROOT, env=playbook_env(), stdin=subprocess.DEVNULL, capture_output=True,
                            text=True, timeout=timeout, check=False)
    log_run(args, result.returncode, result.stdout + result.stderr)
    return result


def recap(stdout):
    """{host: (ok, changed, unreachable, failed)} from the PLAY RECAP."""
    return {m.group(1): tuple(int(m.group(i)) for i in range(2, 6)) for m in RECAP.finditer(stdout)}


def changed_tasks(stdout):
    """{(task, host)} for every task a run reported changed (the default callback's "changed: [host]" lines under
    each "TASK [name]" header; a handler's header reads "RUNNING HANDLER [name]")."""
    found, task = set(), None
    for line in stdout.splitlines():
        header = re.match(r"^(?:TASK|RUNNING HANDLER) \[(.+)\] \*+$", line)
        if header:
            task = header.group(1)
            continue
        hit = re.match(r"^changed: \[([^\]]+)\]", line)
        if hit and task:
            found.add((task, hit.group(1).split(" -> ")[0]))
    return found


class Lab:
    blades = ("blade1", "blade2", "blade3")
    filer_ip = "10.77.0.2"

    def ssh(self, vm, command, timeout=300, check=True):
        """Run COMMAND on VM. A call that must succeed (check) and fails with 255, ssh's own error, is made again
        every 5 s for up to 150 s, each retry in the timings; any other failure fails at once. Seen right after
        site.yml: for ~90 s the dom0s busy booting their HVM guests did not finish new ssh handshakes within
        ConnectTimeout (5 s, lab/common.sh; sshd logged "Connection closed ... [preauth]")."""
        deadline = time.monotonic() + 150
        while True:
            result = subprocess.run([str(LAB / "ssh.sh"), vm, command], capture_output=True, text=True,
                                    timeout=timeout, check=False)
            if not check or result.returncode != 255 or time.monotonic() > deadline:
                break
            _log("  ssh to %s failed (rc 255: %s); again in 5 s" % (vm, result.stderr.strip()[-160:]))
            time.sleep(5)
        if check and result.returncode != 0:
            detail = (vm, command, result.returncode, result.stdout, result.stderr)
            raise AssertionError("%s: %r failed (rc %d): %s%s" % detail)
        return result

    def guest(self, ip, command, via="blade1", timeout=180):
        """Run a shell command inside a lab guest through its agent (tcp/7000, lab network only),
        from a dom0; retried while the agent is not up yet (bounded)."""
        script = (
            "import socket, sys, time\n"
            "deadline = time.time() + 120\n"
            "while True:\n"
            "    try:\n"
            "        s = socket.create_connection((sys.argv[1], 7000), timeout=10); break\n"
            "    except OSError:\n"
            "        if time.time() > deadline: raise\n"
            "        time.sleep(2)\n"
            "s.settimeout(150)\n"
            "s.sendall(sys.argv[2].encode() + b'\\nexit\\n'); s.shutdown(socket.SHUT_WR)\n"
            "out = b''\n"
            "while True:\n"
            "    b = s.recv(65536)\n"
            "    if not b: break\n"
            "    out += b\n"
            "sys.stdout.write(out.decode(errors='replace'))\n"
        )
        cmd = "python3 -c %s %s %s" % (shlex.quote(script), shlex.quote(ip), shlex.quote(command))
        return self.ssh(via, cmd, timeout=timeout).stdout

    def wait_ssh(self, vm, limit=600):
        """Wait (bounded) until ``vm`` answers ssh again; the seconds it took."""
        t0 = time.monotonic()
        while self.ssh(vm, "true", timeout=60, check=False).returncode != 0:
            assert time.monotonic() - t0 < limit, "%s: no ssh after %d s" % (vm, limit)
            time.sleep(3)
        return time.monotonic() - t0

    def xl_list(self, blade):
        out = self.ssh(blade, "xl list").stdout.splitlines()[1:]
        return sorted(line.split()[0] for line in out if line.split() and line.split()[0] != "Domain-0")

    def plan(self, tmp_path):
        out = tmp_path / "plan.json"
        result = playbook(str(ROOT / "tests" / "lab" / "plan_assignments.yml"), "-e", "plan_out=%s" % out)
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
        return json.loads(out.read_text())


def _timed(label, fn):
    t0 = time.monotonic()
    result = fn()
    _log("%-52s %7.1f s" % (label, time.monotonic() - t0))
    return result


@pytest.fixture(scope="session")
def lab():
    if PLAYBOOK is None:
        pytest.skip("ansible-playbook not installed (make bootstrap)")
    CACHE.mkdir(parents=True, exist_ok=True)
    TIMINGS.write_text("")
    (CACHE / "playbooks.log").write_text("")
    lab = Lab()
    reuse = os.environ.get("LAB_REUSE") == "1"
    try:
        if not reuse:
            subprocess.run([str(LAB / "down.sh"), "--wipe"], check=True, timeout=120)
            _timed("lab image (lab/build-image.sh; 'cached' if hit)",
                   lambda: subprocess.run([str(LAB / "build-image.sh")], check=True, timeout=1800))
            _timed("lab up: filer + 3 blades to ssh (lab/up.sh 3)",
                   lambda: subprocess.run([str(LAB / "up.sh"), "3"], check=True, timeout=900))
            result = _timed("site.yml, first run (Xen boot settings, reboot, guests)", lambda: playbook("site.yml"))
            if result.returncode != 0:
                tail = result.stdout[-6000:] + result.stderr[-3000:]
                pytest.fail("site.yml failed on the fresh lab:\n" + tail)
        yield lab
    finally:
        # Also when the lab's setup failed: four QEMUs left running would slow whatever runs next.
        if os.environ.get("LAB_KEEP_UP") != "1":
            subprocess.run([str(LAB / "down.sh")], check=False, timeout=120)
