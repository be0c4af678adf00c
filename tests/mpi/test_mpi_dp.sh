#!/usr/bin/env bash
# test_mpi_dp.sh — data-parallel training over MPI (docs/distributed.md).
#   bash test_mpi_dp.sh DRIVER MPIEXEC WORKDIR [CLI]
# DRIVER is tests/mpi/mpi_dp_driver (see its header). Checks:
#  1. 2 ranks x 4 examples == 1 process x 8 examples (global batch 8,
#     grad_accum 2, 30 steps), within the documented tolerance: the
#     cross-rank gradient sum adds the two half-batch partial sums instead
#     of summing all rows in one order (float rounding, ~1e-7 relative per
#     gradient, amplified a little by Adam's 1/sqrt(v));
#  2. a 1-rank MPI job == the single process, bit for bit;
#  3. a stop requested by rank 0 alone at step 20 stops both ranks there;
#     rank 0's step-20 checkpoint, resumed by 2 ranks to step 30 == the
#     uninterrupted 2-rank run, bit for bit — without and with dropout +
#     zoneout (per-rank RNG states are checkpointed);
#  4. that 2-rank checkpoint resumed by ONE process with batch 8 reaches
#     the single-process result within the same tolerance;
#  5. ranks that disagree (training params, data size, a bad label on one
#     rank) all fail with ES_ERR_ARG; none hangs (each job under timeout);
#  6. with CLI: `mpirun -n 2 edgeseq train` (MPI detected from the
#     launcher, train.batch_size = global batch) == `edgeseq train` within
#     the tolerance, on a synthetic corpus in the SpamAssassin layout.
set -u
DRIVER=$1
MPIEXEC=$2
W=$3
CLI=${4:-}
# Tolerance (see docs/distributed.md): |a - b| <= ATOL + RTOL * |a|, for
# every parameter except gbst.score.bias: the GBST block-score bias is added
# to every candidate score before a softmax over candidates, so the model
# function does not depend on it and its exact gradient is 0. The computed
# gradient is rounding noise (~1e-10) that Adam divides by its own RMS, so
# the bias random-walks by up to ~lr per step in ANY run, and the two
# summation orders walk differently. Comparing it would test noise.
RTOL=1e-5
ATOL=1e-6
SKIP=gbst.score.bias
STEPS=30

fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
ok() { echo "ok: $*"; }

# Open MPI refuses root and more ranks than cores unless told; CI runs as
# root on 2-core machines.
MPIFLAGS=()
if "$MPIEXEC" --version 2>&1 | grep -qiE "open ?mpi|openrte"; then
  MPIFLAGS+=(--oversubscribe)
  if [ "$(id -u)" = 0 ]; then
    MPIFLAGS+=(--allow-run-as-root)
    export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
  fi
  # loopback-only TCP and shared memory: no network needed
  export OMPI_MCA_btl=self,vader,tcp OMPI_MCA_btl_tcp_if_include=lo OMPI_MCA_oob_tcp_if_include=lo
fi
# Sanitizer builds: Open MPI keeps memory past MPI_Finalize; suppress
# leaks whose stacks reach its libraries (full unwinding so the frames are
# seen; components stay loaded so their names resolve).
SUPP=$(cd "$(dirname "$0")" && pwd)/lsan_openmpi.supp
mpi() { # mpi NP PROGRAM ARGS...
  local np=$1
  shift
  OMPI_MCA_mca_base_component_disable_dlclose=1 \
    LSAN_OPTIONS="${LSAN_OPTIONS:+$LSAN_OPTIONS:}suppressions=$SUPP:print_suppressions=0" \
    ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}fast_unwind_on_malloc=0" \
    timeout 120 "$MPIEXEC" "${MPIFLAGS[@]}" -n "$np" "$@"
}

rm -rf "$W"
mkdir -p "$W"

"$DRIVER" single "$W/single" $STEPS || fail "single-process run"
mpi 2 "$DRIVER" mpi "$W/mpi2" $STEPS || fail "2-rank run"
mpi 1 "$DRIVER" mpi "$W/mpi1" $STEPS || fail "1-rank run"

# 1. equivalence with the global batch of one process
"$DRIVER" compare "$W/single" "$W/mpi2" $RTOL $ATOL $SKIP && ok "2 ranks == 1 process within rtol $RTOL atol $ATOL" ||
  fail "2 ranks differ from 1 process"
# the tolerance is tight enough to see a wrong global batch (what a rank
# training on its own half batch, without the gradient sum, would follow)
"$DRIVER" single "$W/single4" $STEPS --global 4 >/dev/null || fail "single-process run, batch 4"
"$DRIVER" compare "$W/single" "$W/single4" $RTOL $ATOL $SKIP >/dev/null &&
  fail "batch 4 passes as batch 8: the tolerance cannot tell batches apart"

# 2. a 1-rank job is the plain trainer
"$DRIVER" compare "$W/single" "$W/mpi1" 0 0 && ok "1 rank == 1 process bit for bit" || fail "1 rank != 1 process"

# 3. rank 0's checkpoint resumes exactly (no dropout, then dropout + zoneout)
for variant in plain dropout; do
  extra=()
  [ $variant = dropout ] && extra=(--dropout)
  full="$W/full_$variant"
  part="$W/part_$variant"
  if [ $variant = plain ]; then full="$W/mpi2"; fi
  if [ $variant = dropout ]; then mpi 2 "$DRIVER" mpi "$full" $STEPS "${extra[@]}" || fail "2-rank dropout run"; fi
  # rank 0 alone asks to stop at step 20; the schedule still spans $STEPS
  mpi 2 "$DRIVER" mpi "$part" $STEPS --stop-at 20 "${extra[@]}" || fail "2-rank run stopped at step 20 ($variant)"
  [ "$(cat "$part/checkpoint" 2>/dev/null)" = step-00000020 ] || fail "no step-20 checkpoint ($variant)"
  [ $variant = plain ] && cp -r "$part" "$W/cross"
  mpi 2 "$DRIVER" mpi "$part" $STEPS --resume "${extra[@]}" || fail "2-rank resume ($variant)"
  [ "$(cat "$part/checkpoint" 2>/dev/null)" = step-00000030 ] || fail "no step-30 checkpoint after resume ($variant)"
  "$DRIVER" compare "$full" "$part" 0 0 && ok "2-rank resume from rank 0's step-20 checkpoint is exact ($variant)" ||
    fail "resumed 2-rank run differs ($variant)"
done
"$DRIVER" compare "$W/mpi2" "$W/full_dropout" 0 0 >/dev/null && fail "dropout had no effect"

# 4. the 2-rank checkpoint (global batch 8) resumes in one process, batch 8
"$DRIVER" single "$W/cross" $STEPS --resume || fail "single-process resume of a 2-rank checkpoint"
"$DRIVER" compare "$W/single" "$W/cross" $RTOL $ATOL $SKIP && ok "1 process resumes the 2-rank checkpoint" ||
  fail "cross resume differs"

# 5. disagreeing ranks fail together
for bad in --mismatch --short-data --bad-label; do
  if out=$(mpi 2 "$DRIVER" mpi "$W/bad" $STEPS $bad 2>&1); then
    ok "$bad: every rank refused: $(echo "$out" | grep '^rank 1' | head -1)"
  else
    fail "$bad: a rank did not fail with ES_ERR_ARG (or hung): $out"
  fi
done

# 6. the CLI: same config, one process vs two
if [ -n "$CLI" ]; then
  C="$W/corpus/spam-assassin"
  mkdir -p "$C/easy-ham-1" "$C/spam-1"
  # names NNNNN.<md5>.txt: the split is (first 8 hex digits) % 10, 1 = dev,
  # 0 = test, else train (src/train/data.h)
  for i in $(seq 1 40); do
    h=$(printf "%08x" $((i % 10 == 0 ? i + 2 : i)))
    [ $i -gt 32 ] && h=$(printf "%08x" $((10 * i + 1)))
    name=$(printf "%05d.%s%024d.txt" $i "$h" 0)
    if [ $((i % 2)) = 0 ]; then
      printf "Subject: offer %d\n\nWIN \$\$\$ NOW %d cheap pills click here\n" $i $i >"$C/spam-1/$name"
    else
      printf "Subject: meeting %d\n\nsee you at the meeting on day %d, notes attached\n" $i $i >"$C/easy-ham-1/$name"
    fi
  done
  cat >"$W/cli.json" <<'JSON'
{"data": "unused", "out": "unused",
 "model": {"model_type": "edgeseq-byte-classifier", "encoder": "byteqrnn", "labels": ["ham", "spam"],
           "max_bytes": 96, "d_model": 16, "gbst_blocks": 2, "downsample": 2, "qrnn_layers": 1,
           "qrnn_hidden": 8, "zoneout": 0, "dropout": 0},
 "train": {"batch_size": 8, "grad_accum": 2, "max_steps": 20, "lr": 0.01, "warmup_steps": 5,
           "eval_every": 10, "log_every": 10, "save_every": 10, "threads": 1}}
JSON
  "$CLI" train "$W/cli.json" --out "$W/cli1" --data "$W/corpus" >"$W/cli1.log" 2>&1 ||
    fail "edgeseq train (1 process): $(tail -3 "$W/cli1.log")"
  mpi 2 "$CLI" train "$W/cli.json" --out "$W/cli2" --data "$W/corpus" >"$W/cli2.log" 2>&1 ||
    fail "mpirun -n 2 edgeseq train: $(tail -3 "$W/cli2.log")"
  [ "$(grep -c '^best dev' "$W/cli2.log")" = 1 ] || fail "rank 0 alone should print the summary"
  [ -f "$W/cli2/best/model.safetensors" ] || fail "no best/ model from rank 0"
  "$DRIVER" compare "$W/cli1" "$W/cli2" $RTOL $ATOL $SKIP && ok "mpirun -n 2 edgeseq train == edgeseq train" ||
    fail "CLI: 2 processes differ from 1"
fi

if [ $fails -ne 0 ]; then
  echo "$fails check(s) failed"
  exit 1
fi
echo "all MPI data-parallel checks passed"
