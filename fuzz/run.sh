#!/usr/bin/env bash
# Runs every fuzz target for SECONDS seconds each (default 60), seeded with the scanner's test
# corpus (tests/scan/corpus.py). Needs the nightly toolchain and cargo-fuzz
# (cargo install cargo-fuzz). A crash leaves its input in fuzz/artifacts/ and fails the run.
set -euo pipefail
cd "$(dirname "$0")"
seconds=${SECONDS_PER_TARGET:-60}
seeds=$(mktemp -d)
trap 'rm -rf "$seeds"' EXIT
python3 ../tests/scan/corpus.py "$seeds/corpus"
mkdir -p corpus/pickle corpus/scan_layer
cp "$seeds"/corpus/*/*.pkl corpus/pickle/
cp "$seeds"/corpus/*/* corpus/scan_layer/
for target in pickle scan_layer; do
  cargo +nightly fuzz run -O "$target" "corpus/$target" -- \
    -max_total_time="$seconds" -rss_limit_mb=2048 -max_len=65536
done
