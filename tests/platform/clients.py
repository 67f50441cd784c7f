"""A creator's JSON API client for the platform tests (``maker_api`` in conftest.py makes one): `Api` of
tests/support/api.py."""

from __future__ import annotations

from tests.support.api import Api

__all__ = ["Api"]
