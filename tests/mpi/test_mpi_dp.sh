#!/usr/bin/env bash
# test_mpi_dp.sh — data-parallel training over MPI (docs/distributed.md).
#   bash test_mpi_dp.sh DRIVER MPIEXEC WORKDIR
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
#     rank) all fail with ES_ERR_ARG; none hangs (each job under timeout).
set -u
DRIVER=$1
MPIEXEC=$2
W=$3
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
mpi() { # mpi NP ARGS...
  local np=$1
  shift
  OMPI_MCA_mca_base_component_disable_dlclose=1 \
    LSAN_OPTIONS="${LSAN_OPTIONS:+$LSAN_OPTIONS:}suppressions=$SUPP:print_suppressions=0" \
    ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}fast_unwind_on_malloc=0" \
    timeout 120 "$MPIEXEC" "${MPIFLAGS[@]}" -n "$np" "$DRIVER" "$@"
}

rm -rf "$W"
mkdir -p "$W"

"$DRIVER" single "$W/single" $STEPS || fail "single-process run"
mpi 2 mpi "$W/mpi2" $STEPS || fail "2-rank run"
mpi 1 mpi "$W/mpi1" $STEPS || fail "1-rank run"

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
  if [ $variant = dropout ]; then mpi 2 mpi "$full" $STEPS "${extra[@]}" || fail "2-rank dropout run"; fi
  # rank 0 alone asks to stop at step 20; the schedule still spans $STEPS
  mpi 2 mpi "$part" $STEPS --stop-at 20 "${extra[@]}" || fail "2-rank run stopped at step 20 ($variant)"
  [ "$(cat "$part/checkpoint" 2>/dev/null)" = step-00000020 ] || fail "no step-20 checkpoint ($variant)"
  [ $variant = plain ] && cp -r "$part" "$W/cross"
  mpi 2 mpi "$part" $STEPS --resume "${extra[@]}" || fail "2-rank resume ($variant)"
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
  if out=$(mpi 2 mpi "$W/bad" $STEPS $bad 2>&1); then
    ok "$bad: every rank refused: $(echo "$out" | grep '^rank 1' | head -1)"
  else
    fail "$bad: a rank did not fail with ES_ERR_ARG (or hung): $out"
  fi
done

if [ $fails -ne 0 ]; then
  echo "$fails check(s) failed"
  exit 1
fi
echo "all MPI data-parallel checks passed"
