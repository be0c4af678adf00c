#!/usr/bin/env bash
# quant_run.sh — the one-run side-by-side reduced-precision T5 benchmark
# (issue #5): edgeseq fp32 / int8 (per channel) / int8 group 64 / bf16,
# PyTorch fp32 / PyTorch dynamic int8 and ONNX Runtime fp32 on the same
# checkpoint, interleaved, plus the machine's read bandwidth at each
# model's per-token working set. Not a test.
#
#   bash bench/quant_run.sh [--rounds N] [--reps R] [--threads "1 2"]
#        [--out DIR] [--ort auto|same|file|none] [--write] [--configs "LIST"]
#
# Steps (everything lands in OUT, default build-bench/qbench, git-ignored):
#  1. builds edgeseq (CMake Release, build-bench/), bench/es_bench.c and
#     bench/floors.c (as bench/run.sh does);
#  2. checkpoint: build-bench/t5bench/ckpt/t5-efficient-small (bench/run.sh's
#     `edgeseq init t5-efficient-small --seed 1`) if present, else made the
#     same way in OUT/ckpt; the 128 source ids are generated with
#     bench/run.sh's code (127 pseudo-random ids, seed 1234, + EOS);
#  3. `edgeseq quantize` → OUT/models/{int8, int8-g64, bf16} (redone every
#     run, < 1 s each, so they always match the current quantizer);
#  4. agreement (1 thread): every configuration dumps its encoder output,
#     first-step logits and greedy ids (edgeseq also beam ids) → agree.txt
#     (tokens equal to fp32 out of 64; informative, never stops the run);
#  5. floors (bench/floors.c): read bandwidth with a buffer the size of each
#     model's per-token working set (decoder weights + LM head in their
#     stored dtype + fp32 K/V traffic; bench/quant_report.py stepmib) and the
#     fp32 FMA peak, every thread count, before and after the timings;
#  6. ROUNDS rounds; each round runs every (threads, configuration) process
#     once, configuration order rotated per round; each process does REPS
#     repetitions after one warm-up:
#       edgeseq (es_bench.c): encoder 1x128, 8x128, greedy 64, beam 4x64;
#       PyTorch (t5_torch.py bench [--dynamic-int8] --no-enc8 --no-beam):
#         encoder 1x128, greedy 64;
#       ONNX Runtime (ort_bench.mjs, --ort same): all four workloads;
#     the 1-min load average before/after each process is kept;
#  7. bench/quant_report.py prints the tables (OUT/report.md); with --write
#     it also replaces the section "## T5 reduced precision: one-run speed
#     (bench/quant_run.sh)" of BENCHMARKS.md (other sections untouched).
# --ort: same = run ORT in this run (ONNX graphs from build-bench/t5bench/onnx,
# exported into OUT/onnx if missing; needs bench/node_modules, see
# bench/setup-peers.sh); file = take ORT's encoder numbers from bench/run.sh's
# build-bench/t5bench/results.jsonl (named as such in the report); none;
# auto (default) = same if onnxruntime-node is installed, else file if that
# file exists, else none.
# --configs: a subset of "es-fp32 es-int8 es-int8-g64 es-bf16 torch-fp32
# torch-dyn-int8" (default all; ort-fp32 is added by --ort same), for tests.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
rounds=3 reps=3 threads_list="1 2" out="" write=0 ort=auto
configs_arg="es-fp32 es-int8 es-int8-g64 es-bf16 torch-fp32 torch-dyn-int8"
while [ $# -gt 0 ]; do
    case "$1" in
        --rounds) rounds="$2"; shift 2 ;;
        --reps) reps="$2"; shift 2 ;;
        --threads) threads_list="$2"; shift 2 ;;
        --out) out="$2"; shift 2 ;;
        --ort) ort="$2"; shift 2 ;;
        --write) write=1; shift ;;
        --configs) configs_arg="$2"; shift 2 ;;
        *) echo "quant_run.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done
build="$root/build-bench"
t5b="$build/t5bench"
out="${out:-$build/qbench}"
py=/usr/bin/python3
node_mod="${ES_BENCH_NODE_PREFIX:-$root/bench}/node_modules"
mkdir -p "$out"
log() { echo "[quant_run.sh $(date +%H:%M:%S)] $*" >&2; }

"$py" -c 'import torch' 2>/dev/null || { echo "quant_run.sh: no torch; run bench/setup-peers.sh" >&2; exit 1; }
if [ "$ort" = auto ]; then
    if [ -d "$node_mod/onnxruntime-node" ]; then ort=same
    elif [ -f "$t5b/results.jsonl" ]; then ort=file
    else ort=none; fi
fi
case "$ort" in
    same) [ -d "$node_mod/onnxruntime-node" ] || { echo "quant_run.sh: --ort same: no onnxruntime-node" >&2; exit 1; } ;;
    file) [ -f "$t5b/results.jsonl" ] || { echo "quant_run.sh: --ort file: no $t5b/results.jsonl" >&2; exit 1; } ;;
    none) ;;
    *) echo "quant_run.sh: --ort auto|same|file|none" >&2; exit 2 ;;
esac

log "build"
. "$root/bench/lib.sh"
bench_build "$root" "$build" "$out"

ckpt="$t5b/ckpt/t5-efficient-small"
if [ ! -f "$ckpt/model.safetensors" ]; then
    ckpt="$out/ckpt/t5-efficient-small"
    if [ ! -f "$ckpt/model.safetensors" ]; then
        log "edgeseq init t5-efficient-small"
        rm -rf "$ckpt"
        "$build/edgeseq" init t5-efficient-small "$ckpt" --seed 1 >/dev/null
    fi
fi
echo "$ckpt" >"$out/ckpt_path"
ids="$out/ids.i32"
"$py" -c '
import random, struct, sys
r = random.Random(1234)
ids = [r.randrange(3, 32000) for _ in range(127)] + [1]
open(sys.argv[1], "wb").write(struct.pack("<128i", *ids))' "$ids"

log "edgeseq quantize"
models="$out/models"
mkdir -p "$models"
declare -A dir_of=([fp32]="$ckpt" [int8]="$models/int8" [int8-g64]="$models/int8-g64" [bf16]="$models/bf16")
rm -rf "$models/int8" "$models/int8-g64" "$models/bf16"
"$build/edgeseq" quantize "$ckpt" "$models/int8" --dtype int8 >"$out/quantize.log"
"$build/edgeseq" quantize "$ckpt" "$models/int8-g64" --dtype int8 --group 64 >>"$out/quantize.log"
"$build/edgeseq" quantize "$ckpt" "$models/bf16" --dtype bf16 >>"$out/quantize.log"

onnx="$t5b/onnx"
if [ "$ort" = same ] && [ ! -f "$onnx/decoder.onnx" ]; then
    onnx="$out/onnx"
    if [ ! -f "$onnx/decoder.onnx" ] || [ "$ckpt/model.safetensors" -nt "$onnx/decoder.onnx" ]; then
        log "export ONNX"
        "$py" "$root/bench/t5_torch.py" export "$ckpt" "$onnx" >"$out/export.log" 2>&1
    fi
fi

# configuration names: es-<model> | torch-fp32 | torch-dyn-int8 | ort-fp32
run_cfg() { # config threads reps [extra args]
    local cfg="$1" th="$2" r="$3"; shift 3
    case "$cfg" in
        es-*) "$out/es_bench" "${dir_of[${cfg#es-}]}" "$ids" --threads "$th" --reps "$r" --no-default "$@" ;;
        torch-fp32) OMP_NUM_THREADS="$th" "$py" "$root/bench/t5_torch.py" bench "$ckpt" "$ids" \
            --threads "$th" --reps "$r" --no-enc8 --no-beam "$@" ;;
        torch-dyn-int8) OMP_NUM_THREADS="$th" "$py" "$root/bench/t5_torch.py" bench "$ckpt" "$ids" \
            --threads "$th" --reps "$r" --no-enc8 --no-beam --dynamic-int8 "$@" ;;
        ort-fp32) NODE_PATH="$node_mod" node "$root/bench/ort_bench.mjs" "$onnx" "$ids" \
            --threads "$th" --reps "$r" "$@" ;;
    esac
}
read -r -a configs <<<"$configs_arg"
for c in "${configs[@]}"; do
    case "$c" in
        es-fp32 | es-int8 | es-int8-g64 | es-bf16 | torch-fp32 | torch-dyn-int8) ;;
        *) echo "quant_run.sh: unknown configuration $c" >&2; exit 2 ;;
    esac
done
[ "$ort" = same ] && configs+=(ort-fp32)

log "agreement (1 thread)"
rm -rf "$out/dump"
for c in "${configs[@]}"; do
    [ "$c" = ort-fp32 ] && continue # ORT = fp32 reference graphs, checked by bench/run.sh
    mkdir -p "$out/dump/$c"
    run_cfg "$c" 1 1 --dump "$out/dump/$c" --dump-only >/dev/null
done
"$py" "$root/bench/quant_report.py" agree "$out" | tee "$out/agree.txt"

results="$out/results.jsonl"
: >"$results"
floors() {
    for m in fp32 int8 int8-g64 bf16; do
        local mib
        mib=$("$py" "$root/bench/quant_report.py" stepmib "${dir_of[$m]}")
        for th in $threads_list; do
            "$out/floors" --threads "$th" --reps 5 --mb "$mib" |
                sed "s/^{/{\"kind\":\"floor\",\"when\":\"$1\",\"model\":\"$m\",/" >>"$results"
        done
    done
}
log "floors (before)"
floors before
n=${#configs[@]}
for ((round = 0; round < rounds; round++)); do
    for th in $threads_list; do
        for ((k = 0; k < n; k++)); do
            c="${configs[$(((k + round) % n))]}"
            log "round $((round + 1))/$rounds threads $th $c"
            load0=$(cut -d' ' -f1 /proc/loadavg)
            line=$(run_cfg "$c" "$th" "$reps")
            load1=$(cut -d' ' -f1 /proc/loadavg)
            echo "$line" | sed "s/^{/{\"kind\":\"run\",\"config\":\"$c\",\"round\":$round,\"load_before\":$load0,\"load_after\":$load1,/" >>"$results"
        done
    done
done
log "floors (after)"
floors after

rargs=("$out" --ort "$ort")
[ "$ort" = file ] && rargs+=(--ort-file "$t5b/results.jsonl")
[ "$write" = 1 ] && rargs+=(--write "$root/BENCHMARKS.md")
"$py" "$root/bench/quant_report.py" report "${rargs[@]}" | tee "$out/report.md"
log "done: $results, $out/report.md"
