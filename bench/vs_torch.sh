#!/usr/bin/env bash
# i2i against PyTorch (issue 16): the SD 1.5 UNet CFG step (batch 2, 64x64), VAE encode and decode at
# 512x512, random weights, bf16 (PyTorch's fastest CPU mode: bf16 weights, channels_last, no_grad), the two
# run alternately for ROUNDS rounds on the same machine, then PyTorch's seconds / i2i's seconds per stage
# (above 1: i2i is faster). Needs Debian's python3-torch (`apt-get install python3-torch`).
#
#   bench/vs_torch.sh [BUILD_DIR]      (default build)
#   env: ROUNDS (2), RUNS (timed runs per stage and round, median; 2), THREADS (2), PRECISION (bf16),
#        PYTHON (/usr/bin/python3, Debian's, which sees python3-torch), LOCK (a file: every run is taken as
#        `flock $LOCK nice -n -10 ...`, so that measurements on a shared machine queue and get the cores)
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
rounds=${ROUNDS:-2}
runs=${RUNS:-2}
threads=${THREADS:-2}
precision=${PRECISION:-bf16}
python=${PYTHON:-/usr/bin/python3}
out=$(mktemp -d /tmp/i2i-vs-torch.XXXXXX)
trap 'rm -rf "$out"' EXIT

measure() {  # the command, under the lock when one is given
  if [ -n "${LOCK:-}" ]; then flock "$LOCK" nice -n -10 "$@"; else "$@"; fi
}

grep -m1 "model name" /proc/cpuinfo
for r in $(seq 1 "$rounds"); do
  echo "round $r: PyTorch ($(uptime | sed 's/.*load average/load average/'))" >&2
  measure env OMP_NUM_THREADS="$threads" "$python" bench/torch_unet_vae.py --precision "$precision" \
    --runs "$runs" --threads "$threads" >"$out/torch.$r.json"
  echo "round $r: i2i ($(uptime | sed 's/.*load average/load average/'))" >&2
  measure env OMP_NUM_THREADS="$threads" "$build/i2i" bench --precision "$precision" --runs "$runs" \
    --stages vae_encode,unet_cfg_step,vae_decode --json --quiet >"$out/i2i.$r.json"
done

"$python" - "$out" "$rounds" "$precision" <<'EOF'
import json, statistics, sys
out, rounds, prec = sys.argv[1], int(sys.argv[2]), sys.argv[3]
stages = ["unet_cfg_step", "vae_encode", "vae_decode"]
rows = {s: [] for s in stages}
for r in range(1, rounds + 1):
    t = json.load(open(f"{out}/torch.{r}.json"))
    i = json.load(open(f"{out}/i2i.{r}.json"))
    for s in stages:
        rows[s].append((t[s]["seconds"], i[s][prec]["seconds"], i[s][prec]["peak_fraction"]))
    if r == 1:
        print(f"PyTorch {t['torch']} ({t['impl']} models), {t['threads']} threads; i2i: {i['cpu']}, oneDNN "
              f"{i['onednn']} on {i['onednn_isa']}; peak {i['peak'][prec]['gflops']:.0f} GFLOP/s "
              f"({i['peak'][prec]['set_by']})")
print(f"{'stage':<15} {'round':>5} {'PyTorch s':>10} {'i2i s':>8} {'i2i of peak':>12} {'PyTorch/i2i':>12}")
for s in stages:
    for r, (ts, i2, frac) in enumerate(rows[s], 1):
        print(f"{s:<15} {r:>5} {ts:>10.3f} {i2:>8.3f} {100 * frac:>11.1f}% {ts / i2:>11.2f}x")
    med_t = statistics.median(x[0] for x in rows[s])
    med_i = statistics.median(x[1] for x in rows[s])
    print(f"{s:<15} {'med':>5} {med_t:>10.3f} {med_i:>8.3f} {'':>12} {med_t / med_i:>11.2f}x")
EOF
