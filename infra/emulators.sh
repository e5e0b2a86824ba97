#!/usr/bin/env bash
# Google's Pub/Sub and Firestore emulators for atiende's tests and local runs.
#
#   . infra/emulators.sh           # source it: starts both, exports the variables below,
#                                  # and stops them when the sourcing shell exits
#   bash infra/emulators.sh run    # start both and wait (Ctrl-C stops them)
#   bash infra/emulators.sh available   # exit 0 when java and both emulators are installed
#
# Exports PUBSUB_EMULATOR_HOST, FIRESTORE_EMULATOR_HOST and GOOGLE_CLOUD_PROJECT (default
# atiende-test). The emulators come with the Google Cloud CLI's Debian packages
# google-cloud-cli-pubsub-emulator and google-cloud-cli-firestore-emulator (and a Java 17 runtime);
# they are started with `java` directly, so the PIDs are the emulators' own and stopping them
# frees their ports (a gcloud wrapper would leave the JVM behind).
#
# Environment: GCLOUD_SDK_ROOT (default /usr/lib/google-cloud-sdk), PUBSUB_PORT and
# FIRESTORE_PORT (default: free ports), EMULATOR_LOGS (default: a temporary directory).

atiende_emu_fail() {
  echo "emulators: $*" >&2
  return 1
}

# Finds java and both emulators' JARs (sets pubsub_jar and firestore_jar), or says what is missing.
atiende_emulators_available() {
  local sdk=${GCLOUD_SDK_ROOT:-/usr/lib/google-cloud-sdk}
  pubsub_jar=$(ls "$sdk"/platform/pubsub-emulator/lib/cloud-pubsub-emulator-*-all.jar 2>/dev/null | head -n1)
  firestore_jar="$sdk/platform/cloud-firestore-emulator/cloud-firestore-emulator.jar"
  command -v java >/dev/null 2>&1 ||
    { atiende_emu_fail "java is missing (Debian: openjdk-17-jre-headless)"; return 1; }
  [ -n "$pubsub_jar" ] ||
    { atiende_emu_fail "the Pub/Sub emulator is missing under $sdk (Debian: google-cloud-cli-pubsub-emulator)"; return 1; }
  [ -f "$firestore_jar" ] ||
    { atiende_emu_fail "the Firestore emulator is missing: $firestore_jar (Debian: google-cloud-cli-firestore-emulator)"; return 1; }
}

atiende_emulators_start() {
  local pubsub_jar firestore_jar
  atiende_emulators_available || return 1

  local logs=${EMULATOR_LOGS:-$(mktemp -d -t atiende-emulators.XXXXXX)}
  local free='import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
  local pubsub_port=${PUBSUB_PORT:-$(python3 -c "$free")}
  local firestore_port=${FIRESTORE_PORT:-$(python3 -c "$free")}

  java -jar "$pubsub_jar" --host=127.0.0.1 --port="$pubsub_port" >"$logs/pubsub.log" 2>&1 &
  ATIENDE_PUBSUB_PID=$!
  java -Duser.language=en -cp "$firestore_jar" \
    com.google.cloud.datastore.emulator.firestore.CloudFirestore \
    start --host=127.0.0.1 --port="$firestore_port" >"$logs/firestore.log" 2>&1 &
  ATIENDE_FIRESTORE_PID=$!
  trap atiende_emulators_stop EXIT

  local started=$SECONDS name port pid ready
  for name in pubsub firestore; do
    if [ "$name" = pubsub ]; then port=$pubsub_port pid=$ATIENDE_PUBSUB_PID; else port=$firestore_port pid=$ATIENDE_FIRESTORE_PID; fi
    ready=
    # Both answer "Ok" on / when ready: 1-3 s idle, up to ~10 s on a busy machine.
    while [ $((SECONDS - started)) -lt 90 ]; do
      if [ "$(curl -sf "http://127.0.0.1:$port/" 2>/dev/null)" = "Ok" ]; then ready=1; break; fi
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.2
    done
    if [ -z "$ready" ]; then
      cat "$logs/$name.log" >&2
      atiende_emu_fail "the $name emulator did not become ready"
      return 1
    fi
  done
  export PUBSUB_EMULATOR_HOST="127.0.0.1:$pubsub_port"
  export FIRESTORE_EMULATOR_HOST="127.0.0.1:$firestore_port"
  export GOOGLE_CLOUD_PROJECT=${GOOGLE_CLOUD_PROJECT:-atiende-test}
  echo "emulators: Pub/Sub on $PUBSUB_EMULATOR_HOST, Firestore on $FIRESTORE_EMULATOR_HOST (project $GOOGLE_CLOUD_PROJECT; logs in $logs)" >&2
}

# Runs as the EXIT trap: whatever the emulators' JVMs exit with (143 on SIGTERM) must not become
# the exit status of the script that sourced this (under `set -e` it would).
atiende_emulators_stop() {
  local pid
  for pid in "${ATIENDE_PUBSUB_PID:-}" "${ATIENDE_FIRESTORE_PID:-}"; do
    [ -n "$pid" ] || continue
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  ATIENDE_PUBSUB_PID= ATIENDE_FIRESTORE_PID=
  return 0
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  set -euo pipefail
  case "${1:-run}" in
    available)
      atiende_emulators_available
      ;;
    run)
      atiende_emulators_start
      echo "export PUBSUB_EMULATOR_HOST=$PUBSUB_EMULATOR_HOST FIRESTORE_EMULATOR_HOST=$FIRESTORE_EMULATOR_HOST GOOGLE_CLOUD_PROJECT=$GOOGLE_CLOUD_PROJECT"
      wait
      ;;
    *) echo "usage: $0 [run|available]   (or source it)" >&2; exit 2 ;;
  esac
else
  atiende_emulators_start
fi
