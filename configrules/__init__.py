"""What each setting allows, declared next to it, and the one validator that reads the declarations.

A service's ``DefaultConfig`` annotates each setting with ``Annotated[type, Rule]``::

    #: Days audit events are kept before `authserver cleanup` deletes them.
    AUDIT_RETENTION_DAYS: Annotated[int, Whole(minimum=1, maximum=36_500, unit="days")] = 90

``validate(DefaultConfig, config, prefix)`` holds every declared setting of ``config`` (a Flask
config, defaults then environment then test values) against its rule and stores the parsed value
back (``"90"`` becomes ``90``, ``1`` becomes ``True`` for a flag), or raises ``SettingError``
whose one line names the environment variable and what it allows. A setting with no rule is an
error too (``undeclared``), so a setting added later cannot skip validation; the configuration
reference (``make docs``) shows each rule's ``allowed`` text.

This package is shared by the authorization server and the resource API (which imports nothing
from ``authserver``), so it depends on nothing but the standard library and ``limits``.
"""

from __future__ import annotations

import math
import typing
from collections.abc import Callable, Mapping, MutableMapping
from dataclasses import dataclass
from typing import cast
from urllib.parse import urlsplit

from limits import parse_many  # Flask-Limiter's own parser, so both read a limit alike
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from servicemetrics import MetricsConfigError, parse_address


class SettingError(RuntimeError):
    """A setting outside what it allows; the message is one line for the operator."""


class Rule:
    """What one setting allows: ``allowed`` says it in words, ``parse`` checks and converts."""

    #: The value is a secret: an error message never repeats it.
    secret = False

    def allowed(self) -> str:
        raise NotImplementedError

    def parse(self, value: object) -> object:
        """The value to use, or ``ValueError`` when the value is not allowed."""
        raise NotImplementedError


def _number(value: object) -> float:
    if isinstance(value, bool) or value is None:
        raise ValueError
    if isinstance(value, str):
        value = value.strip()
    number = float(typing.cast(typing.SupportsFloat, value))
    if not math.isfinite(number):
        raise ValueError
    return number


def _shown(number: float) -> str:
    """2592000 as "2592000", 0.5 as "0.5": never the exponent form."""
    return str(int(number)) if number == int(number) else f"{number}"


def _bounds(minimum: float | None, maximum: float | None, unit: str) -> str:
    suffix = f" {unit}" if unit else ""
    if minimum is not None and maximum is not None:
        return f"from {_shown(minimum)} to {_shown(maximum)}{suffix}"
    if minimum is not None:
        return f"of at least {_shown(minimum)}{suffix}"
    if maximum is not None:
        return f"of at most {_shown(maximum)}{suffix}"
    return suffix.strip()


@dataclass(frozen=True)
class Whole(Rule):
    """A whole number within bounds (``unit`` names what it counts: "seconds", "days")."""

    minimum: int | None = None
    maximum: int | None = None
    unit: str = ""

    def allowed(self) -> str:
        return f"a whole number {_bounds(self.minimum, self.maximum, self.unit)}".rstrip()

    def parse(self, value: object) -> int:
        number = _number(value)
        if number != int(number):
            raise ValueError
        if self.minimum is not None and number < self.minimum:
            raise ValueError
        if self.maximum is not None and number > self.maximum:
            raise ValueError
        return int(number)


@dataclass(frozen=True)
class Number(Rule):
    """A number (fractions allowed) within bounds; ``above`` excludes the minimum itself."""

    minimum: float | None = None
    maximum: float | None = None
    unit: str = ""
    above: bool = False

    def allowed(self) -> str:
        if self.above and self.minimum is not None:
            rest = f" up to {_shown(self.maximum)}" if self.maximum is not None else ""
            start = "a positive number" if self.minimum == 0 else f"a number above {self.minimum}"
            return f"{start}{rest} {self.unit}".rstrip()
        return f"a number {_bounds(self.minimum, self.maximum, self.unit)}".rstrip()

    def parse(self, value: object) -> float:
        number = _number(value)
        if self.minimum is not None and (
            number < self.minimum or (self.above and number == self.minimum)
        ):
            raise ValueError
        if self.maximum is not None and number > self.maximum:
            raise ValueError
        return number


@dataclass(frozen=True)
class Flag(Rule):
    """On or off: true/false, 1/0 (and yes/no, on/off from a shell)."""

    def allowed(self) -> str:
        return "true or false (1 or 0)"

    def parse(self, value: object) -> bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, int) and value in (0, 1):
            return bool(value)
        if isinstance(value, str):
            word = value.strip().lower()
            if word in ("1", "true", "yes", "on"):
                return True
            if word in ("0", "false", "no", "off"):
                return False
        raise ValueError


@dataclass(frozen=True)
class Text(Rule):
    """A string of at least ``min_length`` characters; ``secret`` keeps it out of messages."""

    min_length: int = 1
    secret: bool = False
    meaning: str = "text"

    def allowed(self) -> str:
        if self.min_length > 1:
            return f"{self.meaning} of at least {self.min_length} characters"
        return f"non-empty {self.meaning}"

    def parse(self, value: object) -> str:
        # An all-digit value (a client id) arrives from the environment as a number; a
        # secret must arrive as typed (JSON would have changed it: 0123 -> 123).
        if not self.secret and isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        if not isinstance(value, str) or len(value.strip()) < self.min_length:
            raise ValueError
        return value


@dataclass(frozen=True)
class OneOf(Rule):
    """One of a few words."""

    choices: tuple[str, ...]

    def allowed(self) -> str:
        return "one of " + ", ".join(self.choices)

    def parse(self, value: object) -> str:
        if not isinstance(value, str) or value not in self.choices:
            raise ValueError
        return value


@dataclass(frozen=True)
class Url(Rule):
    """An absolute URL with one of ``schemes``, without query or fragment."""

    schemes: tuple[str, ...] = ("http", "https")

    def allowed(self) -> str:
        return (
            "a URL (" + ", ".join(f"{s}://" for s in self.schemes) + ") without query or fragment"
        )

    def parse(self, value: object) -> str:
        if not isinstance(value, str):
            raise ValueError
        parts = urlsplit(value)
        if parts.scheme not in self.schemes or parts.query or parts.fragment:
            raise ValueError
        if parts.scheme in ("http", "https") and not parts.hostname:
            raise ValueError
        return value


@dataclass(frozen=True)
class DatabaseUrl(Rule):
    """A URL SQLAlchemy can read (``sqlite:///file``, ``postgresql+psycopg://host/db``)."""

    def allowed(self) -> str:
        return "a SQLAlchemy database URL (sqlite:///… or postgresql+psycopg://…)"

    def parse(self, value: object) -> str:
        if not isinstance(value, str):
            raise ValueError
        try:
            make_url(value)
        except ArgumentError:
            raise ValueError from None
        return value


@dataclass(frozen=True)
class HostPort(Rule):
    """``host:port`` (``[::1]:9100`` for IPv6), read as the metrics listener reads it."""

    def allowed(self) -> str:
        return "host:port (e.g. 127.0.0.1:9100)"

    def parse(self, value: object) -> str:
        try:
            address = parse_address(value, "")
        except MetricsConfigError:
            raise ValueError from None
        if address is None:
            raise ValueError
        return cast(str, value)


@dataclass(frozen=True)
class RateLimit(Rule):
    """A throttling limit as Flask-Limiter reads it: "10 per 15 minutes"."""

    def allowed(self) -> str:
        return 'a limit such as "10 per 15 minutes" (count per [n] second|minute|hour|day)'

    def parse(self, value: object) -> str:
        if not isinstance(value, str):
            raise ValueError
        parse_many(value)  # raises ValueError on anything it cannot read
        return value


@dataclass(frozen=True)
class Function(Rule):
    """A function (the clocks): set by tests, never from the environment."""

    def allowed(self) -> str:
        return "a function (tests only; not settable from the environment)"

    def parse(self, value: object) -> object:
        if not callable(value):
            raise ValueError
        return value


@dataclass(frozen=True)
class Optional(Rule):
    """``rule``, or unset (None or the empty string)."""

    rule: Rule

    @property
    def secret(self) -> bool:  # type: ignore[override]
        return self.rule.secret

    def allowed(self) -> str:
        return f"{self.rule.allowed()}, or unset"

    def parse(self, value: object) -> object:
        if value is None or value == "":
            return None
        return self.rule.parse(value)


@dataclass(frozen=True)
class Check(Rule):
    """A rule given as a function (a list of origins, a URL scheme list): ``parse`` returns the
    value to use or raises ``ValueError``."""

    description: str
    function: Callable[[object], object]
    secret: bool = False

    def allowed(self) -> str:
        return self.description

    def parse(self, value: object) -> object:
        return self.function(value)


def rules(config_class: type) -> dict[str, Rule]:
    """Each setting of ``config_class`` (upper-case attribute) with the rule annotated on it."""
    hints = typing.get_type_hints(config_class, include_extras=True)
    found: dict[str, Rule] = {}
    for name, hint in hints.items():
        if not name.isupper():
            continue
        for extra in getattr(hint, "__metadata__", ()):
            if isinstance(extra, Rule):
                found[name] = extra
    return found


def undeclared(config_class: type) -> list[str]:
    """Settings of ``config_class`` that declare no rule (a test keeps this empty)."""
    declared = rules(config_class)
    return [
        name
        for name in vars(config_class)
        if name.isupper() and not name.startswith("_") and name not in declared
    ]


def validate(config_class: type, config: MutableMapping[str, object], prefix: str) -> None:
    """Check and convert every declared setting in ``config``; the first one not allowed
    raises ``SettingError`` naming ``{prefix}{name}`` and what it allows."""
    for name, rule in rules(config_class).items():
        if name not in config:
            continue
        value = config[name]
        try:
            config[name] = rule.parse(value)
        except (ValueError, TypeError, OverflowError):
            shown = "" if rule.secret else f", not {value!r}"
            raise SettingError(f"{prefix}{name} must be {rule.allowed()}{shown}.") from None


def problem(config_class: type, config: Mapping[str, object], prefix: str) -> str | None:
    """The one-line problem ``validate`` would raise, or None: for callers that only look."""
    try:
        validate(config_class, dict(config), prefix)
    except SettingError as error:
        return str(error)
    return None
