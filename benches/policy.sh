#!/usr/bin/env bash
# Policy benchmark: `modelseal verify --policy` (a signature threshold and two attestation
# requirements with three Rego rules) against `modelseal verify --key` of the same artifact: the
# sample ModelPack in a layout carrying 3 signatures and 2 attestations. Median wall time of
# RUNS runs each, in the same run, release build.
#
#   benches/policy.sh          # RUNS=50
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
runs=${RUNS:-50}
work=$(mktemp -d /tmp/modelseal-policy-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT
bin="$root/target/release/modelseal"
cargo build --release --quiet --manifest-path "$root/Cargo.toml"

export COSIGN_PASSWORD=
"$bin" pack "$root/testdata/tiny-model" "oci:$work/layout:v1" > /dev/null 2>&1
"$bin" generate-key-pair --output-key-prefix "$work/signer" > /dev/null 2>&1
layout="oci:$work/layout:v1"
"$bin" sign --key "$work/signer.key" "$layout" > /dev/null 2>&1
"$bin" sign --key "$work/signer.key" --format legacy "$layout" > /dev/null 2>&1
"$bin" sign --key "$work/signer.key" -a run=3 "$layout" > /dev/null 2>&1
"$bin" provenance "$layout" --builder-id https://builder.example.com --source-repository https://github.com/acme/models \
  --attest --key "$work/signer.key" > /dev/null 2>&1
"$bin" scan "$layout" --attest --key "$work/signer.key" > /dev/null 2>&1

cat > "$work/builder.rego" << 'REGO'
package modelseal

deny contains msg if {
	input.predicate.runDetails.builder.id != "https://builder.example.com"
	msg := "untrusted builder"
}
REGO
cat > "$work/source.rego" << 'REGO'
package modelseal

deny contains msg if {
	not startswith(input.predicate.buildDefinition.externalParameters.source.repository, "https://github.com/acme/")
	msg := "untrusted source"
}
REGO
cat > "$work/scan.rego" << 'REGO'
package modelseal

deny contains msg if {
	input.predicate.result.verdict != "clean"
	msg := "the scan is not clean"
}
REGO
cat > "$work/policy.yaml" << YAML
version: 1
policies:
  - name: bench
    scopes: ["**"]
    authorities:
      - name: signer
        key: {path: signer.pub}
    signatures:
      threshold: 1
    attestations:
      - type: slsaprovenance1
        rules: [builder.rego, source.rego]
      - type: scan
        maxAge: 7d
        rules: [scan.rego]
YAML

# Median milliseconds of $runs runs of a command.
measure() {
  local times=()
  for _ in $(seq 1 "$runs"); do
    local start end
    start=$(date +%s%N)
    "$@" > /dev/null 2>&1 || { echo "failed: $*" >&2; exit 1; }
    end=$(date +%s%N)
    times+=("$(((end - start) / 1000))")
  done
  printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {printf "%.1f", a[int((NR+1)/2)] / 1000}'
}

key_ms=$(measure "$bin" verify --key "$work/signer.pub" "$layout")
policy_ms=$(measure "$bin" verify --policy "$work/policy.yaml" "$layout")
echo
echo "sample ModelPack with 3 signatures and 2 attestations; $runs runs each, median; $(nproc) cores"
echo
echo "| command | median |"
echo "| --- | --- |"
echo "| modelseal verify --key | ${key_ms} ms |"
echo "| modelseal verify --policy (threshold, 2 attestations, 3 Rego rules) | ${policy_ms} ms |"
echo
echo "policy / key: $(awk -v a="$policy_ms" -v b="$key_ms" 'BEGIN {printf "%.2f", a / b}') (goal: at most 1.50)"
