"""schemathesis against the resource API's own /openapi.json, in-process (WSGI): every
operation with generated valid and invalid input, with a valid access token from the fake
issuer so the authenticated paths run; no 5xx, and answers that match the published schema."""

from __future__ import annotations

from collections.abc import Callable

import schemathesis
from flask import Flask
from hypothesis import given
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import response_schema_conformance

from .strategies import fuzz_settings


def test_resource_api_conforms_to_its_openapi_document(
    make_api: Callable[..., Flask], api_token: Callable[..., str]
) -> None:
    app = make_api()
    schema = schemathesis.openapi.from_wsgi("/openapi.json", app)
    headers = {"Authorization": f"Bearer {api_token()}"}
    cases = st.one_of(
        schema.as_strategy(GenerationMode.POSITIVE, headers=headers),
        schema.as_strategy(GenerationMode.NEGATIVE, headers=headers),
    )

    @given(case=cases)
    @fuzz_settings(300)
    def check(case: schemathesis.Case) -> None:
        response = case.call()
        case.validate_response(response, checks=[not_a_server_error, response_schema_conformance])

    check()
