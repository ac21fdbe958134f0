# Copyright: consolidation.xen contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Typed values from an inventory: sizes in MiB, whole numbers, booleans. Strict by design.

An inventory value is either what YAML/JSON made of it (int, bool, str, float) or a string from an
INI file or ``-e key=value``. Every parser here accepts the first kind as such and the second only
in one plain ASCII spelling, and refuses everything else: ``| int`` turning ``abc`` into 0 or
``| bool`` turning ``maybe`` into false is exactly what these exist to prevent.

Sizes (Xen's convention, xl.cfg(5) and the Xen command line: ``M`` is MiB):

* an integer is MiB: ``512``;
* a string is ASCII digits with an optional binary unit ``K``/``KiB``, ``M``/``MiB``, ``G``/``GiB``,
  ``T``/``TiB`` (any case, optional space): ``"512"``, ``"512M"``, ``"2 GiB"``;
* a fraction only with a unit and only when it comes to whole MiB: ``"1.5G"`` (1536), not ``"1.5M"``;
* refused: decimal or bit units (``MB``, ``GB``, ``kb``, ``b``: ambiguous, write ``M``/``MiB``), bare
  floats (``1.5``, also ``2.0``), anything that is not whole MiB, non-ASCII digits, booleans.
"""

from __future__ import annotations

import math
import re

_SIZE_RE = re.compile(r"^\s*(?P<int>[0-9]+)(?:\.(?P<frac>[0-9]+))?\s*(?P<unit>[A-Za-z]*)\s*$")
# unit (lower case) -> KiB
_UNIT_KIB = {"": 1024, "k": 1, "kib": 1, "m": 1024, "mib": 1024, "g": 1024 ** 2, "gib": 1024 ** 2,
             "t": 1024 ** 3, "tib": 1024 ** 3}
_AMBIGUOUS = {"b", "kb", "mb", "gb", "tb", "kbit", "mbit", "gbit"}
_WHOLE_RE = re.compile(r"^\s*(?P<sign>-?)(?P<digits>[0-9]+)\s*$")
_TRUE = ("true", "yes", "on", "1")
_FALSE = ("false", "no", "off", "0")


class SizeError(ValueError):
    """A size that does not parse or is not positive."""


class ValueTypeError(ValueError):
    """A value of the wrong type or out of range (the message says what was expected)."""


def parse_size_mb(value, allow_zero=False):
    """Return ``value`` as whole MiB, or raise :class:`SizeError` saying what is accepted."""
    if isinstance(value, bool) or value is None:
        raise SizeError("expected a size such as 512, '512M' or '2G', got %r" % (value,))
    if isinstance(value, int):
        mb = int(value)
    elif isinstance(value, float):
        raise SizeError("expected whole MiB or a string with a unit ('1536M', '1.5G'), got the number %r" % (value,))
    elif isinstance(value, str):
        match = _SIZE_RE.match(value) if value.isascii() else None
        if not match:
            raise SizeError("cannot parse size %r (MiB as ASCII digits, or with a binary unit: '512M', '2G', "
                            "'16GiB')" % (value,))
        unit = match.group("unit").lower()
        if unit in _AMBIGUOUS:
            raise SizeError("unit %r in %r is ambiguous (decimal or bits?): sizes are binary, write %sM or %sMiB"
                            % (match.group("unit"), value, match.group("int"), match.group("int")))
        if unit not in _UNIT_KIB:
            raise SizeError("unknown unit %r in %r (K, M, G, T or KiB, MiB, GiB, TiB)" % (match.group("unit"), value))
        frac = match.group("frac")
        if frac is not None and unit == "":
            raise SizeError("%r: a fraction needs a unit ('1.5G'); plain numbers are whole MiB" % (value,))
        # exact arithmetic: numerator / 10**len(frac) KiB-units
        scale = 10 ** len(frac or "")
        kib_scaled = int(match.group("int") + (frac or "")) * _UNIT_KIB[unit]
        if kib_scaled % (scale * 1024):
            raise SizeError("%r is not a whole number of MiB" % (value,))
        mb = kib_scaled // (scale * 1024)
    else:
        raise SizeError("expected a size such as 512, '512M' or '2G', got %r" % (value,))
    if mb < 0 or (mb == 0 and not allow_zero):
        raise SizeError("size must be positive, got %r" % (value,))
    return mb


def parse_whole(value, minimum=None, maximum=None):
    """A whole number: an int, or ASCII digits in a string (``"3"``). No floats, no booleans."""
    if isinstance(value, bool) or value is None:
        raise ValueTypeError("expected a whole number, got %r" % (value,))
    if isinstance(value, int):
        number = int(value)
    elif isinstance(value, str) and value.isascii() and _WHOLE_RE.match(value):
        match = _WHOLE_RE.match(value)
        number = int(match.group("digits")) * (-1 if match.group("sign") else 1)
    else:
        raise ValueTypeError("expected a whole number, got %r" % (value,))
    if minimum is not None and number < minimum:
        raise ValueTypeError("must be >= %d, got %r" % (minimum, value))
    if maximum is not None and number > maximum:
        raise ValueTypeError("must be <= %d, got %r" % (maximum, value))
    return number


def parse_bool(value):
    """A boolean: true/false, or one of yes/no, on/off, 1/0, true/false as a string (any case)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in _TRUE + _FALSE:
        return value.strip().lower() in _TRUE
    raise ValueTypeError("expected true or false (yes/no, on/off, 1/0), got %r" % (value,))


def parse_number(value, minimum_exclusive=None):
    """A number (int, float or an ASCII decimal string such as ``"1.5"``), finite."""
    if isinstance(value, bool) or value is None:
        raise ValueTypeError("expected a number, got %r" % (value,))
    if isinstance(value, (int, float)):
        number = float(value)
    elif isinstance(value, str) and value.isascii() and re.match(r"^\s*[0-9]+(\.[0-9]+)?\s*$", value):
        number = float(value)
    else:
        raise ValueTypeError("expected a number, got %r" % (value,))
    if not math.isfinite(number):
        raise ValueTypeError("expected a finite number, got %r" % (value,))
    if minimum_exclusive is not None and number <= minimum_exclusive:
        raise ValueTypeError("must be > %s, got %r" % (minimum_exclusive, value))
    return number


def format_mb(mb):
    """Human figure for reports: 15872 -> '15.5 GiB', 516 -> '516 MiB'."""
    if abs(mb) >= 1024:
        return "%.1f GiB" % (mb / 1024.0)
    return "%d MiB" % mb
