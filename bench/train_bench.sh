#!/usr/bin/env bash
# train_bench.sh — T5 training-step speed and memory, edgeseq vs PyTorch, in
# one run on the same checkpoint; not a test.
#
#   bash bench/train_bench.sh [--rounds N] [--steps N] [--threads "1 2"] [--out DIR] [--no-write]
#
# Workload (both engines): one full training step = zero grads + forward +
# token-mean cross entropy + backward + AdamW (lr 1e-3, wd 0.01 on every
# tensor), fp32, no dropout, every parameter trained, on `edgeseq init
# t5-efficient-small` (60.5 M parameters, seed 1, the shipped
# models/t5-pretrain-sotu/spiece.model); batch 8 x 128 input tokens x 32
# target tokens, no padding, the same ids in both (formula in
# bench/t5_train_bench.c and bench/t5_train_torch.py; their first-step
# losses must agree, else the run stops). tokens/s counts input + target
# tokens (1,280 per step).
#
# Steps:
#  1. builds edgeseq (CMake Release in build-trainbench/) and
#     bench/t5_train_bench.c against its libedgeseq.a;
#  2. ROUNDS rounds; each round runs, for every thread count, one edgeseq
#     and one PyTorch process (order alternating per round), each timing
#     STEPS steps after 1 warm-up step; the load average is sampled before
#     and after every process;
#  3. prints per (engine, threads): median / min / max ms per step over all
#     timed steps of all rounds, the median process-CPU ms per step, tokens/s
#     at the median, peak RSS (training high-water mark after loading, and
#     the whole process), and the edgeseq/PyTorch ratios; with the default
#     --write appends the table with date, machine and loads to BENCHMARKS.md.
# Machine noise: this is a shared 2-core VM; read the load column.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
rounds=2 steps=3 threads_list="1 2" out="" write=1
while [ $# -gt 0 ]; do
    case "$1" in
        --rounds) rounds="$2"; shift 2 ;;
        --steps) steps="$2"; shift 2 ;;
        --threads) threads_list="$2"; shift 2 ;;
        --out) out="$2"; shift 2 ;;
        --no-write) write=0; shift ;;
        *) echo "train_bench.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done
build="$root/build-trainbench"
out="${out:-$build/out}"
py=/usr/bin/python3
mkdir -p "$out"
log() { echo "[train_bench $(date +%H:%M:%S)] $*" >&2; }
"$py" -c 'import torch' 2>/dev/null || { echo "train_bench.sh: no torch (apt-get install python3-torch)" >&2; exit 1; }

log "build"
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
ninja -C "$build" -j2 edgeseq edgeseq_static >/dev/null
cc -O2 -std=c11 -D_GNU_SOURCE -I"$root/include" -I"$root/src" "$root/bench/t5_train_bench.c" \
    "$build/libedgeseq.a" $(pkg-config --libs json-c) -lpthread -lm -o "$out/t5_train_bench"
rev=$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo "?")
git -C "$root" diff --quiet HEAD -- src include bench 2>/dev/null || rev="$rev + uncommitted changes"

ckpt="$out/t5-efficient-small"
if [ ! -f "$ckpt/model.safetensors" ]; then
    log "edgeseq init t5-efficient-small"
    "$build/edgeseq" init t5-efficient-small "$ckpt" --spm "$root/models/t5-pretrain-sotu/spiece.model" \
        --seed 1 >/dev/null
fi

res="$out/train_bench.jsonl"
: >"$res"
loadavg() { cut -d' ' -f1 /proc/loadavg; }
run_one() { # ENGINE THREADS ROUND
    local l0 line
    l0=$(loadavg)
    if [ "$1" = edgeseq ]; then
        line=$("$out/t5_train_bench" "$ckpt" --threads "$2" --steps "$steps" --warmup 1)
    else
        line=$(OMP_NUM_THREADS="$2" "$py" "$root/bench/t5_train_torch.py" "$ckpt" --threads "$2" \
            --steps "$steps" --warmup 1)
    fi
    echo "$line" | "$py" -c 'import json,sys; d=json.loads(sys.stdin.read()); d.update(round=int(sys.argv[1]), load0=float(sys.argv[2]), load1=float(sys.argv[3])); print(json.dumps(d))' \
        "$3" "$l0" "$(loadavg)" >>"$res"
    log "round $3 $1 ${2}t: $(echo "$line" | "$py" -c 'import json,sys; d=json.loads(sys.stdin.read()); print("median %.0f ms/step, cpu %s, loss0 %.6f" % (d["median_ms"], d["cpu_ms"], d["loss0"]))')"
}
for r in $(seq 1 "$rounds"); do
    for t in $threads_list; do
        if [ $((r % 2)) -eq 1 ]; then run_one edgeseq "$t" "$r"; run_one torch "$t" "$r"
        else run_one torch "$t" "$r"; run_one edgeseq "$t" "$r"; fi
    done
done

cpu=$(lscpu | sed -n 's/^Model name: *//p' | head -1)
ncpu=$(nproc)
mem=$(free -g | awk '/^Mem:/ {print $2}')
table="$out/train_bench.md"
"$py" - "$res" "$rev" "$cpu" "$ncpu" "$mem" "$steps" "$rounds" >"$table" <<'PYEOF'
import json, statistics, sys, datetime
path, rev, cpu, ncpu, mem, steps, rounds = sys.argv[1:]
rows = [json.loads(l) for l in open(path)]
def group(e, t):
    return [r for r in rows if r["engine"] == e and r["threads"] == t]
l0 = [r["loss0"] for r in rows]
if max(l0) - min(l0) > 1e-4 * max(abs(x) for x in l0):
    sys.exit("train_bench: first-step losses disagree: %s" % l0)
out = []
out.append("## T5 training step: edgeseq vs PyTorch (bench/train_bench.sh)\n")
out.append("Date: %s. Machine: %s, %s vCPU, %s GiB (shared VM; other jobs running, see load). "
           "edgeseq %s (ISA %s); torch %s. Workload: t5-efficient-small shapes (60.5 M params, `edgeseq init`, "
           "seed 1), batch 8 x 128 input x 32 target tokens, fp32, AdamW, no dropout; one step = zero grads + "
           "forward + CE + backward + AdamW. %s rounds x %s timed steps (+1 warm-up) per process, engines "
           "alternating. First-step loss both engines: %.6f.\n" % (
               datetime.date.today().isoformat(), cpu, ncpu, mem, rev,
               next((r.get("isa") for r in rows if r["engine"] == "edgeseq"), "?"),
               next((r.get("version") for r in rows if r["engine"] == "torch"), "?"),
               rounds, steps, l0[0]))
out.append("| engine | threads | median ms/step | min | max | median CPU ms/step | tokens/s | peak RSS training (MiB) | peak RSS process (MiB) | load avg (before-after) |")
out.append("|---|---|---|---|---|---|---|---|---|---|")
summ = {}
for t in sorted({r["threads"] for r in rows}):
    for e in ("edgeseq", "torch"):
        g = group(e, t)
        if not g:
            continue
        ms = [x for r in g for x in r["step_ms"]]
        cms = [x for r in g for x in r["cpu_ms"]]
        med = statistics.median(ms)
        tok = 8 * (128 + 32) / (med / 1e3)
        hwm = max(r["hwm_train_kb"] for r in g) / 1024
        mx = max(r["maxrss_kb"] for r in g) / 1024
        loads = "%.1f-%.1f" % (min(r["load0"] for r in g), max(r["load1"] for r in g))
        summ[(e, t)] = (med, tok, hwm, mx, statistics.median(cms))
        out.append("| %s | %d | %.0f | %.0f | %.0f | %.0f | %.0f | %.0f | %.0f | %s |" % (
            e, t, med, min(ms), max(ms), statistics.median(cms), tok, hwm, mx, loads))
out.append("")
out.append("| threads | tokens/s edgeseq / PyTorch (wall) | CPU time per step PyTorch / edgeseq | peak RSS training edgeseq / PyTorch | peak RSS process edgeseq / PyTorch |")
out.append("|---|---|---|---|---|")
for t in sorted({r["threads"] for r in rows}):
    if ("edgeseq", t) in summ and ("torch", t) in summ:
        a, b = summ[("edgeseq", t)], summ[("torch", t)]
        out.append("| %d | %.2fx | %.2fx | %.2fx | %.2fx |" % (t, a[1] / b[1], b[4] / a[4], a[2] / b[2], a[3] / b[3]))
print("\n".join(out))
PYEOF
cat "$table"
if [ "$write" = 1 ]; then
    { echo; cat "$table"; } >>"$root/BENCHMARKS.md"
    log "appended to BENCHMARKS.md"
fi
