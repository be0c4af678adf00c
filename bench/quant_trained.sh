#!/usr/bin/env bash
# quant_trained.sh — quality of `edgeseq quantize` on a TRAINED T5 (issue
# #5): models/t5-pretrain-sotu (81 min of span-corruption pretraining on
# State-of-the-Union + Moby-Dick) → int8 (per channel), int8 group 32 and
# bf16, each compared with the fp32 model by `edgeseq eval-quant` on
#   - 64 real inputs: held-out State-of-the-Union sentences
#     (bench/sotu_heldout.py; documents the pretraining never saw), and
#   - 16 seeded random-id inputs (the harsh case, as for untrained models).
# Prints one JSON line per (dtype, inputs) and a table. Not a test.
#
#   bash bench/quant_trained.sh [--build DIR] [--data DIR] [--out DIR]
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="$root/build-bench" data="$root/data" out=""
while [ $# -gt 0 ]; do
    case "$1" in
        --build) build="$2"; shift 2 ;;
        --data) data="$2"; shift 2 ;;
        --out) out="$2"; shift 2 ;;
        *) echo "quant_trained.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done
out="${out:-$build/qtrained}"
model="$root/models/t5-pretrain-sotu"
mkdir -p "$out"
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build" --target edgeseq >/dev/null
[ -d "$data/sotu" ] || bash "$root/scripts/fetch-data.sh" "$data"
python3 "$root/bench/sotu_heldout.py" "$data" 64 >"$out/heldout.txt"
cli="$build/edgeseq"
: >"$out/results.jsonl"
for v in "int8" "int8 --group 32" "bf16"; do
    set -- $v
    name="$1${3:+-g$3}"
    rm -rf "${out:?}/$name"
    "$cli" quantize "$model" "$out/$name" --dtype "$@" >/dev/null
    for inp in heldout random; do
        if [ "$inp" = heldout ]; then
            args=(--inputs "$out/heldout.txt" --n 64 --src-len 64)
        else
            args=(--n 16 --src-len 64)
        fi
        "$cli" eval-quant "$model" "$out/$name" "${args[@]}" --json \
            | sed "s/^{/{\"dtype\": \"$name\", /" | tee -a "$out/results.jsonl"
    done
done
python3 - "$out/results.jsonl" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
print("| dtype | inputs | size ratio | score drift mean / max | greedy-64 identical | positions | beam-4 identical |")
print("|---|---|---|---|---|---|---|")
for r in rows:
    inp = "held-out text" if r["inputs"] != "random" else "random ids"
    print(f"| {r['dtype']} | {inp} ({r['n']}) | {r['size_ratio']:.3f} | {100*r['score_rel_drift_mean']:.3f} % / "
          f"{100*r['score_rel_drift_max']:.3f} % | {r['greedy_identical']}/{r['n']} "
          f"({100*r['greedy_identical']/r['n']:.0f} %) | {100*r['greedy_position_agreement']:.1f} % | "
          f"{r['beam_identical']}/{r['n']} |")
PY
