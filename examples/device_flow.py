#!/usr/bin/env python3
"""Sign in from a terminal with the device authorization grant (RFC 8628).

    python examples/device_flow.py --issuer http://127.0.0.1:5000 --client-id demo-device

It finds the endpoints in the server's metadata, asks for a device code, shows the code and
the page where you type it, polls until you answered (slowing down when told to), and prints
the token response. Standard library only; imports nothing from this repository.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

DEVICE_CODE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"


def post_form(url: str, data: dict[str, str]) -> tuple[int, dict]:
    """POST an application/x-www-form-urlencoded body; (status, JSON answer)."""
    body = urllib.parse.urlencode(data).encode()
    request = urllib.request.Request(url, data=body, method="POST")  # noqa: S310
    request.add_header("Content-Type", "application/x-www-form-urlencoded")
    request.add_header("Accept", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - the issuer's own URL
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        return error.code, json.load(error)


def metadata(issuer: str) -> dict:
    url = issuer.rstrip("/") + "/.well-known/oauth-authorization-server"
    with urllib.request.urlopen(url, timeout=30) as response:  # noqa: S310 - the issuer's own URL
        return json.load(response)


def device_flow(issuer: str, client_id: str, scope: str, sleep=time.sleep, out=print) -> dict:
    """Run the flow; the token response, or SystemExit with the server's error."""
    endpoints = metadata(issuer)
    status, started = post_form(
        endpoints["device_authorization_endpoint"], {"client_id": client_id, "scope": scope}
    )
    if status != 200:
        raise SystemExit(f"device authorization refused: {started}")
    out(f"Open {started['verification_uri']} and enter the code {started['user_code']}")
    out(f"(or open {started['verification_uri_complete']})")
    interval = int(started.get("interval", 5))
    deadline = time.monotonic() + int(started["expires_in"])
    while time.monotonic() < deadline:
        sleep(interval)
        status, answer = post_form(
            endpoints["token_endpoint"],
            {
                "grant_type": DEVICE_CODE_GRANT,
                "device_code": started["device_code"],
                "client_id": client_id,
            },
        )
        if status == 200:
            return answer
        error = answer.get("error")
        if error == "authorization_pending":
            continue
        if error == "slow_down":  # RFC 8628 §3.5: five seconds more, from now on
            interval += 5
            continue
        raise SystemExit(f"device flow ended: {error}: {answer.get('error_description', '')}")
    raise SystemExit("device flow ended: the code expired before anyone answered")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--issuer", default="http://127.0.0.1:5000")
    parser.add_argument("--client-id", default="demo-device")
    parser.add_argument("--scope", default="openid profile events:read")
    args = parser.parse_args(argv)
    tokens = device_flow(args.issuer, args.client_id, args.scope)
    print(json.dumps(tokens, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
