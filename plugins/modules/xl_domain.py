#!/usr/bin/python
# Copyright: consolidation.xen contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: xl_domain
short_description: Start, shut down or live-migrate one Xen guest with xl, and check both ends after a migration
version_added: 0.1.0
description:
  - Manages one running Xen guest on the dom0 it runs on with C(xl) (Xen 4.17). xl keeps no record of
    guests that do not run, so V(shutdown) and V(absent) both mean that no domain of that name exists here.
  - V(running) starts the guest from O(config) with C(xl create) unless it already runs here.
  - V(shutdown) asks the guest to shut down (C(xl shutdown -w), bounded by O(timeout)) and fails when it
    is still there, unless O(force) is true, which then runs C(xl destroy). A paused or crashed guest cannot
    shut down by itself; it is destroyed only with O(force). A domain that has shut down (or is being
    destroyed) but is still listed in state C(s) or C(d) is given up to 30 seconds to leave C(xl list)
    (its xl process tears it down) before the module judges.
  - V(absent) is the same without the polite part when O(force) is true (C(xl destroy) at once); without
    O(force) it behaves like V(shutdown).
  - V(migrated) moves the guest to the dom0 O(target) with C(xl -vvv migrate NAME TARGET) (live, over ssh; root
    ssh trust between the dom0s is set up by the C(consolidation.xen.dom0) role). Before it, the module makes
    sure the target does not hold a copy yet; afterwards, whatever C(xl migrate) returned, it lists the
    domains on both ends (on the target with C(ssh -o BatchMode=yes TARGET xl list)) and reports
    RV(outcome) - V(migrated), V(still_on_source), V(running_twice) (a copy on each end, paused or not;
    both may write the same disks), V(lost) (on neither end) or V(unknown) (an end could not be listed).
    Anything but a clean V(migrated) fails the task with that message.
  - Idempotent - V(running) when the guest runs here, V(shutdown)/V(absent) when it does not, and
    V(migrated) when it is not here but runs on O(target) report no change. V(migrated) for a guest that
    runs on neither fails.
  - A copy named C(NAME--incoming) or C(NAME--migratedaway) (left by an interrupted migration) makes
    V(running) and V(migrated) fail, so nothing starts a second copy.
  - In check mode nothing that changes a domain runs (only C(xl list), and C(ssh TARGET xl list) for
    V(migrated)); RV(commands) shows what would run.
author:
  - consolidation.xen maintainers (@consolidation-xen)
options:
  name:
    description: The guest's name (the C(name) in its xl config and in C(xl list)).
    type: str
    required: true
  state:
    description: What should be true afterwards (see the description).
    type: str
    choices: [running, shutdown, absent, migrated]
    default: running
  config:
    description: The guest's xl config file on this dom0. Required for O(state=running).
    type: path
  target:
    description: The dom0 to move the guest to, as C(ssh) and C(xl migrate) reach it. Required for
      O(state=migrated).
    type: str
  timeout:
    description: Seconds to wait for a guest to shut down (V(shutdown), and V(absent) without O(force)).
    type: int
    default: 120
  force:
    description: Destroy the guest (C(xl destroy), like pulling the plug) when it does not shut down within
      O(timeout), is paused or crashed, or at once for O(state=absent). Never done without it.
    type: bool
    default: false
extends_documentation_fragment:
  - consolidation.xen.attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
notes:
  - HVM guests shut down only with PV drivers (C(xl shutdown) needs them); without, use O(force).
  - PV guests cannot be live-migrated on Debian's Xen 4.17 (no shadow paging); C(xl migrate) fails with
    C(Failed to enable logdirty) and the guest stays on the source (RV(outcome=still_on_source)).
  - The shutdown bound uses C(timeout) from coreutils.
seealso:
  - name: xl(1)
    description: The Xen 4.17 xl reference (create, shutdown, destroy, migrate).
    link: https://xenbits.xen.org/docs/4.17-testing/man/xl.1.html
  - module: consolidation.xen.xen_host_info
  - module: consolidation.xen.xl_configs
"""

EXAMPLES = r"""
- name: Start www1 on this dom0
  consolidation.xen.xl_domain:
    name: www1
    config: /etc/xen/domains/www1.cfg

- name: Move www1 to blade2 (live)
  consolidation.xen.xl_domain:
    name: www1
    state: migrated
    target: blade2
  register: moved

- name: Shut down www1, pull the plug after 5 minutes
  consolidation.xen.xl_domain:
    name: www1
    state: shutdown
    timeout: 300
    force: true
"""

RETURN = r"""
name:
  description: The guest.
  returned: always
  type: str
host:
  description: This dom0 (C(platform.node())).
  returned: always
  type: str
target:
  description: O(target), as given.
  returned: always
  type: str
state_before:
  description: The guest on this host before - V(absent), V(running), V(paused), V(crashed), V(dying) or
    V(shutting_down).
  returned: always
  type: str
state_after:
  description: The guest on this host afterwards (same words; predicted in check mode).
  returned: always
  type: str
target_state:
  description: The guest on O(target) afterwards (same words; null when it could not be listed).
  returned: when state is migrated
  type: str
outcome:
  description: Where the guest is after C(xl migrate) - V(migrated), V(still_on_source), V(running_twice),
    V(lost) or V(unknown). V(migrated) too when it already was on the target.
  returned: when state is migrated
  type: str
seconds:
  description: How long C(xl migrate) took.
  returned: when xl migrate ran
  type: float
downtime:
  description: Seconds the guest ran nowhere - from the sender's "guest has suspended" to the receiver's
    "Domain started" in the output of C(xl -vvv migrate), timed as the lines arrived (so it includes the
    ssh round trip). Null when xl printed neither mark (a failed migration).
  returned: when xl migrate ran
  type: float
commands:
  description: The commands that changed (or in check mode would change) something, each an argv list.
  returned: always
  type: list
  elements: list
rc:
  description: Exit status of the xl command that failed.
  returned: failure of a command
  type: int
stdout:
  description: Its standard output.
  returned: failure of a command
  type: str
stderr:
  description: Its standard error.
  returned: failure of a command
  type: str
"""

import os
import platform
import re
import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.consolidation.xen.plugins.module_utils import xl as xlutil

# module-level, so unit tests can point it at a file of their own
CAPABILITIES = xlutil.CAPABILITIES
SSH_OPTIONS = ["-o", "BatchMode=yes", "-o", "ConnectTimeout=15"]
KILL_AFTER = 5
# A domain that has shut down (xl shutdown -w returned) or is being destroyed stays in xl list (state s or
# d) until its xl process has torn it down (on_poweroff): up to this many seconds, polled every POLL_S.
SETTLE_S = 30
POLL_S = 0.5


class XlDomain:
    def __init__(self, module):
        self.module = module
        self.p = module.params
        self.name = self.p["name"]
        self.host = platform.node()
        self.result = dict(changed=False, name=self.name, host=self.host, target=self.p["target"], commands=[])

    # -- helpers ------------------------------------------------------------------------------------
    def fail(self, msg, **kw):
        self.result.update(kw)
        self.module.fail_json(msg=msg, **self.result)

    def done(self, msg=None):
        if msg:
            self.result["msg"] = msg
        self.module.exit_json(**self.result)

    def local(self, required=True):
        """This host's domains (plain xl list); None when xl list fails and not required."""
        rc, out, err = self.module.run_command([self.xl, "list"])
        if rc == 0:
            try:
                return xlutil.parse_list(out)
            except xlutil.XlParseError as exc:
                err = str(exc)
        if required:
            self.fail("%s: xl list failed (rc=%s) while managing guest %s: %s"
                      % (self.host, rc, self.name, err.strip()),
                      rc=rc, stdout=out, stderr=err)
        return None

    def remote(self):
        """(domains on the target or None, error text)."""
        target = self.p["target"]
        rc, out, err = self.module.run_command([self.ssh] + SSH_OPTIONS + ["--", target, "xl", "list"])
        if rc != 0:
            return None, "ssh %s xl list exited %s: %s" % (target, rc, (err or out).strip())
        try:
            return xlutil.parse_list(out), ""
        except xlutil.XlParseError as exc:
            return None, "ssh %s xl list: %s" % (target, exc)

    def run(self, argv):
        """Run a state-changing command, recorded in commands; the caller re-lists and judges."""
        self.result["commands"].append(argv)
        return self.module.run_command(argv)

    def run_timed(self, argv):
        """run() for xl migrate: also the monotonic time each output line arrived at, for the downtime.
        Returns (rc, stdout, stderr without xl's debug lines, [(seconds, line)])."""
        self.result["commands"].append(argv)
        # run_command returns only when the process has ended; the downtime needs each line as it arrives
        return xlutil.run_timed(argv)

    def settle(self):
        """This guest's state here once it is no longer on its way out (shutting_down or dying), bounded."""
        deadline = time.monotonic() + SETTLE_S
        while True:
            after = xlutil.run_state(xlutil.find(self.local(), self.name))
            if after not in ("shutting_down", "dying") or time.monotonic() >= deadline:
                return after
            time.sleep(POLL_S)

    def leftovers(self, domains, where):
        extra = [d for d in xlutil.copies(domains, self.name) if d["name"] != self.name]
        if extra:
            self.fail("%s: %s holds %s, left by an interrupted migration; CHECK BOTH ENDS and clean up by hand "
                      "before starting or moving the guest" % (
                          self.name, where, ", ".join("%s (%s)" % (d["name"], d["state"]) for d in extra)))

    # -- states -------------------------------------------------------------------------------------
    def main(self):
        self.xl = self.module.get_bin_path("xl")
        if not self.xl:
            self.fail("%s: xl is not installed (no xl in PATH or sbin); cannot manage guest %s"
                      % (self.host, self.name))
        problem = xlutil.dom0_problem(CAPABILITIES)
        if problem:
            self.fail("%s is not a Xen dom0 (%s); cannot manage guest %s" % (self.host, problem, self.name))
        domains = self.local()
        dom = xlutil.find(domains, self.name)
        before = xlutil.run_state(dom)
        self.result.update(state_before=before, state_after=before)
        state = self.p["state"]
        if state == "running":
            self.running(domains, dom, before)
        elif state == "migrated":
            self.migrated(domains, dom, before)
        else:
            self.stopped(dom, before)

    def running(self, domains, dom, before):
        self.leftovers(domains, self.host)
        if before == "running":
            self.done("%s already runs on %s" % (self.name, self.host))
        if before != "absent":
            self.fail("%s is %s on %s (xl list state %s); xl_domain does not resume or restart it - check it, then "
                      "xl unpause it or destroy it by hand" % (self.name, before, self.host, dom["state"]))
        config = self.p["config"]
        if not os.path.isfile(config):
            self.fail("%s: the config %s of guest %s does not exist" % (self.host, config, self.name))
        named = _config_name(config)
        if named is not None and named != self.name:
            self.fail("%s: the config %s names the guest %r, not %r" % (self.host, config, named, self.name))
        argv = [self.xl, "create", config]
        self.result.update(changed=True, state_after="running")
        if self.module.check_mode:
            self.result["commands"].append(argv)
            self.done("would start %s on %s" % (self.name, self.host))
        rc, out, err = self.run(argv)
        after = xlutil.run_state(xlutil.find(self.local(), self.name))
        self.result["state_after"] = after
        if rc != 0 or after != "running":
            self.fail("%s: xl create %s for guest %s exited %s and the guest is %s: %s" % (
                self.host, config, self.name, rc, after, (err or out).strip()), rc=rc, stdout=out, stderr=err)
        self.done("started %s on %s" % (self.name, self.host))

    def stopped(self, dom, before):
        if before == "absent":
            self.done("%s does not run on %s" % (self.name, self.host))
        force, timeout = self.p["force"], self.p["timeout"]
        polite = not (self.p["state"] == "absent" and force) and before in ("running", "shutting_down")
        if not polite and not force:
            self.fail("%s is %s on %s (xl list state %s) and cannot shut down by itself; force: true destroys it" % (
                self.name, before, self.host, dom["state"]))
        self.result.update(changed=True, state_after="absent")
        shutdown = [self.module.get_bin_path("timeout", required=True), "--kill-after=%d" % KILL_AFTER, str(timeout),
                    self.xl, "shutdown", "-w", self.name]
        destroy = [self.xl, "destroy", self.name]
        if self.module.check_mode:
            self.result["commands"] = ([shutdown] if polite else []) + ([destroy] if force else [])
            self.done("would %s %s on %s" % ("shut down" if polite else "destroy", self.name, self.host))
        if polite:
            rc, out, err = self.run(shutdown)
            after = self.settle() if rc == 0 else xlutil.run_state(xlutil.find(self.local(), self.name))
            self.result["state_after"] = after
            if after == "absent":
                self.done("shut down %s on %s" % (self.name, self.host))
            if not force:
                why = "did not shut down within %s s" % timeout if rc == 124 else "xl shutdown exited %s" % rc
                self.fail("%s %s on %s (it is %s); force: true would destroy it: %s" % (
                    self.name, why, self.host, after, (err or out).strip()), rc=rc, stdout=out, stderr=err)
            self.module.warn("%s did not shut down within %s s on %s; destroying it (force)"
                             % (self.name, timeout, self.host))
        rc, out, err = self.run(destroy)
        after = self.settle()
        self.result["state_after"] = after
        if after != "absent":
            self.fail("%s: xl destroy %s exited %s and the guest is still %s: %s" % (
                self.host, self.name, rc, after, (err or out).strip()), rc=rc, stdout=out, stderr=err)
        self.done("destroyed %s on %s" % (self.name, self.host))

    def migrated(self, domains, dom, before):
        target = self.p["target"]
        # The target becomes an argument of ssh and of xl migrate: never an option, never two words.
        if not target or target.startswith("-") or re.search(r"[\s\x00-\x1f\x7f]", target):
            self.fail("%s: target %r is not a host name or address (it would be read as an option or split); "
                      "guest %s is not touched" % (self.host, target, self.name))
        if target in (self.host, self.host.split(".")[0], "localhost", "127.0.0.1"):
            self.fail("%s: target %s is this host; cannot migrate guest %s to itself" % (self.host, target, self.name))
        self.ssh = self.module.get_bin_path("ssh")
        if not self.ssh:
            self.fail("%s: ssh is not installed; cannot check or migrate guest %s to %s"
                      % (self.host, self.name, target))
        self.leftovers(domains, self.host)
        peer, err = self.remote()
        if peer is None:
            self.fail("%s: cannot list the domains on %s, so guest %s is not touched: %s" % (
                self.host, target, self.name, err), target_state=None)
        there = xlutil.copies(peer, self.name)
        target_state = xlutil.run_state(xlutil.find(peer, self.name))
        self.result.update(target_state=target_state)
        if before == "absent":
            if target_state == "running" and len(there) == 1:
                self.result["outcome"] = "migrated"
                self.done("%s already runs on %s (not on %s)" % (self.name, target, self.host))
            if there:
                self.fail("%s does not run on %s, and on %s it is %s; check it by hand" % (
                    self.name, self.host, target, ", ".join("%s (%s)" % (d["name"], d["state"]) for d in there)))
            self.fail("%s runs on neither %s nor %s; start it with state=running first"
                      % (self.name, self.host, target))
        if there:
            self.fail("%s runs on %s and ALSO exists on %s (%s); not migrating - check both ends by hand" % (
                self.name, self.host, target, ", ".join("%s %s" % (d["name"], d["state"]) for d in there)),
                outcome="running_twice")
        if before != "running":
            self.fail("%s is %s on %s (xl list state %s); only a running guest is migrated" % (
                self.name, before, self.host, dom["state"]))
        argv = [self.xl, "-vvv", "migrate", self.name, target]
        self.result.update(changed=True, state_after="absent", target_state="running", outcome="migrated")
        if self.module.check_mode:
            self.result["commands"].append(argv)
            self.done("would migrate %s from %s to %s" % (self.name, self.host, target))
        start = time.monotonic()
        rc, out, err, timed = self.run_timed(argv)
        self.result["seconds"] = round(time.monotonic() - start, 1)
        self.result["downtime"] = xlutil.migration_downtime(timed)
        mine = self.local(required=False)
        peer, peer_err = self.remote()
        src = None if mine is None else xlutil.copies(mine, self.name)
        dst = None if peer is None else xlutil.copies(peer, self.name)
        outcome, msg = xlutil.migration_outcome(rc, src, dst, name=self.name, source=self.host, target=target)
        self.result.update(
            outcome=outcome,
            changed=outcome != "still_on_source",
            state_after=None if mine is None else xlutil.run_state(xlutil.find(mine, self.name)),
            target_state=None if peer is None else xlutil.run_state(xlutil.find(peer, self.name)),
        )
        if peer_err:
            msg += " (%s)" % peer_err
        clean = outcome == "migrated" and self.result["target_state"] == "running" and len(dst) == 1
        if clean:
            if rc != 0:
                self.module.warn(msg)
                self.result.update(rc=rc, stdout=out, stderr=err)
            self.done(msg)
        self.fail(msg, rc=rc, stdout=out, stderr=err)


def _config_name(path):
    """The name = "..." of an xl config, or None when it has none this simple reader finds."""
    try:
        with open(path) as f:
            text = f.read()
    except (OSError, UnicodeDecodeError):
        return None
    match = re.search(r"""^\s*name\s*=\s*["']([^"']*)["']""", text, re.M)
    return match.group(1) if match else None


def main():
    module = AnsibleModule(
        argument_spec=dict(
            name=dict(type="str", required=True),
            state=dict(type="str", choices=["running", "shutdown", "absent", "migrated"], default="running"),
            config=dict(type="path"),
            target=dict(type="str"),
            timeout=dict(type="int", default=120),
            force=dict(type="bool", default=False),
        ),
        required_if=[("state", "running", ["config"]), ("state", "migrated", ["target"])],
        supports_check_mode=True,
    )
    XlDomain(module).main()


if __name__ == "__main__":
    main()
