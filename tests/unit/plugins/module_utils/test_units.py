from __future__ import annotations

import pytest

from ansible_collections.consolidation.xen.plugins.module_utils.units import (
    SizeError,
    ValueTypeError,
    format_mb,
    parse_bool,
    parse_size_mb,
    parse_whole,
)


@pytest.mark.parametrize(
    ("value", "mb"),
    [(512, 512), ("512", 512), ("512M", 512), ("512MiB", 512), ("512 M", 512), ("2G", 2048), ("2g", 2048),
     ("16GiB", 16384), ("1.5G", 1536), ("1T", 1048576), (" 4 G ", 4096), ("1024K", 1), ("2048KiB", 2),
     ("0.5T", 524288)],
)
def test_sizes_parse_to_mib(value, mb):
    assert parse_size_mb(value) == mb


@pytest.mark.parametrize("value", [
    0, "0", "0M", -1, "-512M", "lots", "12Q", "", None, True, [1], "1.2.3G",
    # ambiguous or bit units, bare floats, fractions of a MiB, non-ASCII digits
    "512b", "1kb", "512 MB", "2GB", "1TB", 1.5, 2.0, "1.5", "1.5M", "1K", "1000K", "\uff15\uff11\uff12",
    "\u0665\u0661\u0662", "512\u00a0M",
])
def test_bad_sizes_are_refused(value):
    with pytest.raises(SizeError):
        parse_size_mb(value)


def test_zero_allowed_where_asked():
    assert parse_size_mb("0", allow_zero=True) == 0


def test_format():
    assert format_mb(15872) == "15.5 GiB"
    assert format_mb(516) == "516 MiB"


@pytest.mark.parametrize(("value", "words"), [("512 MB", "ambiguous"), ("1.5", "needs a unit"), (1.5, "whole MiB"),
                                              ("1.5M", "whole number of MiB"), ("1Q", "unknown unit")])
def test_refusals_say_why(value, words):
    with pytest.raises(SizeError, match=words):
        parse_size_mb(value)


@pytest.mark.parametrize(("value", "number"), [(3, 3), ("3", 3), (" 12 ", 12), ("-1", -1)])
def test_whole_numbers(value, number):
    assert parse_whole(value) == number


@pytest.mark.parametrize("value", ["abc", "one", "1.5", 1.5, True, None, "", "\u0661", "1e3", "0x10"])
def test_whole_numbers_refused(value):
    with pytest.raises(ValueTypeError):
        parse_whole(value)


def test_whole_number_range():
    with pytest.raises(ValueTypeError, match=">= 1"):
        parse_whole("0", minimum=1)


@pytest.mark.parametrize(("value", "flag"), [(True, True), ("yes", True), ("ON", True), (1, True), ("0", False),
                                             ("false", False), (False, False)])
def test_booleans(value, flag):
    assert parse_bool(value) is flag


@pytest.mark.parametrize("value", ["maybe", "", None, 2, "y", 1.0])
def test_booleans_refused(value):
    with pytest.raises(ValueTypeError):
        parse_bool(value)
