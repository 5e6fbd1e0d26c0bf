"""The resource API's own fixtures (a fake issuer, its clock, its database), shared with
``tests/resource_api`` so these tests see the API exactly as its own tests do."""

from tests.resource_api.conftest import (  # noqa: F401 (pytest finds fixtures by name)
    _app_builder,
    _hermetic_environment,
    app,
    client,
    clock,
    database_config,
    empty_database_config,
    issuer,
    issuer_wsgi_app,
    make_app,
    make_bare_app,
    make_token,
    signing_keys,
    token,
    transport,
)
