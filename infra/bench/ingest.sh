#!/usr/bin/env bash
# Ingest throughput: wrk drives N distinct, correctly signed Twilio webhooks at atiende on the
# embedded (durable SQLite) bus, in two shapes:
#   * ingest alone (atiende-ingest): what the ingest service sustains;
#   * atiende all in one: the same while processor and dispatcher answer on the same 2 cores.
# When ../shared/bench/anchor-ingest.sh is present (the seeds' FastAPI reference stack), it runs
# first for a side-by-side figure.
#
# Env: N (distinct webhooks, 20000), SECS (15), CONN (32), PORT (18090).
set -euo pipefail
cd "$(dirname "$0")/../.."
N=${N:-20000} SECS=${SECS:-15} CONN=${CONN:-32} PORT=${PORT:-18090}
venv=${E2E_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/atiende/test-venv}
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
"$venv/bin/python" -c 'import twilio' 2>/dev/null || { python3 -m venv "$venv" && "$venv/bin/pip" install -q 'twilio>=9,<10'; }
cargo build --release --locked -q -p atiende -p atiende-ingest

work=$(mktemp -d)
pid= sink=
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; [ -n "$sink" ] && kill "$sink" 2>/dev/null; rm -rf "$work"' EXIT
# The dispatcher of the all-in-one run sends to a loopback sink, never to the internet.
sink_port=$((PORT + 1))
python3 infra/bench/twilio_sink.py "$sink_port" & sink=$!
base="http://127.0.0.1:$PORT"
"$venv/bin/python" infra/bench/gen_webhooks.py "$N" "$base" /webhooks/twilio/demo 12345 "$work/webhooks.lua"

if [ -x ../shared/bench/anchor-ingest.sh ]; then
  ../shared/bench/anchor-ingest.sh
fi

run() { # label binary
  rm -rf "$work/data"
  PORT=$PORT ATIENDE_DATA_DIR="$work/data" ATIENDE_PUBLIC_URL="$base" RUST_LOG=warn \
    TWILIO_API_BASE="http://127.0.0.1:$sink_port" \
    "target/release/$2" >"$work/$2.log" 2>&1 &
  pid=$!
  for _ in $(seq 100); do curl -sf -o /dev/null "$base/health/ready" && break; sleep 0.1; done
  echo "== $1"
  wrk -t1 -c"$CONN" -d"${SECS}s" --latency -s "$work/webhooks.lua" "$base" \
    | grep -E "Requests/sec|50%|99%|Non-2xx|Socket errors"
  kill "$pid"; wait "$pid" 2>/dev/null || true; pid=
}
run "atiende-ingest alone (embedded durable bus)" atiende-ingest
run "atiende all in one (ingest + processor + dispatcher)" atiende
