#!/usr/bin/env bash
# Verify benchmark: `modelseal verify --key` of a ModelPack in a layout carrying 10 signatures
# (5 bundle referrers, 5 legacy .sig layers, all checked) against the floor of one process that
# checks one ECDSA signature, `openssl dgst -sha256 -verify`. Median wall time of many runs of
# each whole process, in the same run.
#
#   benches/verify.sh          # RUNS=50
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
runs=${RUNS:-50}
work=$(mktemp -d /tmp/modelseal-verify-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT
bin="$root/target/release/modelseal"
cargo build --release --quiet --manifest-path "$root/Cargo.toml"

export COSIGN_PASSWORD=""
"$bin" pack "$root/testdata/tiny-model" "oci:$work/layout:v1" > /dev/null 2>&1
"$bin" generate-key-pair --output-key-prefix "$work/key" 2> /dev/null
for i in 1 2 3 4 5; do
  "$bin" sign --key "$work/key.key" -a "n=$i" "oci:$work/layout:v1" > /dev/null 2>&1
  "$bin" sign --key "$work/key.key" --format legacy -a "n=$i" "oci:$work/layout:v1" > /dev/null 2>&1
done
count=$("$bin" verify --key "$work/key.pub" "oci:$work/layout:v1" | grep -c '^  verified')
[ "$count" -eq 10 ] || { echo "expected 10 verified signatures, got $count" >&2; exit 1; }

# The floor: one ECDSA P-256 verification in one process, on a signature of the same kind.
printf 'payload to verify' > "$work/payload"
openssl ecparam -name prime256v1 -genkey -noout 2> /dev/null | openssl pkcs8 -topk8 -nocrypt -out "$work/ossl.pem"
openssl ec -in "$work/ossl.pem" -pubout -out "$work/ossl.pub" 2> /dev/null
openssl dgst -sha256 -sign "$work/ossl.pem" -out "$work/sig" "$work/payload"

# Runs a command $runs times; prints the median wall time in microseconds.
median_us() {
  local times=()
  for _ in $(seq 1 "$runs"); do
    local start end
    start=$(date +%s%N)
    "$@" > /dev/null 2>&1 || { echo "failed: $*" >&2; exit 1; }
    end=$(date +%s%N)
    times+=($(((end - start) / 1000)))
  done
  printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'
}

verify_us=$(median_us "$bin" verify --key "$work/key.pub" "oci:$work/layout:v1")
openssl_us=$(median_us openssl dgst -sha256 -verify "$work/ossl.pub" -signature "$work/sig" "$work/payload")
ratio=$(awk -v a="$verify_us" -v b="$openssl_us" 'BEGIN {printf "%.2f", a / b}')

echo
echo "$runs runs each, median wall time of the whole process; $(nproc) cores"
echo
echo "| command | median |"
echo "| --- | --- |"
echo "| modelseal verify --key (10 signatures: 5 bundle, 5 legacy) | $((verify_us / 1000)).$(printf %03d $((verify_us % 1000))) ms |"
echo "| openssl dgst -sha256 -verify (1 signature) | $((openssl_us / 1000)).$(printf %03d $((openssl_us % 1000))) ms |"
echo
echo "modelseal verify / openssl floor: $ratio (goal <= 2.00)"
