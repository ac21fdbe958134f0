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
