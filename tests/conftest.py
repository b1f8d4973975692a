"""Fixtures live in tests/fixtures.py (registered by the root conftest.py);
helpers in tests/helpers.py."""
