#!/usr/bin/env bash
# Start the authorization server (:5000) and the resource API (:5001) on the embedded SQLite
# databases, with a demo user and client. Stop both with Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin

"$BIN/flask" --app authserver db upgrade >/dev/null
"$BIN/flask" --app resource_api db upgrade >/dev/null

echo "Demo credentials (the client secret is new on every start; only its hash is kept):"
"$BIN/flask" --app authserver demo | sed 's/^/  /'

"$BIN/gunicorn" --config scripts/gunicorn.conf.py --bind 127.0.0.1:5001 --access-logfile - wsgi:api_app &
api_pid=$!
trap 'kill "$api_pid" 2>/dev/null || true' EXIT INT TERM

cat <<'MSG'

Authorization server: http://127.0.0.1:5000  (log in at http://127.0.0.1:5000/login)
Developer console:    http://127.0.0.1:5000/console/
Resource API:         http://127.0.0.1:5001/openapi.json
Try the flow in a browser (PKCE S256 is optional for this confidential client):
  http://127.0.0.1:5000/oauth/authorize?response_type=code&client_id=demo-client&redirect_uri=http%3A%2F%2F127.0.0.1%3A8765%2Fcallback&scope=openid%20profile%20email%20offline_access%20events%3Aread%20events%3Awrite&state=xyz
then exchange the code from the address bar as the README shows.

MSG
"$BIN/gunicorn" --config scripts/gunicorn.conf.py --bind 127.0.0.1:5000 --access-logfile - wsgi:auth_app
