#!/usr/bin/env bash
# run.sh — the one-run T5 benchmark: edgeseq vs ONNX Runtime vs PyTorch on
# the same random checkpoint with t5-efficient-small shapes, plus the
# machine's own limits, written to BENCHMARKS.md (T5 section). Not a test.
#
#   bash bench/run.sh [--rounds N] [--reps R] [--threads "1 2"] [--out DIR] [--no-write]
#
# Steps (everything lands in OUT, default build-bench/t5bench, git-ignored):
#  1. builds edgeseq (CMake Release, build-bench/), bench/es_bench.c against
#     libedgeseq.a and bench/floors.c;
#  2. `edgeseq init t5-efficient-small` (seed 1) and 128 fixed source ids
#     (127 pseudo-random ids + EOS), shared by every engine;
#  3. exports the ONNX graphs with bench/t5_torch.py (encoder, cross K/V,
#     decoder with past);
#  4. agreement check: each engine dumps its encoder output, first-step
#     logits, greedy and beam ids; edgeseq at 1 and 2 threads must give the
#     same ids; max|Δ| of encoder output and logits vs edgeseq and greedy ids
#     must agree (else the run stops);
#  5. floors: read bandwidth (160 MiB buffer) and fp32 FMA peak, 1 and 2
#     threads, before and after the timings;
#  6. ROUNDS rounds; each round runs every (threads, engine) process once,
#     engine order rotated per round, each process REPS repetitions of
#     every workload (bench/es_bench.c documents them);
#  7. bench/t5_report.py turns the JSON lines into the tables.
# The peers come from bench/setup-peers.sh (apt + npm), run it once first.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
rounds=3 reps=3 threads_list="1 2" out="" write=1
while [ $# -gt 0 ]; do
    case "$1" in
        --rounds) rounds="$2"; shift 2 ;;
        --reps) reps="$2"; shift 2 ;;
        --threads) threads_list="$2"; shift 2 ;;
        --out) out="$2"; shift 2 ;;
        --no-write) write=0; shift ;;
        *) echo "run.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done
build="$root/build-bench"
out="${out:-$build/t5bench}"
py=/usr/bin/python3
node_mod="${ES_BENCH_NODE_PREFIX:-$root/bench}/node_modules"
mkdir -p "$out"
log() { echo "[run.sh $(date +%H:%M:%S)] $*" >&2; }

[ -d "$node_mod/onnxruntime-node" ] || { echo "run.sh: no onnxruntime-node; run bench/setup-peers.sh" >&2; exit 1; }
"$py" -c 'import torch' 2>/dev/null || { echo "run.sh: no torch; run bench/setup-peers.sh" >&2; exit 1; }

log "build"
. "$root/bench/lib.sh"
bench_build "$root" "$build" "$out"

ckpt="$out/ckpt/t5-efficient-small"
if [ ! -f "$ckpt/model.safetensors" ]; then
    log "edgeseq init t5-efficient-small"
    rm -rf "$ckpt"
    "$build/edgeseq" init t5-efficient-small "$ckpt" --seed 1 >/dev/null
fi
ids="$out/ids.i32"
"$py" -c '
import random, struct, sys
r = random.Random(1234)
ids = [r.randrange(3, 32000) for _ in range(127)] + [1]
open(sys.argv[1], "wb").write(struct.pack("<128i", *ids))' "$ids"
onnx="$out/onnx"
if [ ! -f "$onnx/decoder.onnx" ] || [ "$ckpt/model.safetensors" -nt "$onnx/decoder.onnx" ]; then
    log "export ONNX"
    "$py" "$root/bench/t5_torch.py" export "$ckpt" "$onnx" >"$out/export.log" 2>&1
fi

run_engine() { # engine threads reps [--dump dir]
    local eng="$1" th="$2" r="$3"; shift 3
    case "$eng" in
        edgeseq) "$out/es_bench" "$ckpt" "$ids" --threads "$th" --reps "$r" "$@" ;;
        ort) NODE_PATH="$node_mod" node "$root/bench/ort_bench.mjs" "$onnx" "$ids" --threads "$th" --reps "$r" "$@" ;;
        torch) OMP_NUM_THREADS="$th" "$py" "$root/bench/t5_torch.py" bench "$ckpt" "$ids" --threads "$th" --reps "$r" "$@" ;;
    esac
}

log "agreement check"
for d in edgeseq-1 edgeseq-2 ort-1 torch-1; do
    mkdir -p "$out/dump/$d"
    run_engine "${d%-*}" "${d#*-}" 1 --dump "$out/dump/$d" >/dev/null
done
"$py" "$root/bench/t5_report.py" check "$out" | tee "$out/check.txt"

results="$out/results.jsonl"
: >"$results"
floors() { for th in $threads_list; do "$out/floors" --threads "$th" --reps 5 | sed "s/^{/{\"kind\":\"floor\",\"when\":\"$1\",/" >>"$results"; done; }
log "floors (before)"
floors before
engines=(edgeseq ort torch)
for ((round = 0; round < rounds; round++)); do
    for th in $threads_list; do
        for k in 0 1 2; do
            eng="${engines[$(((k + round) % 3))]}"
            log "round $((round + 1))/$rounds threads $th $eng"
            load0=$(cut -d' ' -f1 /proc/loadavg)
            line=$(run_engine "$eng" "$th" "$reps")
            load1=$(cut -d' ' -f1 /proc/loadavg)
            echo "$line" | sed "s/^{/{\"kind\":\"run\",\"round\":$round,\"load_before\":$load0,\"load_after\":$load1,/" >>"$results"
        done
    done
done
log "floors (after)"
floors after
if [ "$write" = 1 ]; then
    "$py" "$root/bench/t5_report.py" report "$out" "$root/BENCHMARKS.md"
else
    "$py" "$root/bench/t5_report.py" report "$out" -
fi
log "done: $results"
