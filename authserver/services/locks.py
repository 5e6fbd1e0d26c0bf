"""Where a person's decisions and token issuance meet: one locked row, in one order.

A decision about a person is final the moment its page (or command) answers, whatever requests
were in flight. So every path that *issues* something for a person and every path that *carries
out a decision* about them first locks the person's ``users`` row, and only then reads or writes
anything of the grant:

- issuing: a code at the authorization endpoint (with the consent it records), tokens for a code,
  a refresh, a login session;
- deciding: remove access, take back a scope (on /account/apps or by unticking it on the consent
  page), log out (everywhere, and with "disconnect"), an operator's ``sessions end``, ``tokens
  revoke --user``, ``users disable``/``delete``, a password change.

Whichever takes the row second waits for the first to commit, then reads what it committed: a
revocation sees the family an in-flight redemption created (and revokes it); a redemption that
comes second finds its code deleted or its grant revoked. Lock order, everywhere:

1. the person's ``users`` row (``FOR NO KEY UPDATE`` on PostgreSQL: it does not block rows that
   merely reference the person, such as a new family's foreign key);
2. the client's ``clients`` row, ``FOR SHARE`` while issuing for a person, so that disabling,
   deleting or revoking a client (which lock it exclusively) waits for the issuance in flight;
3. only then the grant's own rows: consent, code, refresh token, family, access tokens.

``client_credentials`` takes no lock (its hot path stays one INSERT); a token it issues while the
client is being disabled is refused wherever this server judges it (introspection, UserInfo) and
revoked when the client is enabled again (``operator.enable_client``).

On SQLite, which locks the whole database for a writer, the person's lock is a write to the row:
it starts the write transaction, so everything read after it is current until the commit.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select, text

from ..extensions import db
from ..models import Client, User


@dataclass(frozen=True)
class LockedGrant:
    """What the locks found: whether the person (and client) may still be issued anything."""

    person_live: bool  # exists and is not disabled
    client_live: bool  # likewise

    @property
    def may_issue(self) -> bool:
        return self.person_live and self.client_live


def _is_postgresql() -> bool:
    return db.session.get_bind().dialect.name == "postgresql"


def lock_person(user_id: int) -> bool:
    """Lock the person's row (step 1); True if they exist and are not disabled."""
    if _is_postgresql():
        row = db.session.execute(
            select(User.disabled_at).where(User.id == user_id).with_for_update(key_share=True)
        ).first()
    else:
        # No row locks on SQLite: writing the row takes the database's write lock instead.
        db.session.execute(text("UPDATE users SET id = id WHERE id = :id"), {"id": user_id})
        row = db.session.execute(select(User.disabled_at).where(User.id == user_id)).first()
    return row is not None and row[0] is None


def lock_for_issuance(user_id: int, client_pk: int) -> LockedGrant:
    """Steps 1 and 2 before issuing anything for ``user_id`` to the client ``client_pk``."""
    if _is_postgresql():
        # Both locks in one round trip, each of its own strength, in the documented order.
        row = db.session.execute(_BOTH_LOCKS, {"user_id": user_id, "client_pk": client_pk}).first()
        if row is not None:
            return LockedGrant(person_live=row[0] is None, client_live=row[1] is None)
        # One of the two rows is gone: take what can be had, to say which.
    person_live = lock_person(user_id)
    client_row = db.session.execute(
        select(Client.disabled_at).where(Client.id == client_pk)
    ).first()
    return LockedGrant(
        person_live=person_live,
        client_live=client_row is not None and client_row[0] is None,
    )


_BOTH_LOCKS = text(
    "SELECT users.disabled_at, clients.disabled_at FROM users, clients"
    " WHERE users.id = :user_id AND clients.id = :client_pk"
    " FOR NO KEY UPDATE OF users FOR SHARE OF clients"
)


def lock_client(client_pk: int) -> None:
    """Lock the client's row exclusively before a decision about the client as a whole."""
    if _is_postgresql():
        db.session.execute(
            select(Client.id).where(Client.id == client_pk).with_for_update(key_share=True)
        )
    else:
        db.session.execute(text("UPDATE clients SET id = id WHERE id = :id"), {"id": client_pk})
