#!/usr/bin/env bash
# Start the authorization server (:5000), the resource API (:5001) and the demo client app
# (:5002) on the embedded SQLite databases, with a demo user and client. Stop all with Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin

"$BIN/authserver" db upgrade >/dev/null
"$BIN/flask" --app resource_api db upgrade >/dev/null

# One run of `demo` gives the credentials to show and the client secret to hand the demo client
# (the secret is new on every start; only its hash is kept).
demo_json=$("$BIN/authserver" demo --json)
field() {  # the JSON goes through stdin, so the secret never shows in a process list
  printf '%s' "$demo_json" | "$BIN/python" -c 'import json, sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"
}

echo "Demo credentials (the client secret is new on every start; only its hash is kept):"
for key in issuer login console user_email user_password client_id client_secret redirect_uri; do
  echo "  $key: $(field "$key")"
done

cat <<'MSG'

Authorization server: http://127.0.0.1:5000  (log in at http://127.0.0.1:5000/login)
Developer console:    http://127.0.0.1:5000/console/
Resource API:         http://127.0.0.1:5001/openapi.json
Demo client app:      http://127.0.0.1:5002

Try it: open http://127.0.0.1:5002 and click Sign up with Authserver
(log in as the demo user above, choose what to allow, and land on the app's dashboard).

Try it from a terminal (the device flow, RFC 8628: type the code it shows at /device):
  .venv/bin/python examples/device_flow.py --issuer http://127.0.0.1:5000 --client-id demo-device

MSG
# The console script runs the three under gunicorn (authserver.gunicorn_settings) and stops the
# resource API (:5001) and the demo client (:5002) with the server.
DEMO_CLIENT_CLIENT_SECRET=$(field client_secret) \
  exec "$BIN/authserver" serve --bind 127.0.0.1:5000 --api --demo-client
