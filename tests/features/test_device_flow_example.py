"""examples/device_flow.py, the terminal's device flow, against the real server in-process."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from authserver import policy
from tests import factories
from tests.spec.rfc8628_device.conftest import answer, enter

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "device_flow.py"


@pytest.fixture
def example(monkeypatch, client):
    """The example, its HTTP answered by the app (paths kept, host dropped)."""
    spec = importlib.util.spec_from_file_location("device_flow_example", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)

    def post_form(url, data):
        response = client.post(url.split("127.0.0.1:5000", 1)[1], data=data)
        return response.status_code, response.get_json()

    def metadata(issuer):
        return client.get("/.well-known/oauth-authorization-server").get_json()

    monkeypatch.setattr(module, "post_form", post_form)
    monkeypatch.setattr(module, "metadata", metadata)
    return module


def test_the_example_signs_in_from_a_terminal(app, example, logged_in, fake_clock):
    with app.app_context():
        terminal = factories.make_client(
            public=True,
            grant_types=[policy.DEVICE_CODE_GRANT],
            redirect_uris=[],
            scope="openid events:read",
        )
    shown: list[str] = []
    polls = []

    def sleep(seconds):
        polls.append(seconds)
        fake_clock.advance(seconds)
        if len(polls) == 2:  # the person answers while the terminal waits
            code = shown[0].rsplit(" ", 1)[1]
            answer(logged_in, enter(logged_in, code))

    tokens = example.device_flow(
        "http://127.0.0.1:5000", terminal.client_id, "openid events:read", sleep, shown.append
    )
    assert tokens["token_type"] == "Bearer" and tokens["scope"] == "openid events:read"
    assert polls == [5, 5]
    assert shown[0].startswith("Open http://127.0.0.1:5000/device and enter the code ")


def test_the_example_stops_on_a_denial(app, example, logged_in, fake_clock):
    with app.app_context():
        terminal = factories.make_client(
            public=True, grant_types=[policy.DEVICE_CODE_GRANT], redirect_uris=[], scope="openid"
        )
    shown: list[str] = []

    def sleep(seconds):
        fake_clock.advance(seconds)
        answer(logged_in, enter(logged_in, shown[0].rsplit(" ", 1)[1]), decision="deny")

    with pytest.raises(SystemExit, match="access_denied"):
        example.device_flow(
            "http://127.0.0.1:5000", terminal.client_id, "openid", sleep, shown.append
        )
