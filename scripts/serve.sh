#!/usr/bin/env bash
# Start the authorization server (:5000), the resource API (:5001), the demo client app (:5002)
# and the MCP server example (:5003/mcp) on the embedded SQLite databases, with a demo user and
# clients. Stop all with Ctrl-C.
# Other ports: BIND=127.0.0.1:8000 (make serve BIND=...) puts the API on :8001, the demo client
# on :8002 and the MCP server on :8003; the issuer, audience and demo addresses follow unless set
# in the environment.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
BIND=${BIND:-127.0.0.1:5000}
# The local mail catcher's SMTP and web addresses (MAIL_SMTP=..., MAIL_WEB=... to move them).
MAIL_SMTP=${MAIL_SMTP:-127.0.0.1:1025}
MAIL_WEB=${MAIL_WEB:-127.0.0.1:1080}
export AUTHSERVER_SMTP_URL=${AUTHSERVER_SMTP_URL:-smtp://$MAIL_SMTP}

# The addresses the three must know of each other, derived from the ports by the launcher
# (`authserver serve --print-settings`); variables already set are kept.
while IFS= read -r setting; do
  export "${setting?}"
done < <("$BIN/authserver" serve --bind "$BIND" --api --demo-client --print-settings)
API_URL=${RESOURCE_API_AUDIENCE}
DEMO_URL=${DEMO_CLIENT_POST_LOGOUT_REDIRECT_URI%/}

# The MCP server example (examples/mcp_calendar) three ports up; `authserver demo` registers its
# client with MCP_CALENDAR_URL as its resource. Variables already set are kept.
bind_host=${BIND%:*}
mcp_port=$(( ${BIND##*:} + 3 ))
case "$bind_host" in
  0.0.0.0 | "") mcp_url_host=127.0.0.1 ;;
  "[::]") mcp_url_host="[::1]" ;;
  *) mcp_url_host=$bind_host ;;
esac
export MCP_CALENDAR_BIND=${MCP_CALENDAR_BIND:-${bind_host:-127.0.0.1}:$mcp_port}
export MCP_CALENDAR_URL=${MCP_CALENDAR_URL:-http://$mcp_url_host:$mcp_port/mcp}
export MCP_CALENDAR_ISSUER=${MCP_CALENDAR_ISSUER:-$AUTHSERVER_ISSUER}
export MCP_CALENDAR_API_URL=${MCP_CALENDAR_API_URL:-$DEMO_CLIENT_API_URL}
export MCP_CALENDAR_API_AUDIENCE=${MCP_CALENDAR_API_AUDIENCE:-$RESOURCE_API_AUDIENCE}
# MCP clients (the Inspector, desktop apps) register themselves (RFC 7591) when no metadata
# document names them: open on this development server while it listens on loopback only.
case "$bind_host" in
  127.* | localhost | "[::1]") export AUTHSERVER_REGISTRATION_ENABLED=${AUTHSERVER_REGISTRATION_ENABLED:-1} ;;
esac

"$BIN/authserver" db upgrade >/dev/null
"$BIN/flask" --app resource_api db upgrade >/dev/null

# One run of `demo` gives the credentials to show and the client secret to hand the demo client
# (the secret is new on every start; only its hash is kept).
demo_json=$("$BIN/authserver" demo --json)
field() {  # the JSON goes through stdin, so the secret never shows in a process list
  printf '%s' "$demo_json" | "$BIN/python" -c 'import json, sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"
}

# The local mail catcher (aiosmtpd, a dev dependency): the server's default
# AUTHSERVER_SMTP_URL, smtp://127.0.0.1:1025, delivers there; its page lists what was sent.
"$BIN/python" -m scripts.mail_catcher --smtp "$MAIL_SMTP" --web "$MAIL_WEB" &
catcher=$!
# The MCP server (uvicorn, one process); its client secret from `demo`, through the environment.
MCP_CALENDAR_CLIENT_SECRET=$(field mcp_client_secret) "$BIN/python" -m examples.mcp_calendar &
mcp_server=$!
trap 'kill "$catcher" "$mcp_server" 2>/dev/null || true' EXIT

echo "Demo credentials (the client secret is new on every start; only its hash is kept):"
for key in issuer login console user_email user_password client_id client_secret redirect_uri; do
  echo "  $key: $(field "$key")"
done

cat <<MSG

Authorization server: ${AUTHSERVER_ISSUER}  (log in at ${AUTHSERVER_ISSUER}/login)
Developer console:    ${AUTHSERVER_ISSUER}/console/
Resource API:         ${API_URL}/docs
Demo client app:      ${DEMO_URL}
Mail catcher:         http://${MAIL_WEB}  (the mail the server sends; SMTP on ${MAIL_SMTP})
MCP server:           ${MCP_CALENDAR_URL}  (the calendar as tools for AI agents)

Try it: open ${DEMO_URL} and click Sign up with Authserver
(log in as the demo user above, choose what to allow, and land on the app's dashboard).
Or sign up with a new address at ${AUTHSERVER_ISSUER}/signup and follow the link in the mail
at http://${MAIL_WEB}: it confirms the address and signs you in.

Try it from a terminal (the device flow, RFC 8628: type the code it shows at /device):
  .venv/bin/python examples/device_flow.py --issuer ${AUTHSERVER_ISSUER} --client-id demo-device

Connect an MCP client (streamable HTTP) to ${MCP_CALENDAR_URL}, e.g. the MCP Inspector:
  npx @modelcontextprotocol/inspector   (transport "Streamable HTTP", URL ${MCP_CALENDAR_URL})
It registers itself: by a Client ID Metadata Document if it has one, else by dynamic
registration (RFC 7591), $( [ "${AUTHSERVER_REGISTRATION_ENABLED:-0}" = 1 ] && echo "open on this loopback server (AUTHSERVER_REGISTRATION_ENABLED=0 closes it)" || echo "closed here: register a public client in the console" ).

MSG
# The console script runs the three under gunicorn (authserver.gunicorn_settings) and stops the
# resource API (one port up) and the demo client (two up) with the server.
# Not exec'd: the EXIT trap stops the mail catcher when the services stop (Ctrl-C).
DEMO_CLIENT_CLIENT_SECRET=$(field client_secret) \
  "$BIN/authserver" serve --bind "$BIND" --api --demo-client
