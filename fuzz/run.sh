#!/usr/bin/env bash
# Runs every fuzz target for SECONDS_PER_TARGET seconds each (default 60), seeded from the
# test fixtures: the scanner's corpus (tests/scan/corpus.py), every blob of a quickstart layout
# (manifests, configs, bundles, envelopes, simple-signing payloads), the starter policies, the
# conformance trusted roots, key fixtures, SLSA statements and a few registry answers.
# A crash leaves its input in fuzz/artifacts/ and fails the run.
#
#   fuzz/run.sh [TARGET...]          # all targets when none is named
#
# Needs cargo-fuzz (cargo install cargo-fuzz). Uses the nightly toolchain (with
# AddressSanitizer) when there is one and FUZZ_STABLE is not 1, else the stable one with
# RUSTC_BOOTSTRAP=1 and no sanitizer (what CI has).
set -euo pipefail
cd "$(dirname "$0")"
seconds=${SECONDS_PER_TARGET:-60}
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  targets=(pickle scan_layer reference manifest modelpack signed_payloads bundle trust_material registry_answers policy rego_input)
fi
if [ "${FUZZ_STABLE:-}" != 1 ] && rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
  fuzz=(cargo +nightly fuzz run -O)
else
  export RUSTC_BOOTSTRAP=1
  fuzz=(cargo fuzz run -O -s none)
fi

seeds=$(mktemp -d)
trap 'rm -rf "$seeds"' EXIT
# seed TARGET FILE...: copies those of the files that exist into TARGET's corpus.
seed() {
  local target=$1
  shift
  mkdir -p "corpus/$target"
  for f in "$@"; do
    if [ -f "$f" ]; then cp "$f" "corpus/$target/"; fi
  done
}

python3 ../tests/scan/corpus.py "$seeds/scan"
seed pickle "$seeds"/scan/*/*.pkl
seed scan_layer "$seeds"/scan/*/*

# A layout with everything quickstart attaches: signatures in both formats, provenance and
# scan attestations, in bundles and legacy layers.
(cd .. && cargo build --quiet && target/debug/modelseal quickstart --dir "$seeds/quickstart" > /dev/null)
blobs=("$seeds"/quickstart/*/blobs/sha256/*)
small=()
for blob in "${blobs[@]}"; do
  [ "$(stat -c %s "$blob")" -le 65536 ] && small+=("$blob")
done
for target in manifest signed_payloads bundle; do seed "$target" "${small[@]}"; done
python3 - "$seeds/quickstart" corpus/modelpack <<'PY'
import json, os, pathlib, sys
root, out = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
out.mkdir(parents=True, exist_ok=True)
for index in root.glob("*/index.json"):
    blobs = index.parent / "blobs" / "sha256"
    for entry in json.loads(index.read_text())["manifests"]:
        manifest = (blobs / entry["digest"][7:]).read_bytes()
        config = (blobs / json.loads(manifest)["config"]["digest"][7:]).read_bytes()
        split = (len(manifest) * 256 + len(manifest) + len(config)) // (len(manifest) + len(config) + 1)
        (out / entry["digest"][7:19]).write_bytes(bytes([min(split, 255)]) + manifest + config)
PY
seed policy ../policies/*.yaml ../policies/*.json
seed rego_input ../testdata/slsa/*.json
seed trust_material ../testdata/conformance/*.json ../testdata/conformance/bundle-verify/*/trusted_root.json ../testdata/keys/* "$seeds"/quickstart/*.pub "$seeds"/quickstart/*.key
mkdir -p corpus/reference corpus/registry_answers
printf 'oci:./models:v1' > corpus/reference/layout
printf 'registry.example.com:5000/models/llama@sha256:%064d' 0 > corpus/reference/pinned
printf 'Bearer realm="https://auth.example.com/token",service="registry",scope="repository:m:pull"' > corpus/registry_answers/bearer
printf '</v2/m/referrers/x?n=1&last=y>; rel="next"' > corpus/registry_answers/link
printf '{"errors":[{"code":"DENIED","message":"no"}]}' > corpus/registry_answers/errors

for target in "${targets[@]}"; do
  echo "== $target (${seconds}s)"
  "${fuzz[@]}" "$target" "corpus/$target" -- \
    -max_total_time="$seconds" -rss_limit_mb=2048 -max_len=65536 -timeout=10
done
