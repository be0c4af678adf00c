#!/usr/bin/env bash
# test_s2s_train.sh CLI SRC_DIR SHARED_DIR BUILD_DIR — `edgeseq train` with a
# byte seq2seq (G2P) config, on committed data only (the CMUdict excerpt
# tests/data/cmudict; config tests/e2e/data/s2s-tiny.json, constant lr):
#   - a straight 60-step run writes the final model, best/ (+ dev_metrics.json),
#     last/, checkpoints, curves.csv/.svg, train_config.json;
#   - a second run stopped by SIGTERM (checkpoint, exit 1, "--resume"), then
#     `--resume` to step 60, ends with model.safetensors byte-identical to the
#     straight run; its curves hold each step once;
#   - starting afresh over a checkpoint, a truncated train_state and an unknown
#     train key are refused with one error line naming the problem;
#   - an "init" config ("model": {}, both cases) continues from best/;
#   - QAT ("qat" block on the init float model): 5 steps + --resume to 10
#     equals 10 straight steps (the EMA ranges travel in the checkpoint);
#   - `generate --json` and `eval --task g2p` work on the trained folder.
set -uo pipefail
CLI="$1"; SRC="$2"; BUILD="${4:-.}"
tmp="$(mktemp -d "$BUILD/test_s2s_train.XXXXXX")"
bg=""
trap '[ -n "$bg" ] && kill "$bg" 2>/dev/null; rm -rf "$tmp"' EXIT
pass=0; fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*" >&2; }
check() { if eval "$1"; then ok; else bad "$2"; fi; }

cfg="$SRC/tests/e2e/data/s2s-tiny.json"
data="$tmp/data"
mkdir -p "$data/cmudict"
cp "$SRC/tests/data/cmudict/sample.txt" "$data/cmudict/dict.txt"
cp "$SRC/tests/data/cmudict/symbols.txt" "$data/cmudict/symbols.txt"

# --- 1. straight run --------------------------------------------------------------
A="$tmp/a"
"$CLI" train "$cfg" --data "$data" --out "$A" > "$tmp/a.out" 2> "$tmp/a.err"; rc=$?
check '[ $rc = 0 ]' "straight run exit $rc: $(tail -3 "$tmp/a.err")"
for f in config.json model.safetensors checkpoint best/config.json best/model.safetensors \
         best/dev_metrics.json last/model.safetensors curves.csv curves.svg train_config.json \
         step-00000060/train_state.safetensors; do
  check '[ -s "$A/$f" ]' "missing $A/$f"
done
check 'grep -q "best dev WER (stress removed)" "$tmp/a.out"' "summary line: $(cat "$tmp/a.out")"
check '[ "$(grep -c ",dev," "$A/curves.csv")" = 2 ]' "2 dev rows (30, 60) in curves.csv"
check 'grep -q "ETA" "$tmp/a.err"' "progress with ETA"
check 'grep -q "\"dev_wer_no_stress\"" "$A/best/dev_metrics.json"' "dev_metrics.json keys"

cp "$A/model.safetensors" "$tmp/a.model"
"$CLI" train "$cfg" --data "$data" --out "$A" --resume > /dev/null 2> "$tmp/a2.err"; rc=$?
check '[ $rc = 0 ] && cmp -s "$A/model.safetensors" "$tmp/a.model"' "--resume of a finished run: exit $rc"
check '[ "$(grep -c ",dev," "$A/curves.csv")" = 2 ]' "--resume of a finished run repeats no dev row"

# --- 2. SIGTERM, then --resume: same bytes -----------------------------------------
B="$tmp/b"
cfgb="$tmp/b.json"
sed 's/"save_every": 30/"save_every": 2/' "$cfg" > "$cfgb"
"$CLI" train "$cfgb" --data "$data" --out "$B" --max-steps 100000 > "$tmp/b.out" 2> "$tmp/b.err" &
bg=$!
for _ in $(seq 1 3000); do [ -f "$B/checkpoint" ] && break; sleep 0.01; done
kill -TERM "$bg" 2>/dev/null
wait "$bg"; rc=$?; bg=""
stopped=$(sed -n 's/^stopped at step \([0-9]*\).*/\1/p' "$tmp/b.err")
check '[ $rc = 1 ] && [ -n "$stopped" ]' "SIGTERM: exit $rc, $(tail -2 "$tmp/b.err")"
check 'grep -q -- "--resume" "$tmp/b.err"' "stop message names --resume"
check '[ "$(cat "$B/checkpoint" 2>/dev/null)" = "$(printf "step-%08d" "${stopped:-0}")" ]' \
  "checkpoint pointer at the stop step $stopped: $(cat "$B/checkpoint" 2>/dev/null)"
check '[ "${stopped:-99}" -lt 60 ]' "stopped at $stopped, expected < 60"
echo "SIGTERM stopped the run at step $stopped"
"$CLI" train "$cfgb" --data "$data" --out "$B" 2> "$tmp/b2.err" > /dev/null; rc=$?
check '[ $rc = 1 ] && grep -q -- "--resume" "$tmp/b2.err" && [ "$(wc -l < "$tmp/b2.err")" = 1 ]' \
  "fresh start over a checkpoint must be refused: $rc $(cat "$tmp/b2.err")"
cp -r "$B" "$tmp/c"
"$CLI" train "$cfgb" --data "$data" --out "$B" --resume --max-steps 60 > "$tmp/b3.out" 2> "$tmp/b3.err"; rc=$?
check '[ $rc = 0 ]' "resume exit $rc: $(tail -3 "$tmp/b3.err")"
check 'grep -q "resumed .* at step $stopped" "$tmp/b3.err"' "resume message: $(head -1 "$tmp/b3.err")"
if cmp -s "$A/model.safetensors" "$B/model.safetensors"; then
  ok; echo "stopped at $stopped + --resume to 60: model.safetensors identical to the straight run"
else
  bad "resumed model differs from the straight run"
fi
check 'cmp -s "$A/best/model.safetensors" "$B/best/model.safetensors"' "best/ differs after resume"
dups=$(grep ",train," "$B/curves.csv" | cut -d, -f1 | sort | uniq -d | wc -l)
check '[ "$dups" = 0 ] && [ "$(grep -c ",dev," "$B/curves.csv")" = 2 ]' "resumed curves: $dups duplicate steps"

# --- 3. refusals ----------------------------------------------------------------------
st="$tmp/c/$(cat "$tmp/c/checkpoint")/train_state.safetensors"
head -c 300 "$st" > "$st.t" && mv "$st.t" "$st"
"$CLI" train "$cfgb" --data "$data" --out "$tmp/c" --resume > /dev/null 2> "$tmp/c.err"; rc=$?
check '[ $rc = 1 ] && grep -q "train_state.safetensors" "$tmp/c.err" && [ "$(wc -l < "$tmp/c.err")" = 1 ]' \
  "truncated state: exit $rc, $(cat "$tmp/c.err")"
sed 's/"seed": 1,/"seed": 1, "bogus": 2,/' "$cfg" > "$tmp/bad.json"
"$CLI" train "$tmp/bad.json" --data "$data" --out "$tmp/bad" > /dev/null 2> "$tmp/bad.err"; rc=$?
check '[ $rc = 1 ] && grep -q "train.bogus" "$tmp/bad.err"' "unknown train key: exit $rc, $(cat "$tmp/bad.err")"

# --- 4. init config (stage 2 style) ------------------------------------------------
cat > "$tmp/init.json" <<JSON
{"data": "$data", "out": "$tmp/d", "init": "$A/best", "cases": "both", "eval_every": 5,
 "model": {}, "train": {"batch_size": 8, "max_steps": 5, "lr": 0.001, "seed": 2, "threads": 1}}
JSON
"$CLI" train "$tmp/init.json" > /dev/null 2> "$tmp/d.err"; rc=$?
check '[ $rc = 0 ] && [ -s "$tmp/d/model.safetensors" ] && grep -q "from $A/best" "$tmp/d.err"' \
  "init run: exit $rc, $(head -2 "$tmp/d.err")"
check 'grep -q "cases both" "$tmp/d.err"' "both cases"

# --- 5. QAT from the float best (top-level "qat"): stop at 5, resume to 10 = straight 10
qcfg() { cat <<JSON
{"data": "$data", "out": "$1", "init": "$A/best", "cases": "lower", "eval_every": 10, "model": {},
 "qat": {"weights": "per_channel", "activations": true, "ema_decay": 0.9, "start_step": 2},
 "train": {"batch_size": 8, "max_steps": 10, "lr": 0.001, "schedule": "constant", "seed": 3,
           "threads": 2, "log_every": 5}}
JSON
}
qcfg "$tmp/q1" > "$tmp/q1.json"; qcfg "$tmp/q2" > "$tmp/q2.json"
"$CLI" train "$tmp/q1.json" > /dev/null 2> "$tmp/q1.err"; rc1=$?
"$CLI" train "$tmp/q2.json" --max-steps 5 > /dev/null 2> "$tmp/q2.err"; rc2=$?
"$CLI" train "$tmp/q2.json" --resume > /dev/null 2>> "$tmp/q2.err"; rc3=$?
check '[ $rc1 = 0 ] && [ $rc2 = 0 ] && [ $rc3 = 0 ] && grep -q "QAT" "$tmp/q1.err"' \
  "QAT runs: $rc1 $rc2 $rc3 $(tail -2 "$tmp/q2.err")"
check 'grep -q "qat" "$tmp/q1/config.json" && cmp -s "$tmp/q1/model.safetensors" "$tmp/q2/model.safetensors"' \
  "QAT: 5 steps + --resume to 10 must equal 10 straight steps (EMA ranges and counters in the checkpoint)"

# --- 6. the trained folder through generate and eval --------------------------------
js="$("$CLI" generate -m "$A" --json hello)"; rc=$?
check '[ $rc = 0 ] && grep -q "\"text\": \"" <<<"$js"' "generate --json: $rc $js"
ev="$("$CLI" eval -m "$A" --task g2p --data "$data" --split dev --json)"; rc=$?
check '[ $rc = 0 ] && grep -q "\"n_words\": 12," <<<"$ev"' "eval --task g2p: $rc $ev"
check '"$CLI" train --help | grep -q "edgeseq-byte-seq2seq"' "--help explains the seq2seq config"

echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
