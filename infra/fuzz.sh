#!/usr/bin/env bash
# Coverage-guided fuzzing (libFuzzer, through cargo fuzz) of everything atiende reads from the
# internet: the Twilio form and its signature, Meta's notification and signature, Chatwoot's and
# Rocket.Chat's webhooks, the Pub/Sub push envelope, and knowledge uploads.
#
#   infra/fuzz.sh [SECONDS] [TARGET...]   # default: 20 s for each of the five targets
#
# CI runs every target briefly (infra/test.sh); docs/reliability.md records ten-minute runs
# (`infra/fuzz.sh 600`). A crash or an input slower than five seconds (a hang) fails the run and
# leaves the input under fuzz/artifacts/. Inputs are seeded from the repository's own fixtures
# and, where it exists, the third-party corpus in ../shared/eval/realworld (read, never copied
# into the repository). Runs on the stable toolchain: `-s none` needs no sanitizer flags.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '==> %s\n' "$*" >&2; }

seconds=${1:-20}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] ||
  targets=(twilio_webhook meta_notification desk_webhooks push_envelope knowledge_files)

if ! cargo fuzz --version >/dev/null 2>&1; then
  log "Installing cargo-fuzz (crates.io)"
  cargo install cargo-fuzz --version '^0.13' --locked --quiet
fi

log "Building the fuzz targets"
(cd fuzz && cargo fuzz build -s none -O)

# Seeds: a byte saying how long the (empty) signature header is, then a real body.
seeds=$(mktemp -d)
trap 'rm -rf "$seeds"' EXIT
python3 - "$seeds" <<'PY'
import json, pathlib, sys, urllib.parse
out = pathlib.Path(sys.argv[1])
root = pathlib.Path(".")
realworld = root / ".." / "shared" / "eval" / "realworld"
def put(target, name, body):
    d = out / target
    d.mkdir(parents=True, exist_ok=True)
    (d / name).write_bytes(body)
for f in (root / "crates/adapters/meta/tests/fixtures").glob("*.json"):
    put("meta_notification", f.name, b"\0" + f.read_bytes())
if realworld.is_dir():
    for f in (realworld / "meta").glob("*"):
        put("meta_notification", f.name, b"\0" + f.read_bytes())
    for f in (realworld / "twilio").glob("*.json"):
        params = {k: ("" if v is None else str(v)) for k, v in json.loads(f.read_text()).items()}
        put("twilio_webhook", f.name, b"\0" + urllib.parse.urlencode(params).encode())
    for f in (realworld / "chatwoot").glob("*.json"):
        put("desk_webhooks", f.name, b"\0" + f.read_bytes())
put("twilio_webhook", "basic", b"\0" + urllib.parse.urlencode({
    "MessageSid": "SM1", "AccountSid": "AC" + "0" * 32, "From": "whatsapp:+18095551010",
    "Body": "hola", "NumMedia": "0"}).encode())
put("desk_webhooks", "rocketchat", b"\0" + json.dumps({"token": "fuzz-rocketchat-token-00",
    "text": "hola", "user_name": "ana", "channel_id": "r1"}).encode())
put("push_envelope", "basic", json.dumps({"message": {"data": "eyJ0eXBlIjoieCJ9",
    "messageId": "1", "attributes": {}}, "subscription": "projects/p/subscriptions/s"}).encode())
for f in (root / "crates/demo/data").glob("*"):
    kind = {".csv": 2, ".md": 1, ".json": 4, ".txt": 0}.get(f.suffix)
    if kind is not None and f.is_file():
        put("knowledge_files", f.name, bytes([kind]) + f.read_bytes())
PY

failed=0
for target in "${targets[@]}"; do
  corpus="fuzz/corpus/$target"
  mkdir -p "$corpus"
  log "Fuzzing $target for ${seconds}s"
  seed_dir="$seeds/$target"
  mkdir -p "$seed_dir"
  if (cd fuzz && cargo fuzz run "$target" -s none -O "corpus/$target" "$seed_dir" -- \
      -max_total_time="$seconds" -timeout=5 -rss_limit_mb=2048 -print_final_stats=1 \
      >"../target/fuzz-$target.log" 2>&1); then
    summary=$(grep -E '^stat::(number_of_executed_units|peak_rss_mb)|^Done' "target/fuzz-$target.log" | tr '\n' ' ')
    cov=$(grep -oE 'cov: [0-9]+' "target/fuzz-$target.log" | tail -1)
    log "$target: 0 crashes, 0 hangs; $cov; $summary"
  else
    log "$target FAILED: see target/fuzz-$target.log and fuzz/artifacts/$target/"
    tail -30 "target/fuzz-$target.log" >&2
    failed=1
  fi
done
exit "$failed"
