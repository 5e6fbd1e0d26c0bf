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

# The local mail catcher (aiosmtpd, a dev dependency): the server's default
# AUTHSERVER_SMTP_URL, smtp://127.0.0.1:1025, delivers there; its page lists what was sent.
"$BIN/python" -m scripts.mail_catcher --smtp 127.0.0.1:1025 --web 127.0.0.1:1080 &
catcher=$!
trap 'kill "$catcher" 2>/dev/null || true' EXIT

echo "Demo credentials (the client secret is new on every start; only its hash is kept):"
for key in issuer login console user_email user_password client_id client_secret redirect_uri; do
  echo "  $key: $(field "$key")"
done

cat <<'MSG'

Authorization server: http://127.0.0.1:5000  (log in at http://127.0.0.1:5000/login)
Developer console:    http://127.0.0.1:5000/console/
Resource API:         http://127.0.0.1:5001/openapi.json
Demo client app:      http://127.0.0.1:5002
Mail catcher:         http://127.0.0.1:1080  (the mail the server sends; SMTP on 127.0.0.1:1025)

Try it: open http://127.0.0.1:5002 and click Sign up with Authserver
(log in as the demo user above, choose what to allow, and land on the app's dashboard).
Or sign up with a new address at http://127.0.0.1:5000/signup and follow the link in the mail
at http://127.0.0.1:1080: it confirms the address and signs you in.

MSG
# The console script runs the three under gunicorn (authserver.gunicorn_settings) and stops the
# resource API (:5001) and the demo client (:5002) with the server.
# Not exec'd: the EXIT trap stops the mail catcher when the services stop (Ctrl-C).
DEMO_CLIENT_CLIENT_SECRET=$(field client_secret) \
  "$BIN/authserver" serve --bind 127.0.0.1:5000 --api --demo-client
