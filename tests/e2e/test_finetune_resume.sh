#!/usr/bin/env bash
# test_finetune_resume.sh — an interrupted + resumed `edgeseq finetune` ends
# with a model.safetensors byte-identical (sha256) to an uninterrupted run
# with the same flags and seed, on the fixture model tiny-v11 (gated-gelu,
# untied head) with dropout 0.1, gradient accumulation, 4 epochs:
#   a. Adafactor: uninterrupted reference (2 threads);
#   b. SIGTERM once the first checkpoint exists: graceful stop (exit 1,
#      "stopped at step N", checkpoint at that step), then --resume with
#      1 thread (thread count must not matter) -> same bytes as (a);
#   c. SIGKILL once the first checkpoint exists, --resume -> same bytes;
#   d. --resume of a finished run changes nothing;
#   e. AdamW + weight decay + linear schedule with warm-up (the lr depends
#      on the step): reference vs SIGKILL + resume -> same bytes;
#   f. the comparison can fail: the Adafactor and AdamW models differ, and
#      so do the checkpoint model at the kill and the final one;
#   g. a checkpoint from other data (batch count) is refused with a message
#      naming the checkpoint folder, and the folder is left as it was.
#
# usage: bash test_finetune_resume.sh CLI SRC_DIR SHARED_DIR BUILD_DIR
set -u
CLI=$1
SHARED=$3
BUILD=${4:-/tmp}
M=$SHARED/fixtures/t5/tiny-v11
TMP=$(mktemp -d "$BUILD/test_finetune_resume.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
fails=0
checks=0
ok() { checks=$((checks + 1)); }
bad() { checks=$((checks + 1)); fails=$((fails + 1)); echo "FAIL: $*" >&2; }
expect() { if eval "$1"; then ok; else bad "$2"; fi; }
sha() { sha256sum "$1" 2>/dev/null | cut -c1-64; }

cat >"$TMP/train.jsonl" <<'EOF'
{"input": "colour: red", "target": "rot"}
{"input": "colour: green", "target": "grün"}
{"input": "colour: blue", "target": "blau"}
{"input": "colour: black", "target": "schwarz"}
{"input": "number: one", "target": "eins"}
{"input": "number: two", "target": "zwei"}
{"input": "number: three", "target": "drei"}
{"input": "animal: dog", "target": "Hund"}
EOF
# 8 examples, batch 2, accumulation 2: 2 steps per epoch, 8 steps = 4 epochs
AF=(-m "$M" --train "$TMP/train.jsonl" --steps 8 --batch 2 --accum 2 --dropout 0.1 --lr 3e-3
    --save-every 2 --log-every 1 --eval-every 0 --seed 5)
AW=(-m "$M" --train "$TMP/train.jsonl" --steps 8 --batch 3 --dropout 0.1 --optimizer adamw --lr 2e-3
    --weight-decay 0.01 --schedule linear --warmup 3 --save-every 2 --log-every 1 --seed 5)

# Starts a run in the background and single-steps it with SIGSTOP/SIGCONT
# (10 ms slices) until its first checkpoint exists, so the signal $2 always
# lands while the run is frozen mid-way (from the first checkpoint at step
# 2 to the end there are 6 steps and 4 saves, far more than one slice);
# then sends it, resumes the process and waits. Sets $killed_at (the
# checkpoint at the signal) and $rc_killed.
run_and_kill() { # OUT SIGNAL THREADS FLAGS...
  local out=$1 sig=$2 th=$3
  shift 3
  "$CLI" finetune "$@" --out "$out" -t "$th" >"$out.out" 2>"$out.err" &
  local pid=$!
  for _ in $(seq 1 3000); do
    kill -STOP $pid 2>/dev/null || break
    [ -s "$out/checkpoint" ] && break
    kill -CONT $pid 2>/dev/null
    sleep 0.01
  done
  killed_at=$(cat "$out/checkpoint" 2>/dev/null)
  cp "$out/$killed_at/model.safetensors" "$out.killed.safetensors" 2>/dev/null
  kill -"$sig" $pid 2>/dev/null
  kill -CONT $pid 2>/dev/null
  { wait $pid; } 2>/dev/null
  rc_killed=$?
}

# a. reference
"$CLI" finetune "${AF[@]}" --out "$TMP/ref" -t 2 >/dev/null 2>"$TMP/ref.err"
rc=$?
expect "[ $rc -eq 0 ]" "reference run exited $rc: $(tail -2 "$TMP/ref.err")"
ref=$(sha "$TMP/ref/model.safetensors")
expect "[ -n '$ref' ]" "reference run wrote no model"

# b. SIGTERM -> graceful stop -> resume with another thread count
run_and_kill "$TMP/b" TERM 2 "${AF[@]}"
if grep -q 'stopped at step' "$TMP/b.err"; then
  ok
  expect "[ $rc_killed -eq 1 ]" "SIGTERM stop exited $rc_killed"
  st=$(sed -n 's/.*stopped at step \([0-9]*\).*/\1/p' "$TMP/b.err")
  expect "[ \"\$(cat '$TMP/b/checkpoint')\" = \"step-\$(printf %08d $st)\" ] && [ $st -lt 8 ]" \
    "SIGTERM stop at step $st left checkpoint $(cat "$TMP/b/checkpoint")"
  expect "[ -s '$TMP/b/model.safetensors' ]" "SIGTERM stop wrote no model"
else
  # the run ended before the signal arrived: the test cannot show anything
  bad "SIGTERM did not stop the run (rc $rc_killed): $(tail -2 "$TMP/b.err")"
fi
"$CLI" finetune "${AF[@]}" --out "$TMP/b" -t 1 --resume >/dev/null 2>"$TMP/b2.err"
rc=$?
expect "[ $rc -eq 0 ]" "resume after SIGTERM exited $rc: $(tail -2 "$TMP/b2.err")"
expect "grep -q 'resumed at step' '$TMP/b2.err'" "no 'resumed at step' after SIGTERM"
got=$(sha "$TMP/b/model.safetensors")
expect "[ '$got' = '$ref' ]" "SIGTERM + resume: model differs from the uninterrupted run"
echo "SIGTERM after $killed_at, stopped at step ${st:-?}, resumed: $( [ "$got" = "$ref" ] && echo identical || echo DIFFERENT)"

# c. SIGKILL -> resume
run_and_kill "$TMP/c" KILL 2 "${AF[@]}"
expect "[ $rc_killed -ne 0 ]" "SIGKILL: the run had already finished"
"$CLI" finetune "${AF[@]}" --out "$TMP/c" -t 2 --resume >/dev/null 2>"$TMP/c2.err"
rc=$?
expect "[ $rc -eq 0 ]" "resume after SIGKILL exited $rc: $(tail -2 "$TMP/c2.err")"
got=$(sha "$TMP/c/model.safetensors")
expect "[ '$got' = '$ref' ]" "SIGKILL + resume: model differs from the uninterrupted run"
echo "SIGKILL after $killed_at, resumed: $( [ "$got" = "$ref" ] && echo identical || echo DIFFERENT)"

# d. resuming a finished run is a no-op
"$CLI" finetune "${AF[@]}" --out "$TMP/c" -t 2 --resume >/dev/null 2>"$TMP/c3.err"
expect "[ $? -eq 0 ] && [ \"\$(sha '$TMP/c/model.safetensors')\" = '$ref' ]" "resuming a finished run changed it"
expect "grep -q 'resumed at step 8' '$TMP/c3.err'" "finished run: $(cat "$TMP/c3.err")"

# e. AdamW with a step-dependent schedule
"$CLI" finetune "${AW[@]}" --out "$TMP/wref" -t 2 >/dev/null 2>"$TMP/wref.err"
expect "[ $? -eq 0 ]" "AdamW reference failed: $(tail -2 "$TMP/wref.err")"
wref=$(sha "$TMP/wref/model.safetensors")
run_and_kill "$TMP/w" KILL 1 "${AW[@]}"
"$CLI" finetune "${AW[@]}" --out "$TMP/w" -t 1 --resume >/dev/null 2>"$TMP/w2.err"
expect "[ $? -eq 0 ]" "AdamW resume failed: $(tail -2 "$TMP/w2.err")"
got=$(sha "$TMP/w/model.safetensors")
expect "[ -n '$wref' ] && [ '$got' = '$wref' ]" "AdamW: resumed model differs from the uninterrupted run"
echo "AdamW: killed after $killed_at, resumed: $( [ "$got" = "$wref" ] && echo identical || echo DIFFERENT)"

# f. the comparison can fail
expect "[ -n '$wref' ] && [ '$wref' != '$ref' ]" "AdamW and Adafactor runs gave the same bytes"
expect "[ -s '$TMP/w.killed.safetensors' ] && [ \"\$(sha '$TMP/w.killed.safetensors')\" != '$wref' ]" \
  "the checkpoint model at the kill equals the final model (or is missing)"

# g. a checkpoint of other data is refused and left alone
head -5 "$TMP/train.jsonl" >"$TMP/small.jsonl"
before=$(cat "$TMP/c/checkpoint"; sha "$TMP/c/$(cat "$TMP/c/checkpoint")/optim.safetensors")
"$CLI" finetune "${AF[@]}" --train "$TMP/small.jsonl" --steps 12 --out "$TMP/c" -t 1 --resume \
  >/dev/null 2>"$TMP/g.err"
rc=$?
expect "[ $rc -eq 1 ] && grep -q 'step-00000008: checkpoint does not match this run (written for other training data' '$TMP/g.err'" \
  "foreign checkpoint: rc $rc $(cat "$TMP/g.err")"
after=$(cat "$TMP/c/checkpoint"; sha "$TMP/c/$(cat "$TMP/c/checkpoint")/optim.safetensors")
expect "[ '$before' = '$after' ] && [ \"\$(sha '$TMP/c/model.safetensors')\" = '$ref' ]" \
  "a refused resume modified the output folder"

echo "$checks checks, $fails failed"
[ "$fails" -eq 0 ]
