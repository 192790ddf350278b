#!/usr/bin/env bash
# Where one UNet CFG step's time goes (issue 16, item 3): `perf record -g` (Debian's linux-perf) of
# `i2i bench --stages unet_cfg_step --runs 1`, cut to the timed run (the bench logs its CLOCK_MONOTONIC start
# and end; perf records with -k CLOCK_MONOTONIC), oneDNN's JIT kernels named through its perf map
# (ONEDNN_JIT_PROFILE=2). Prints the top functions by self time (the instances of a JIT kernel summed under
# their name), the share per library and per kind of work (attention, oneDNN, the glue ops), as markdown.
# Samples are cpu-clock (a KVM guest has no hardware counters), 999 Hz per thread. STAGE profiles another
# bench stage the same way (e.g. STAGE=annotate_depth, STAGE=vae_decode).
#
#   bench/profile_unet_step.sh [BUILD_DIR] [PRECISION]      (defaults: build, bf16)
#   env: STAGE (unet_cfg_step), TOP (10), LOCK (a file: the recording is taken as `flock $LOCK nice -n -10
#        ...`), KEEP (a folder to keep perf.data and the bench's output in), REPORT_ONLY=1 (report what KEEP
#        holds, record nothing), THREADS=1 (also print each thread's share of the samples per library: a
#        thread idling in libgomp while the other still runs oneDNN code is waiting at its barrier)
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
precision=${2:-bf16}
top=${TOP:-10}
stage=${STAGE:-unet_cfg_step}
work=${KEEP:-$(mktemp -d /tmp/i2i-profile.XXXXXX)}
mkdir -p "$work"
[ -n "${KEEP:-}" ] || trap 'rm -rf "$work"' EXIT
command -v perf >/dev/null || { echo "profile_unet_step.sh: perf not found (apt-get install linux-perf)" >&2; exit 2; }

record() {
  ONEDNN_JIT_PROFILE=2 perf record -q -k CLOCK_MONOTONIC -e cpu-clock -F 999 -g -o "$work/perf.data" -- \
    "$build/i2i" bench --precision "$precision" --stages "$stage" --runs 1 >"$work/bench.txt" 2>"$work/bench.err"
}
if [ "${REPORT_ONLY:-0}" != 1 ]; then
  echo "load average before: $(uptime | sed 's/.*load average: //')" >&2
  if [ -n "${LOCK:-}" ]; then
    export -f record
    export work build precision stage
    flock "$LOCK" nice -n -10 bash -c record
  else
    record
  fi
  echo "load average after: $(uptime | sed 's/.*load average: //')" >&2
fi
window=$(sed -n "s/.*$stage run 1: .* CLOCK_MONOTONIC \([0-9.]*\) to \([0-9.]*\).*/\1,\2/p" "$work/bench.err")
[ -n "$window" ] || { echo "profile_unet_step.sh: no timed run in the bench's log" >&2; cat "$work/bench.err" >&2; exit 1; }
head -1 "$work/bench.txt"
grep -E "^$stage|^$precision peak" "$work/bench.txt"
perf report -i "$work/perf.data" --stdio --no-children --sort dso,symbol -g none --time "$window" 2>/dev/null |
  python3 -c '
import collections, re, sys
top = int(sys.argv[1])
fn, dso = collections.Counter(), collections.Counter()
for line in sys.stdin:
    m = re.match(r"\s+([0-9.]+)%\s+(.+?)\s+\[(.)\]\s+(.*\S)", line)
    if not m:
        continue
    pct, lib = float(m.group(1)), m.group(2).strip()
    name = re.sub(r"(\s+-)+$", "", m.group(4)).strip()
    if lib.startswith("[JIT]"):
        lib = "oneDNN JIT code"
    if name.startswith("0x"):
        name = "(" + lib + ", no symbols)"
    fn[(name, lib)] += pct
    dso[lib] += pct
kinds = [("attention (our kernel)", r"attention|AmxBf16::rows|Avx512Bf16::rows|Avx512F32::rows|Portable::rows"),
         ("oneDNN (JIT kernels and library)", r"^oneDNN JIT|libdnnl"),
         ("group norm", r"channel_sums|normalize_rows|group_norm"), ("layer norm", r"layer_norm"),
         ("GEGLU", r"geglu"), ("SiLU / GELU", r"act_range|act_dispatch|activation"),
         ("float32 -> bf16 conversion", r"convert_avx512|convert_portable|to_bf16"),
         ("copies (memcpy / memmove: residuals, concat, layout)", r"memmove|memcpy"),
         ("upsample / concat / add / scale", r"upsample|concat_channels|::add|scale_?\b|add_channel_bias"),
         ("OpenMP runtime (libgomp)", r"libgomp"), ("kernel (page faults: fresh allocations)", r"kernel")]
kind = collections.Counter()
for (name, lib), pct in fn.items():
    for k, rx in kinds:
        if re.search(rx, name) or re.search(rx, lib):
            kind[k] += pct
            break
    else:
        kind["other"] += pct
print()
print("| # | function | library | self % |")
print("|---|---|---|---|")
for i, ((name, lib), pct) in enumerate(fn.most_common(top), 1):
    print(f"| {i} | `{name}` | {lib} | {pct:.1f} % |")
print()
print("| kind of work | self % |")
print("|---|---|")
for k, pct in kind.most_common():
    print(f"| {k} | {pct:.1f} % |")
print()
print("| library | self % |")
print("|---|---|")
for lib, pct in dso.most_common(8):
    print(f"| {lib} | {pct:.1f} % |")
' "$top"
if [ "${THREADS:-0}" = 1 ]; then
  # perf's `pid` key is the thread (tid:comm); the main thread has the lowest tid.
  perf report -i "$work/perf.data" --stdio --no-children --sort pid,dso -g none --time "$window" 2>/dev/null |
    python3 -c '
import collections, re, sys
share = collections.Counter()
for line in sys.stdin:
    m = re.match(r"\s+([0-9.]+)%\s+(\d+):\S+\s+(.*\S)", line)
    if m:
        lib = "oneDNN JIT code" if m.group(3).startswith("[JIT]") else m.group(3)
        share[(int(m.group(2)), lib)] += float(m.group(1))
tids = sorted({t for t, _ in share})
print()
print("| thread | library | self % of all samples |")
print("|---|---|---|")
for t in tids:
    for (tt, lib), pct in sorted(share.items(), key=lambda kv: -kv[1]):
        if tt == t and pct >= 0.5:
            name = "main" if t == tids[0] else str(t)
            print(f"| {name} | {lib} | {pct:.1f} % |")
'
fi
