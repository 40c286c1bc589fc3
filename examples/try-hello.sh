#!/usr/bin/env bash
# Builds the hello connector, validates it, shows its cards and runs one
# against a small directory API served on loopback. Leaves nothing running.
set -euo pipefail
cd "$(dirname "$0")/.."

rustup target add wasm32-wasip2 >/dev/null
cargo build -q -p hello-connector --target wasm32-wasip2 --release
cargo build -q -p cardhost
cardhost=target/debug/cardhost
wasm_dir=target/wasm32-wasip2/release

echo "== cardhost validate"
"$cardhost" validate "$wasm_dir/hello_connector.wasm"

echo; echo "== cardhost cards hello"
"$cardhost" --connectors-dir "$wasm_dir" cards hello

# A tiny directory API: GET /people/7 answers a person.
site=$(mktemp -d)
mkdir -p "$site/people"
echo '{"id": "7", "name": "Aiko Tanaka"}' > "$site/people/7"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
python3 -m http.server "$port" --bind 127.0.0.1 --directory "$site" >/dev/null 2>&1 &
server=$!
trap 'kill $server 2>/dev/null; rm -rf "$site"' EXIT
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$port/people/7" >/dev/null && break; sleep 0.1; done

echo; echo "== cardhost invoke hello greet-person"
HELLO_TOKEN=demo-token "$cardhost" --connectors-dir "$wasm_dir" invoke hello greet-person \
  --input '{"id": "7"}' \
  --fields "{\"base_url\": \"http://127.0.0.1:$port\"}" \
  --secret-env token=HELLO_TOKEN --allow-loopback

echo; echo "== a request the card's permissions do not allow (refused by the broker)"
HELLO_TOKEN=demo-token "$cardhost" --connectors-dir "$wasm_dir" invoke hello custom-api-action \
  --input '{"method": "DELETE", "relative_url": "/people/7"}' \
  --fields "{\"base_url\": \"http://127.0.0.1:$port\"}" \
  --secret-env token=HELLO_TOKEN --allow-loopback || true

echo; echo "Next: cardhost cards --json (schemas), examples/hello-connector/README.md (write your own)."
