"""The device page is throttled (RFC 8628 §5.1; SPEC, "Policy")."""

from __future__ import annotations

import pytest

from .conftest import enter


@pytest.fixture
def app_config() -> dict:
    return {"DEVICE_CODE_FAILURES_PER_PERSON": "3 per 15 minutes"}


def test_guessing_user_codes_is_throttled(logged_in):
    for _ in range(3):
        assert enter(logged_in, "BCDF-GHJK").status_code == 400
    assert enter(logged_in, "BCDF-GHJK").status_code == 429
