# Copyright: consolidation.xen contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Memory sizes: integers are MiB; strings may carry a unit (Xen's convention: M = MiB)."""

from __future__ import annotations

import math
import re

_SIZE_RE = re.compile(r"^\s*(?P<num>\d+(?:\.\d+)?)\s*(?P<unit>[kmgt]?)(?:i?b)?\s*$", re.IGNORECASE)
_FACTOR_MB = {"k": 1.0 / 1024, "": 1.0, "m": 1.0, "g": 1024.0, "t": 1024.0 * 1024}


class SizeError(ValueError):
    """A size that does not parse or is not positive."""


def parse_size_mb(value, allow_zero=False):
    """Return ``value`` as whole MiB (rounded up).

    Accepts an int (MiB), or a string such as ``"512"``, ``"512M"``, ``"2G"``, ``"16GiB"``,
    ``"1.5G"``, ``"1T"``. Units are binary, as in xl.cfg and the Xen command line.
    """
    if isinstance(value, bool) or value is None:
        raise SizeError("expected a size such as 512, '512M' or '2G', got %r" % (value,))
    if isinstance(value, int):
        mb = value
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise SizeError("expected a finite size, got %r" % (value,))
        mb = math.ceil(value)
    elif isinstance(value, str):
        match = _SIZE_RE.match(value)
        if not match:
            raise SizeError("cannot parse size %r (use MiB or a unit: '512M', '2G', '16GiB')" % (value,))
        mb = math.ceil(float(match.group("num")) * _FACTOR_MB[match.group("unit").lower()])
    else:
        raise SizeError("expected a size such as 512, '512M' or '2G', got %r" % (value,))
    if mb < 0 or (mb == 0 and not allow_zero):
        raise SizeError("size must be positive, got %r" % (value,))
    return int(mb)


def format_mb(mb):
    """Human figure for reports: 15872 -> '15.5 GiB', 516 -> '516 MiB'."""
    if abs(mb) >= 1024:
        return "%.1f GiB" % (mb / 1024.0)
    return "%d MiB" % mb
