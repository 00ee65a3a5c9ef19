#!/usr/bin/env bash
# Conformance benchmark: the 70 Sigstore bundle-verification cases, one process each, by
# `modelseal verify-bundle`, against sigstore-python's CLI (`sigstore verify identity
# --offline`, PyPI sigstore 4.5.1) on the cases it can run the same way (keyless, against the
# production root: it has no key verification, and a custom root needs a trust config). Wall
# time of whole runs, median of RUNS, release build, in the same run.
#
#   benches/conformance.sh     # RUNS=3
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
runs=${RUNS:-3}
bin="$root/target/release/modelseal"
suite="$root/testdata/conformance"
cargo build --release --quiet --manifest-path "$root/Cargo.toml"
command -v sigstore > /dev/null 2>&1 || pip install --quiet sigstore==4.5.1
default_identity="https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/.github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main"
default_issuer="https://token.actions.githubusercontent.com"

# Runs one case with modelseal (all cases) or sigstore-python (the comparable ones).
case_args() {
  local dir=$1
  artifact="$suite/a.txt"
  [ -f "$dir/artifact" ] && artifact="$dir/artifact"
  identity=$default_identity
  [ -f "$dir/identity" ] && identity=$(cat "$dir/identity")
  issuer=$default_issuer
  [ -f "$dir/issuer" ] && issuer=$(cat "$dir/issuer")
}
# With "comparable", only the cases sigstore-python runs; with "timed", each case's wall time
# in milliseconds goes to standard output.
run_modelseal() {
  for dir in "$suite"/bundle-verify/*/; do
    dir=${dir%/}
    [ "${1:-}" = comparable ] && { [ -f "$dir/key.pub" ] || [ -f "$dir/trusted_root.json" ]; } && continue
    case_args "$dir"
    if [ -f "$dir/key.pub" ]; then
      extra=(--key "$dir/key.pub")
    else
      extra=(--certificate-identity "$identity" --certificate-oidc-issuer "$issuer")
    fi
    [ -f "$dir/trusted_root.json" ] && extra+=(--trusted-root "$dir/trusted_root.json")
    # EPOCHREALTIME (microseconds, no process) keeps the timing out of the measured total.
    local start=${EPOCHREALTIME/./}
    "$bin" verify-bundle --bundle "$dir/bundle.sigstore.json" "${extra[@]}" "$artifact" > /dev/null 2>&1 || true
    [ "${1:-}" = timed ] && echo $((${EPOCHREALTIME/./} - start))
  done
  return 0
}
run_sigstore_python() {
  for dir in "$suite"/bundle-verify/*/; do
    dir=${dir%/}
    { [ -f "$dir/key.pub" ] || [ -f "$dir/trusted_root.json" ]; } && continue
    case_args "$dir"
    sigstore verify identity --offline --bundle "$dir/bundle.sigstore.json" \
      --cert-identity "$identity" --cert-oidc-issuer "$issuer" "$artifact" > /dev/null 2>&1 || true
  done
}
comparable=0
for dir in "$suite"/bundle-verify/*/; do
  { [ -f "$dir/key.pub" ] || [ -f "$dir/trusted_root.json" ]; } || comparable=$((comparable + 1))
done

median() {
  local times=()
  for _ in $(seq 1 "$runs"); do
    local start end
    start=$(date +%s%N)
    "$@"
    end=$(date +%s%N)
    times+=("$(((end - start) / 1000000))")
  done
  printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'
}

all_ms=$(median run_modelseal)
# The median of the 70 per-case times, in microseconds, from one more pass.
case_us=$(run_modelseal timed | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
ours_ms=$(median run_modelseal comparable)
theirs_ms=$(median run_sigstore_python)
echo
echo "Sigstore conformance bundle-verify cases, one process each; $runs runs, median; $(nproc) cores"
echo
echo "| run | cases | total | per case |"
echo "| --- | --- | --- | --- |"
echo "| modelseal verify-bundle, all cases | 70 | ${all_ms} ms | $(awk -v t="$all_ms" 'BEGIN {printf "%.1f", t / 70}') ms |"
echo "| modelseal verify-bundle, comparable cases | $comparable | ${ours_ms} ms | $(awk -v t="$ours_ms" -v n="$comparable" 'BEGIN {printf "%.1f", t / n}') ms |"
echo "| sigstore verify identity --offline, comparable cases | $comparable | ${theirs_ms} ms | $(awk -v t="$theirs_ms" -v n="$comparable" 'BEGIN {printf "%.1f", t / n}') ms |"
echo
echo "modelseal median time per case: $(awk -v t="$case_us" 'BEGIN {printf "%.1f", t / 1000}') ms"
echo "sigstore-python / modelseal: $(awk -v a="$theirs_ms" -v b="$ours_ms" 'BEGIN {printf "%.1f", a / b}')x (goal: at least 20x)"
