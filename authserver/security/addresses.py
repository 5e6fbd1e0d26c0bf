"""E-mail addresses as account names: how one is stored, and which ones read alike.

Plain functions of strings, used by the accounts (``services.users``) and by login throttling,
whose per-account key must count every spelling of an address against one account.
"""

from __future__ import annotations

import hashlib
import unicodedata

# Variation selectors: invisible, they only pick a glyph for the character before them.
_VARIATION_SELECTORS = frozenset([*range(0xFE00, 0xFE10), *range(0xE0100, 0xE01F0)])


def normalize_email(email: str) -> str:
    """The address as stored and looked up: trimmed, lower case, Unicode NFC (so "é" typed as
    one character or as "e" and a combining accent is one address)."""
    return unicodedata.normalize("NFC", email.strip().lower())


def email_skeleton(email: str) -> str:
    """What addresses that read alike have in common: no invisible characters (format
    characters such as U+200B, variation selectors), then NFKC and full case folding (close
    to Unicode's NFKC_Casefold): "ｇｒａｃｅ", "ＧＲＡＣＥ" and "grace" are one skeleton, and
    "straße" is "strasse". Homoglyphs across scripts (Cyrillic "а" for Latin "a") are not
    folded: that needs Unicode's confusables data (UTS #39)."""
    visible = "".join(ch for ch in email.strip() if not is_invisible(ch))
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", visible).casefold())


def email_key(email: str) -> str:
    """The unique ``users.email_key``: the skeleton's SHA-256, so one account per skeleton."""
    return hashlib.sha256(email_skeleton(email).encode("utf-8", "surrogatepass")).hexdigest()


def is_invisible(ch: str) -> bool:
    """A character that shows as nothing: a format character (U+200B, a bidirectional override)
    or a variation selector."""
    return unicodedata.category(ch) == "Cf" or ord(ch) in _VARIATION_SELECTORS
