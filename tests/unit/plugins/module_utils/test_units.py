from __future__ import annotations

import pytest

from ansible_collections.consolidation.xen.plugins.module_utils.units import SizeError, format_mb, parse_size_mb


@pytest.mark.parametrize(
    ("value", "mb"),
    [(512, 512), ("512", 512), ("512M", 512), ("512MB", 512), ("512MiB", 512), ("2G", 2048), ("2g", 2048),
     ("16GiB", 16384), ("1.5G", 1536), ("1T", 1048576), (" 4 G ", 4096), ("1024K", 1), ("1K", 1)],
)
def test_sizes_parse_to_mib(value, mb):
    assert parse_size_mb(value) == mb


@pytest.mark.parametrize("value", [0, "0", "0M", -1, "-512M", "lots", "12Q", "", None, True, [1], "1.2.3G"])
def test_bad_sizes_are_refused(value):
    with pytest.raises(SizeError):
        parse_size_mb(value)


def test_zero_allowed_where_asked():
    assert parse_size_mb("0", allow_zero=True) == 0


def test_format():
    assert format_mb(15872) == "15.5 GiB"
    assert format_mb(516) == "516 MiB"
