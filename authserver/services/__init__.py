"""The rules applied to the data: accounts, clients, consents, codes, tokens, sessions, keys.

Services know nothing of HTTP: no request, no templates. **They flush, they never commit**:
the one who handles the request (a view, the token endpoint, a CLI command) commits once when
it has succeeded, or rolls back, so a request either completes or changes nothing. The one
exception is ``tokens.end_compromised_grant``: a replayed code or refresh token revokes its
grant and commits at once, because the request that revealed it is then refused.
"""


class ServiceError(ValueError):
    """A rule was broken by the caller's input; the message is safe to show to the user."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
