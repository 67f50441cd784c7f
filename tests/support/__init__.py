"""Fixtures and helpers shared by the tests, loaded once from tests/conftest.py (``pytest_plugins``).

Test modules import helpers from here, never from a conftest.
"""

import pytest

# Before the helper modules are imported: their asserts then explain themselves as a test's do (the
# fixture modules, listed in pytest_plugins, are rewritten anyway).
pytest.register_assert_rewrite("tests.support.browser", "tests.support.daemon")
