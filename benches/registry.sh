#!/usr/bin/env bash
# Registry transfer benchmark: push and pull of a 2 GiB ModelPack (8 x 256 MiB + config.json)
# between a layout and a local docker-registry, by `modelseal copy` and by `skopeo copy`, in the
# same run, each against a fresh registry (so nothing is already there), warm page cache.
# Prints the median wall time, peak RSS and the ratios.
#
#   benches/registry.sh        # FILES=8 FILE_MIB=256 RUNS=3
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
files=${FILES:-8}
file_mib=${FILE_MIB:-256}
runs=${RUNS:-3}
work=$(mktemp -d /tmp/modelseal-registry-bench.XXXXXX)
bin="$root/target/release/modelseal"
registry_pid=""
cleanup() {
  [ -n "$registry_pid" ] && kill "$registry_pid" 2> /dev/null && wait "$registry_pid" 2> /dev/null
  rm -rf "$work"
}
trap cleanup EXIT
cargo build --release --quiet --manifest-path "$root/Cargo.toml"

model="$work/model"
mkdir -p "$model"
for i in $(seq 1 "$files"); do
  head -c "$((file_mib << 20))" /dev/urandom > "$model/model-$i.safetensors"
done
printf '{"hidden_size":4096}\n' > "$model/config.json"
"$bin" pack "$model" "oci:$work/layout:bench" > /dev/null 2>&1

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
start_registry() {
  rm -rf "$work/registry"
  mkdir -p "$work/registry"
  cat > "$work/registry/config.yml" << CONFIG
version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $work/registry/data
http:
  addr: 127.0.0.1:$port
CONFIG
  docker-registry serve "$work/registry/config.yml" > /dev/null 2>&1 &
  registry_pid=$!
  for _ in $(seq 1 100); do curl -fsS "http://127.0.0.1:$port/v2/" > /dev/null 2>&1 && return; sleep 0.1; done
  echo "registry did not start" >&2
  exit 1
}
stop_registry() {
  kill "$registry_pid" && wait "$registry_pid" 2> /dev/null || true
  registry_pid=""
}

# measure SETUP COMMAND...: median seconds and peak RSS (KiB) over $runs runs. Run it in this
# shell (not in a subshell), so that the registry it starts is the one stop_registry stops.
measure() {
  local setup=$1
  shift
  local times=() peak=0
  for _ in $(seq 1 "$runs"); do
    eval "$setup"
    cat "$model"/* > /dev/null
    sync
    export XDG_DATA_HOME="$work/xdg-$RANDOM" # no skopeo blob-info cache across runs
    /usr/bin/time -f "%e %M" -o "$work/time" "$@" > /dev/null 2> "$work/stderr" || {
      cat "$work/stderr" >&2
      exit 1
    }
    read -r seconds rss < "$work/time"
    times+=("$seconds")
    [ "$rss" -gt "$peak" ] && peak=$rss
  done
  echo "$(printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}') $peak"
}

reg="127.0.0.1:$port"
fresh_registry='[ -n "$registry_pid" ] && stop_registry; start_registry'
measure "$fresh_registry" "$bin" copy "oci:$work/layout:bench" "$reg/bench/model:1" > "$work/result"
read -r push_ms push_kib < "$work/result"
measure "$fresh_registry" skopeo copy --quiet --dest-tls-verify=false "oci:$work/layout:bench" "docker://$reg/bench/model:1" > "$work/result"
read -r push_sk push_sk_kib < "$work/result"
# Pull from one registry holding the artifact, into a new layout each time.
stop_registry
start_registry
"$bin" copy "oci:$work/layout:bench" "$reg/bench/model:1" > /dev/null 2>&1
measure 'rm -rf "$work/pulled"' "$bin" copy "$reg/bench/model:1" "oci:$work/pulled:1" > "$work/result"
read -r pull_ms pull_kib < "$work/result"
measure 'rm -rf "$work/pulled"' skopeo copy --quiet --src-tls-verify=false "docker://$reg/bench/model:1" "oci:$work/pulled:1" > "$work/result"
read -r pull_sk pull_sk_kib < "$work/result"

ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a / b}'; }
echo
echo "$files x $file_mib MiB + config.json; $runs runs each, median; $(nproc) cores; local docker-registry over HTTP"
echo
echo "| transfer | modelseal copy | skopeo copy | ratio | peak RSS (modelseal / skopeo) |"
echo "| --- | --- | --- | --- | --- |"
echo "| push (layout to registry) | ${push_ms} s | ${push_sk} s | $(ratio "$push_ms" "$push_sk") | $((push_kib / 1024)) / $((push_sk_kib / 1024)) MiB |"
echo "| pull (registry to layout) | ${pull_ms} s | ${pull_sk} s | $(ratio "$pull_ms" "$pull_sk") | $((pull_kib / 1024)) / $((pull_sk_kib / 1024)) MiB |"
