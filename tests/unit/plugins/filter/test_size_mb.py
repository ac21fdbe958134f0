from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.consolidation.xen.plugins.filter.size_mb import FilterModule

size_mb = FilterModule().filters()["size_mb"]


@pytest.mark.parametrize(("value", "mb"), [(1024, 1024), ("1536", 1536), ("1G", 1024), ("1.5G", 1536),
                                           ("512M", 512), ("16GiB", 16384)])
def test_sizes(value, mb):
    assert size_mb(value) == mb


@pytest.mark.parametrize("value", ["1X", "", None, True, 0, "-1G"])
def test_bad_sizes_raise_filter_errors(value):
    with pytest.raises(AnsibleFilterError, match="^size_mb: "):
        size_mb(value)


def test_zero_when_allowed():
    assert size_mb(0, allow_zero=True) == 0
