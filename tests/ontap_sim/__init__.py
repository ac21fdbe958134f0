"""A stateful ONTAP REST simulator for the filer role's tests (see server.py)."""

from __future__ import annotations

from .server import OntapSimulator, self_signed_cert

__all__ = ["OntapSimulator", "self_signed_cert"]
