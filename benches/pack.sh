#!/usr/bin/env bash
# Pack benchmark: `modelseal pack` (hash + copy into a layout) against `openssl dgst -sha256`
# (hash only) and `model_signing sign key` (OpenSSF model signing: hash + sign) on the same
# model, in the same run, warm cache. Prints median wall time, peak RSS and the ratios.
#
#   benches/pack.sh            # 8 files x 256 MiB + config.json, 5 runs each
#   FILES=4 FILE_MIB=64 RUNS=3 benches/pack.sh
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
files=${FILES:-8}
file_mib=${FILE_MIB:-256}
runs=${RUNS:-5}
work=${BENCH_DIR:-/tmp/modelseal-bench-${files}x${file_mib}}
bin="$root/target/release/modelseal"

cargo build --release --quiet --manifest-path "$root/Cargo.toml"
if ! command -v model_signing >/dev/null 2>&1; then
  pip install --quiet model-signing==1.1.1 pyOpenSSL
fi

model="$work/model"
if [ ! -f "$work/model.complete" ]; then
  rm -rf "$model"
  mkdir -p "$model"
  for i in $(seq 1 "$files"); do
    head -c "$((file_mib << 20))" /dev/urandom > "$model/model-$(printf %05d "$i")-of-$(printf %05d "$files").safetensors"
  done
  printf '{"architectures":["BenchForCausalLM"],"hidden_size":4096}\n' > "$model/config.json"
  touch "$work/model.complete"
fi
if [ ! -f "$work/key.pem" ]; then
  openssl ecparam -name prime256v1 -genkey -noout | openssl pkcs8 -topk8 -nocrypt -out "$work/key.pem"
  openssl ec -in "$work/key.pem" -pubout -out "$work/pub.pem" 2>/dev/null
fi
weights=("$model"/*.safetensors "$model/config.json")
total_bytes=$(cat "${weights[@]}" | wc -c)

# Runs a command $runs times after its setup; prints "median_seconds peak_rss_kib".
measure() {
  local setup=$1
  shift
  local times=() peak=0
  for _ in $(seq 1 "$runs"); do
    eval "$setup"
    cat "${weights[@]}" > /dev/null  # warm cache
    sync
    /usr/bin/time -f "%e %M" -o "$work/time" "$@" > /dev/null 2> "$work/stderr" || {
      cat "$work/stderr" >&2
      exit 1
    }
    read -r seconds rss < "$work/time"
    times+=("$seconds")
    [ "$rss" -gt "$peak" ] && peak=$rss
  done
  local median
  median=$(printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
  echo "$median $peak"
}

read -r pack_s pack_kib < <(measure "rm -rf '$work/layout'" \
  "$bin" pack "$model" "oci:$work/layout:bench")
read -r openssl_s openssl_kib < <(measure ":" \
  openssl dgst -sha256 "${weights[@]}")
read -r oms_s oms_kib < <(measure "rm -f '$work/model.sig'" \
  model_signing sign key --private_key "$work/key.pem" --signature "$work/model.sig" "$model")
rm -rf "$work/layout" "$work/model.sig"

gib=$(awk -v b="$total_bytes" 'BEGIN {printf "%.2f", b / 1073741824}')
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a / b}'; }
rate() { awk -v b="$total_bytes" -v s="$1" 'BEGIN {printf "%.2f", b / s / 1e9}'; }
echo
echo "model: $files files x $file_mib MiB + config.json = $gib GiB; $runs runs each, median; $(nproc) cores"
echo
echo "| command | median time | throughput | peak RSS |"
echo "| --- | --- | --- | --- |"
echo "| modelseal pack (hash + copy) | ${pack_s} s | $(rate "$pack_s") GB/s | $((pack_kib / 1024)) MiB |"
echo "| openssl dgst -sha256 (hash only) | ${openssl_s} s | $(rate "$openssl_s") GB/s | $((openssl_kib / 1024)) MiB |"
echo "| model_signing sign key (hash + sign) | ${oms_s} s | $(rate "$oms_s") GB/s | $((oms_kib / 1024)) MiB |"
echo
echo "modelseal pack / openssl dgst: $(ratio "$pack_s" "$openssl_s") (goal <= 1.00)"
echo "modelseal pack / model_signing sign key: $(ratio "$pack_s" "$oms_s") (goal <= 0.50)"
echo "modelseal pack peak RSS: $((pack_kib / 1024)) MiB (goal <= 64 MiB)"
