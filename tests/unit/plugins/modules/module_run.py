"""Run a module's main() in-process, as Ansible would, and return its JSON result."""

from __future__ import annotations

import json

import pytest
from ansible.module_utils.testing import patch_module_args


def run_module(main, capsys, args=None, check=False, diff=False):
    """``main()`` with ``args`` (check and diff mode as asked); the result it printed, parsed."""
    args = dict(args or {})
    if check:
        args["_ansible_check_mode"] = True
    if diff:
        args["_ansible_diff"] = True
    with patch_module_args(args), pytest.raises(SystemExit):
        main()
    return json.loads(capsys.readouterr().out)
