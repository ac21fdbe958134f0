"""Fixtures of the ONTAP tests (test_filer_ontap.py, test_fence_ontap.py): the REST simulator on 127.0.0.1."""

from __future__ import annotations

import pytest

from ansible_collections.consolidation.xen.tests.ontap_sim import OntapSimulator, self_signed_cert

PASSWORD = "Sim-Filer-Pass-7c1e9a"  # nosec - the simulator's throwaway password


@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    return self_signed_cert(tmp_path_factory.mktemp("ontap-sim-cert"))


@pytest.fixture
def sim(certificate):
    simulator = OntapSimulator(password=PASSWORD)
    simulator.start(*certificate)
    yield simulator
    simulator.stop()


# The longest tests first: the ONTAP, backup and Linux filer runs take 10-110 s each, the preflight matrix's
# cases ~3 s. With one test handed to a worker at a time (scripts/test.sh: --maxschedchunk 1), the short ones
# then fill in around the long ones, instead of a long one running alone at the end.
SLOW_FIRST = ("test_filer_ontap.py", "test_fence_ontap.py", "test_backup_linux.py", "test_filer_linux.py")


def pytest_collection_modifyitems(items):
    def rank(item):
        name = item.path.name
        return SLOW_FIRST.index(name) if name in SLOW_FIRST else len(SLOW_FIRST)

    items.sort(key=rank)
