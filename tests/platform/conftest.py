"""Fixtures of the platform tests: the store's creator API clients (``maker_api``)."""

from tests.store.conftest import maker_api

__all__ = ["maker_api"]
