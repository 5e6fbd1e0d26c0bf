"""A local mail catcher for development (`make serve` starts it), like Mailpit:

    python -m scripts.mail_catcher [--smtp 127.0.0.1:1025] [--web 127.0.0.1:1080]

An SMTP server (aiosmtpd, a dev dependency) that keeps every mail it receives in memory, and a
page on its own port listing them, newest first: subject, recipient, time, and the plain-text
body with its links clickable. Nothing leaves the machine; mail is gone when it stops. Loopback
only: it accepts mail from anyone who can reach it and shows it to anyone who asks.
"""

from __future__ import annotations

import argparse
import email
import email.policy
import html
import re
import sys
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from wsgiref.simple_server import WSGIRequestHandler, make_server

from aiosmtpd.controller import Controller

LINK = re.compile(r"https?://[^\s<>\"]+")
KEEP = 200  # mails kept, newest first; a catcher is not an archive


@dataclass(frozen=True)
class Caught:
    at: datetime
    to: str
    subject: str
    text: str


class Catcher:
    """aiosmtpd's handler: parse and keep each message."""

    def __init__(self) -> None:
        self.mails: list[Caught] = []
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope) -> str:
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        body = (
            message.get_body(preferencelist=("plain", "html"))
            if isinstance(message, EmailMessage)
            else None
        )
        caught = Caught(
            at=datetime.now(UTC),
            to=str(message.get("To", ", ".join(envelope.rcpt_tos))),
            subject=str(message.get("Subject", "(no subject)")),
            text=body.get_content() if body is not None else "",
        )
        with self.lock:
            self.mails = [caught, *self.mails][:KEEP]
        print(f"mail catcher: {caught.subject!r} to {caught.to}", flush=True)
        return "250 OK"


def linked(text: str) -> str:
    """Escaped text with each http(s) URL made a link."""
    out, last = [], 0
    for match in LINK.finditer(text):
        out.append(html.escape(text[last : match.start()]))
        url = html.escape(match.group(0))
        out.append(f'<a href="{url}">{url}</a>')
        last = match.end()
    out.append(html.escape(text[last:]))
    return "".join(out)


STYLE = """
body { font-family: system-ui, sans-serif; max-width: 48rem; margin: 2rem auto; padding: 0 1rem;
  color: #1a1a1a; line-height: 1.5; }
article { border: 1px solid #ccc; border-radius: 6px; padding: 0.5rem 1rem; margin: 1rem 0; }
pre { white-space: pre-wrap; font-family: inherit; }
.meta { color: #444; }
a { color: #0645ad; }
"""


def page(mails: list[Caught], smtp: str) -> str:
    items = "".join(
        f"<article><h2>{html.escape(m.subject)}</h2>"
        f'<p class="meta">To {html.escape(m.to)} · <time datetime="{m.at.isoformat()}">'
        f"{m.at.strftime('%H:%M:%S UTC, %d %b')}</time></p>"
        f"<pre>{linked(m.text)}</pre></article>"
        for m in mails
    )
    empty = "<p>No mail yet. Sign up on the server, and reload this page.</p>"
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>Mail catcher</title><style>{STYLE}</style></head><body><main>"
        f"<h1>Mail catcher</h1><p>Mail the server sent to {html.escape(smtp)}, newest first "
        f'(<a href="/">reload</a>).</p>{items or empty}</main></body></html>'
    )


class QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


def address(value: str) -> tuple[str, int]:
    host, _, port = value.rpartition(":")
    return host or "127.0.0.1", int(port)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smtp", default="127.0.0.1:1025", help="HOST:PORT for SMTP")
    parser.add_argument("--web", default="127.0.0.1:1080", help="HOST:PORT for the page")
    options = parser.parse_args(argv)
    smtp_host, smtp_port = address(options.smtp)
    web_host, web_port = address(options.web)
    catcher = Catcher()
    controller = Controller(catcher, hostname=smtp_host, port=smtp_port)
    try:
        controller.start()
    except (OSError, RuntimeError) as error:
        sys.exit(f"mail catcher: cannot listen on {options.smtp} ({error}); is one running?")

    def app(environ, start_response):
        with catcher.lock:
            body = page(list(catcher.mails), options.smtp).encode()
        start_response(
            "200 OK",
            [
                ("Content-Type", "text/html; charset=utf-8"),
                ("Cache-Control", "no-store"),
                ("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'"),
            ],
        )
        return [body]

    server = make_server(web_host, web_port, app, handler_class=QuietHandler)
    print(f"Mail catcher: SMTP on {options.smtp}, read mail at http://{web_host}:{web_port}/")
    print("", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        controller.stop()


if __name__ == "__main__":
    main()
