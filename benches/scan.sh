#!/usr/bin/env bash
# Scan benchmark: `modelseal scan` of a ModelPack against `modelscan scan` (PyPI, 0.8.8) of the
# same files, in the same run, warm cache. The model: 8 safetensors files of 256 MiB (valid
# headers, random tensor data) plus a 1 GiB checkpoint laid out as torch.save writes it (a zip
# holding data.pkl and the raw tensor storages). modelseal reads every byte (each layer is
# checked against its digest while it is scanned); modelscan reads what its scanners need.
# Prints the median wall time, peak RSS and the ratio.
#
#   benches/scan.sh            # FILES=8 FILE_MIB=256 CHECKPOINT_MIB=1024 RUNS=3
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
files=${FILES:-8}
file_mib=${FILE_MIB:-256}
checkpoint_mib=${CHECKPOINT_MIB:-1024}
runs=${RUNS:-3}
work=${BENCH_DIR:-/tmp/modelseal-scan-bench-${files}x${file_mib}-${checkpoint_mib}}
bin="$root/target/release/modelseal"

cargo build --release --quiet --manifest-path "$root/Cargo.toml"
command -v modelscan >/dev/null 2>&1 || pip install --quiet modelscan==0.8.8

model="$work/model"
if [ ! -f "$work/model.complete" ]; then
  rm -rf "$model" "$work/layout"
  mkdir -p "$model"
  python3 - "$model" "$files" "$file_mib" "$checkpoint_mib" << 'PY'
import os, pickle, struct, sys, zipfile, collections
model, files, file_mib, checkpoint_mib = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
chunk = 1 << 20
for i in range(files):
    size = file_mib << 20
    header = ('{"w":{"dtype":"U8","shape":[%d],"data_offsets":[0,%d]}}' % (size, size)).encode()
    with open(os.path.join(model, "model-%05d.safetensors" % i), "wb") as f:
        f.write(struct.pack("<Q", len(header)) + header)
        for _ in range(file_mib):
            f.write(os.urandom(chunk))
# A checkpoint laid out as torch.save writes it, with a data.pkl naming torch's rebuild
# function by raw opcodes (no torch needed), and 64 MiB storages.
pkl = (b"\x80\x02}q\x00(X\x06\x00\x00\x00weightq\x01ctorch._utils\n_rebuild_tensor_v2\nq\x02"
       b"(X\x01\x00\x00\x000q\x03K\x00K\x04\x85q\x04K\x01\x85q\x05\x89ccollections\nOrderedDict\n"
       b"q\x06)Rq\x07tq\x08Rq\tu.")
with zipfile.ZipFile(os.path.join(model, "checkpoint.pt"), "w", zipfile.ZIP_STORED) as z:
    z.writestr("archive/data.pkl", pkl)
    for n in range(checkpoint_mib // 64):
        with z.open("archive/data/%d" % n, "w", force_zip64=True) as f:
            for _ in range(64):
                f.write(os.urandom(chunk))
    z.writestr("archive/version", "3\n")
PY
  printf '{"architectures":["BenchForCausalLM"]}\n' > "$model/config.json"
  touch "$work/model.complete"
fi
if [ ! -f "$work/layout.complete" ]; then
  rm -rf "$work/layout"
  "$bin" pack --weight '*.pt' "$model" "oci:$work/layout:bench" > /dev/null
  touch "$work/layout.complete"
fi
total_bytes=$(cat "$model"/* | wc -c)

# Runs a command $runs times; prints "median_seconds peak_rss_kib".
measure() {
  local times=() peak=0
  for _ in $(seq 1 "$runs"); do
    cat "$model"/* "$work/layout/blobs/sha256"/* > /dev/null # warm cache
    /usr/bin/time -f "%e %M" -o "$work/time" "$@" > /dev/null 2> "$work/stderr" || {
      # Both exit non-zero when they flag something; the benchmark model is clean.
      cat "$work/stderr" >&2
      exit 1
    }
    read -r seconds rss < "$work/time"
    times+=("$seconds")
    [ "$rss" -gt "$peak" ] && peak=$rss
  done
  echo "$(printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}') $peak"
}

read -r ours ours_kib < <(measure "$bin" scan "oci:$work/layout:bench")
read -r theirs theirs_kib < <(measure modelscan -p "$model" -r json -o "$work/modelscan.json")

ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a / b}'; }
echo
echo "$files x $file_mib MiB safetensors + a $checkpoint_mib MiB PyTorch zip ($((total_bytes >> 20)) MiB); $runs runs each, median; $(nproc) cores"
echo
echo "| command | median | peak RSS |"
echo "| --- | --- | --- |"
echo "| modelseal scan (every byte, digest-checked) | ${ours} s | $((ours_kib / 1024)) MiB |"
echo "| modelscan -p DIR | ${theirs} s | $((theirs_kib / 1024)) MiB |"
echo
echo "modelseal / modelscan: $(ratio "$ours" "$theirs") (goal: at most 0.20)"
