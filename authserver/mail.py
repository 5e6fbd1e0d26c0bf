"""Mail: made from templates at delivery and handed to the SMTP server of ``SMTP_URL``.

Queued by the services (``services/outbox.queue_mail``) in the transaction of their change;
this module is the outbox's deliverer for the "mail" kind (``DELIVERERS``). Each mail is a
``multipart/alternative`` of ``templates/mail/<name>.txt`` and ``.html`` (stdlib ``email``),
its subject the ``subject`` block of the text template.

``smtp://host:port`` upgrades to TLS with STARTTLS whenever the server offers it (certificate
checked); ``smtps://`` speaks TLS from the start; ``user:password@`` in the URL logs in
(percent-decoded). The URL is never logged whole: ``describe_smtp_url`` drops the credentials.
"""

from __future__ import annotations

import smtplib
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid, parseaddr
from urllib.parse import unquote, urlsplit

from flask import current_app

from .services import accounts, backchannel
from .services.outbox import Deliverer

DEFAULT_PORTS = {"smtp": 25, "smtps": 465}


@dataclass(frozen=True)
class SmtpServer:
    scheme: str
    host: str
    port: int
    username: str | None
    password: str | None

    def __repr__(self) -> str:  # never the password, wherever this ends up printed
        return f"SmtpServer({describe_smtp_url(self)!r})"


def parse_smtp_url(url: str) -> SmtpServer:
    parts = urlsplit(url)
    if parts.scheme not in DEFAULT_PORTS or not parts.hostname:
        raise ValueError("AUTHSERVER_SMTP_URL must be smtp://host[:port] or smtps://host[:port]")
    return SmtpServer(
        scheme=parts.scheme,
        host=parts.hostname,
        port=parts.port or DEFAULT_PORTS[parts.scheme],
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
    )


def describe_smtp_url(server: SmtpServer | str) -> str:
    """``smtp://user@host:port`` without the password: fit for a log line or `check`."""
    if isinstance(server, str):
        try:
            server = parse_smtp_url(server)
        except ValueError:
            return "(not a valid SMTP URL)"
    user = f"{server.username}@" if server.username else ""
    return f"{server.scheme}://{user}{server.host}:{server.port}"


def compose(to: str, template: str, context: Mapping, config: Mapping) -> EmailMessage:
    """The mail, plain text and HTML, from the templates in an app context."""
    environment = current_app.jinja_env
    values = {**context, "issuer": config["ISSUER"]}
    text_template = environment.get_template(f"mail/{template}.txt")
    subject = "".join(text_template.blocks["subject"](text_template.new_context(values))).strip()
    message = EmailMessage()
    message["Subject"] = subject
    message["From"] = config["MAIL_FROM"]
    message["To"] = to
    message["Date"] = formatdate(localtime=False)
    domain = parseaddr(config["MAIL_FROM"])[1].rpartition("@")[2] or None
    message["Message-ID"] = make_msgid(domain=domain)
    message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation replies to us
    message.set_content(text_template.render(values))
    message.add_alternative(
        environment.get_template(f"mail/{template}.html").render(values), subtype="html"
    )
    return message


def send(message: EmailMessage, config: Mapping) -> None:
    """Hand ``message`` to the SMTP server; raises on any failure (the outbox retries)."""
    server = parse_smtp_url(str(config["SMTP_URL"]))
    timeout = float(config["SMTP_TIMEOUT"])
    tls = ssl.create_default_context()
    connection: smtplib.SMTP
    if server.scheme == "smtps":
        connection = smtplib.SMTP_SSL(server.host, server.port, timeout=timeout, context=tls)
    else:
        connection = smtplib.SMTP(server.host, server.port, timeout=timeout)
    with connection:
        connection.ehlo()
        if server.scheme == "smtp" and connection.has_extn("starttls"):
            connection.starttls(context=tls)
            connection.ehlo()
        if server.username:
            connection.login(server.username, server.password or "")
        connection.send_message(message)


def deliver_mail(payload: dict, config: Mapping) -> None:
    send(compose(payload["to"], payload["template"], payload.get("context", {}), config), config)


#: The outbox's deliverers, by kind: mail, and the "forgot password" requests that may lead to
#: one (looked at in the background, so the form's answer is the same for every address), and
#: OpenID Connect back-channel logout tokens POSTed to clients.
DELIVERERS: dict[str, Deliverer] = {
    "mail": deliver_mail,
    accounts.RESET_REQUEST: accounts.handle_reset_request,
    backchannel.KIND: backchannel.deliver,
}
