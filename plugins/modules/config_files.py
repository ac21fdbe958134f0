#!/usr/bin/python
# Copyright: consolidation.xen contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: config_files
short_description: Write a host's configuration files, directories, settings and keyed lines in one task
version_added: 0.1.0
description:
  - Applies a whole set of configuration changes on a host in one module run, where the roles used one
    task (or one loop item) per file, directory or setting. Every task costs a Python start on the
    target, which dominates a run on a slow host (a Xen dom0, a host under emulation).
  - O(directories) are created when missing (parents too), O(files) hold whole-file contents (render
    templates on the controller with C(lookup('template', ...))), O(settings) are C(KEY=VALUE) lines
    edited in place so the comments a package ships stay next to them.
  - A setting replaces the B(last) line that sets its key, commented out or not (C(^#?\s*KEY\s*=), the
    way M(ansible.builtin.lineinfile) with that regexp does) and is appended when no line sets it.
  - Files are written atomically (a temporary file in the same directory, then a rename); a file whose
    content is already right is not rewritten. Owner, group and mode are set where given.
  - Everything is checked before anything is written. A relative path, a key or value with a newline,
    a file listed under two options, or a settings file that is missing and not in O(create) fails the
    task and changes nothing.
  - O(lines) keeps one line per key in files of one entry per line, for example C(authorized_keys) (the
    key type and key) or C(known_hosts) (the host name and key type); other lines are left alone.
author:
  - consolidation.xen maintainers (@consolidation-xen)
options:
  directories:
    description: Directories that must exist (absolute paths), created with their parents when missing.
    type: list
    elements: path
    default: []
  files:
    description: "Whole files, C({PATH: CONTENT}). A file's directory must exist or be in O(directories)."
    type: dict
    default: {}
  settings:
    description:
      - "C({PATH: {KEY: VALUE}}), each written as a C(KEY=VALUE) line (quote a value in it when the file's
        syntax needs quotes). A missing file fails the task unless it is in O(create)."
    type: dict
    default: {}
  lines:
    description:
      - "C({PATH: {KEY: LINE}}). The last line that starts with C(KEY) followed by a space is replaced by
        C(LINE) (which must start with C(KEY)); without one, C(LINE) is appended. The file is created when
        missing."
    type: dict
    default: {}
  create:
    description: Files of O(settings) that are created when missing.
    type: list
    elements: path
    default: []
  owner:
    description: Owner of every file and directory listed (left as it is when not given).
    type: str
  group:
    description: Group of every file and directory listed (left as it is when not given).
    type: str
  mode:
    description: Mode of every file of O(files) and O(settings), for example V("0644").
    type: raw
  directory_mode:
    description: Mode of every directory of O(directories), for example V("0755").
    type: raw
  modes:
    description:
      - "C({PATH: MODE}), a file's or directory's own mode where it differs from O(mode) or O(directory_mode)
        (for example C(authorized_keys) V(0600))."
    type: dict
    default: {}
extends_documentation_fragment:
  - consolidation.xen.attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
seealso:
  - module: ansible.builtin.lineinfile
  - module: ansible.builtin.template
"""

EXAMPLES = r"""
- name: Configure xl and xendomains, the autostart directory and the guest bridge, in one task
  consolidation.xen.config_files:
    directories: [/etc/xen/auto, /etc/network/interfaces.d]
    settings:
      /etc/xen/xl.conf: {autoballoon: '"off"', vif.default.bridge: '"xenbr0"'}
      /etc/default/xendomains: {XENDOMAINS_SAVE: '""', XENDOMAINS_AUTO: /etc/xen/auto}
    files:
      /etc/network/interfaces.d/xenbr0: "{{ lookup('ansible.builtin.template', 'ifupdown-bridge.j2') }}"
    owner: root
    group: root
    mode: "0644"
    directory_mode: "0755"

- name: Several templates at once, rendered on the controller
  consolidation.xen.config_files:
    files: "{{ dict(paths | zip(query('ansible.builtin.template', *templates))) }}"
  vars:
    paths: [/etc/systemd/network/50-br0.netdev, /etc/systemd/network/50-br0.network]
    templates: [networkd-bridge.netdev.j2, networkd-bridge.network.j2]
"""

RETURN = r"""
updated:
  description: The files and directories created or changed (content or attributes), in the order given.
  returned: always
  type: list
  elements: str
  sample: [/etc/xen/xl.conf, /etc/network/interfaces.d/xenbr0]
"""

import os
import re
import tempfile

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_bytes, to_text

ARGUMENT_SPEC = dict(
    directories=dict(type="list", elements="path", default=[]),
    files=dict(type="dict", default={}),
    settings=dict(type="dict", default={}),
    lines=dict(type="dict", default={}),
    create=dict(type="list", elements="path", default=[]),
    modes=dict(type="dict", default={}),
    owner=dict(type="str"),
    group=dict(type="str"),
    mode=dict(type="raw"),
    directory_mode=dict(type="raw"),
)
_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")


def _edit(text, edits):
    """``text`` with each ``(matches, line)`` of ``edits`` applied: the last line for which
    ``matches(old)`` is true replaced by ``line``, or ``line`` appended. Unchanged text is returned as is."""
    lines = text.splitlines()
    edited = False
    for matches, line in edits:
        hits = [i for i, old in enumerate(lines) if matches(old)]
        if hits and lines[hits[-1]] == line:
            continue
        edited = True
        if hits:
            lines[hits[-1]] = line
        else:
            lines.append(line)
    return "\n".join(lines) + "\n" if edited else text


def set_values(text, values):
    """``KEY=VALUE`` for each of ``values``, replacing the last line that sets KEY, commented out or not."""
    return _edit(text, [(re.compile(r"^#?\s*%s\s*=" % re.escape(key)).match, "%s=%s" % (key, value))
                        for key, value in values.items()])


def set_lines(text, keyed):
    """Each ``KEY: LINE`` of ``keyed``, replacing the last line that starts with ``KEY `` (or is KEY)."""
    return _edit(text, [(lambda old, key=key: old == key or old.startswith(key + " "), line)
                        for key, line in keyed.items()])


def _initial_mode(mode):
    """The mode a new file is created with: the one asked for when it is numeric, else 0644 (no mode
    asked) or 0600 (a symbolic mode, set exactly afterwards)."""
    if mode is None:
        return 0o644
    if isinstance(mode, int):
        return mode
    return int(mode, 8) if re.match(r"^0?[0-7]{3,4}$", str(mode)) else 0o600


def _one_line(value):
    return not isinstance(value, (dict, list)) and not re.search(r"[\x00-\x1f]", "" if value is None else str(value))


def problems(params):
    """Everything wrong with the request, all at once (nothing is written when there is any)."""
    found = []
    paths = [("directories", p) for p in params["directories"]] + [("files", p) for p in params["files"]]
    paths += [("settings", p) for p in params["settings"]] + [("lines", p) for p in params["lines"]]
    paths += [("create", p) for p in params["create"]] + [("modes", p) for p in params["modes"]]
    for option, path in paths:
        if not isinstance(path, str) or not os.path.isabs(path) or os.path.normpath(path) != path:
            found.append("%s: %r must be an absolute, normalised path" % (option, path))
    for one, other in (("files", "settings"), ("files", "lines"), ("settings", "lines")):
        for path in sorted(set(params[one]) & set(params[other])):
            found.append("%s is in both %s and %s" % (path, one, other))
    for path, keyed in params["lines"].items():
        if not isinstance(keyed, dict):
            found.append("lines.%s: expected a mapping {KEY: LINE}, got %r" % (path, keyed))
            continue
        for key, line in keyed.items():
            if not key or not _one_line(key) or not _one_line(line) or not isinstance(line, str) \
                    or not (line == key or line.startswith(key + " ")):
                found.append("lines.%s: %r must be one line of text starting with its key %r" % (path, line, key))
    for path in params["modes"]:
        if not any(path in params[option] for option in ("directories", "files", "settings", "lines")):
            found.append("modes: %s is not in directories, files, settings or lines" % path)
    for path, content in params["files"].items():
        if not isinstance(content, str):
            found.append("files.%s: the content must be a string, got %s" % (path, type(content).__name__))
    for path, values in params["settings"].items():
        if not isinstance(values, dict):
            found.append("settings.%s: expected a mapping {KEY: VALUE}, got %r" % (path, values))
            continue
        for key, value in values.items():
            if not isinstance(key, str) or not _KEY.match(key):
                found.append("settings.%s: %r is not a setting name" % (path, key))
            if not _one_line(value):
                found.append("settings.%s.%s: %r must be one line of text" % (path, key, value))
        if path not in params["create"] and not os.path.exists(path):
            found.append("settings.%s: the file does not exist (list it in create to create it)" % path)
    for path in params["create"]:
        if path not in params["settings"]:
            found.append("create: %s is not in settings" % path)
    return found


class ConfigFiles:
    def __init__(self, module):
        self.module = module
        self.updated = []
        self.diffs = []
        self.planned_dirs = set()  # created, or (check mode) would be

    def fail(self, msg):
        # What was done before the failure stays reported.
        self.module.fail_json(msg=msg, changed=bool(self.updated), updated=self.updated)

    def attributes(self, path, mode):
        """Owner, group and mode as asked; True when they changed (or would, in check mode)."""
        params = self.module.params
        if mode is None and params["owner"] is None and params["group"] is None:
            return False
        if self.module.check_mode and not os.path.exists(path):
            return True
        args = dict(path=path, mode=mode, owner=params["owner"], group=params["group"],
                    secontext=[None, None, None], attributes=None)
        return self.module.set_fs_attributes_if_different(args, False)

    def directory(self, path):
        changed = False
        if not os.path.isdir(path):
            if os.path.lexists(path):
                self.fail("%s exists and is not a directory" % path)
            changed = True
            self.planned_dirs.add(path)
            self.diffs.append(dict(before_header=path, after_header=path, before="(absent)\n", after="(directory)\n"))
            if not self.module.check_mode:
                os.makedirs(path)
        mode = self.module.params["modes"].get(path, self.module.params["directory_mode"])
        if self.attributes(path, mode) or changed:
            self.updated.append(path)

    def write(self, path, before, after):
        mode = self.module.params["modes"].get(path, self.module.params["mode"])
        changed = before != after
        if changed:
            self.diffs.append(dict(before_header=path, after_header=path, before=before or "", after=after))
            directory = os.path.dirname(path)
            if not os.path.isdir(directory) and not (self.module.check_mode and directory in self.planned_dirs):
                self.fail("%s: its directory %s does not exist" % (path, directory))
            if not self.module.check_mode:
                fd, tmp = tempfile.mkstemp(prefix=".%s." % os.path.basename(path), dir=directory)
                with os.fdopen(fd, "wb") as f:
                    f.write(to_bytes(after))
                if before is None:  # a new file never has a wider mode than asked, not even for a moment
                    os.chmod(tmp, _initial_mode(mode))
                self.module.atomic_move(tmp, path)
        if self.attributes(path, mode) or changed:
            self.updated.append(path)

    @staticmethod
    def read(path):
        if not os.path.exists(path):
            return None
        with open(path, "rb") as f:
            return to_text(f.read(), errors="surrogate_or_strict")

    def run(self):
        params = self.module.params
        found = problems(params)
        if found:
            self.module.fail_json(msg="; ".join(found), problems=found, updated=[])
        for path in params["directories"]:
            self.directory(path)
        for path, content in params["files"].items():
            self.write(path, self.read(path), content)
        for path, values in params["settings"].items():
            before = self.read(path)
            values = {k: "" if v is None else to_text(v) for k, v in values.items()}
            self.write(path, before, set_values(before or "", values))
        for path, keyed in params["lines"].items():
            before = self.read(path)
            self.write(path, before, set_lines(before or "", keyed))
        result = dict(changed=bool(self.updated), updated=self.updated)
        if self.module._diff:
            result["diff"] = self.diffs
        self.module.exit_json(**result)


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    ConfigFiles(module).run()


if __name__ == "__main__":
    main()
