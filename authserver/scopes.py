"""The scope catalogue: every scope this server knows, with the sentence the consent page shows."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Scope:
    name: str
    description: str
    #: A scope about a person; meaningless (and refused) for client_credentials.
    user_only: bool = False


CATALOGUE: dict[str, Scope] = {
    s.name: s
    for s in (
        Scope("openid", "Confirm who you are (sign you in with your account)", user_only=True),
        Scope("profile", "See your name and basic profile", user_only=True),
        Scope("email", "See your email address", user_only=True),
        Scope(
            "offline_access",
            "Stay connected when you are not using it (keep access until you revoke it)",
            user_only=True,
        ),
        Scope("events:read", "See your calendar events"),
        Scope("events:write", "Create, change and delete your calendar events"),
    )
}

#: Always kept when requested: the consent page shows it ticked and disabled (SPEC).
REQUIRED_SCOPES = frozenset({"openid"})


def scope_list(scope: str | None) -> list[str]:
    """Split a space-delimited scope string (RFC 6749 §3.3), dropping duplicates, keeping order."""
    if not scope:
        return []
    return list(dict.fromkeys(scope.split()))


def unknown_scopes(scopes: list[str]) -> list[str]:
    return [s for s in scopes if s not in CATALOGUE]


def describe(scopes: list[str]) -> list[Scope]:
    return [CATALOGUE[s] for s in scopes if s in CATALOGUE]


def join_scopes(scopes: list[str] | set[str]) -> str:
    """Canonical order (the catalogue's), so stored and issued scopes compare as strings."""
    chosen = set(scopes)
    return " ".join(name for name in CATALOGUE if name in chosen)
