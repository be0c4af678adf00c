# lib.sh — shared steps of the one-run T5 benchmarks (bench/run.sh,
# bench/quant_run.sh); sourced, not run.

# bench_build ROOT BUILD OUT: configures and builds edgeseq (CMake Release in
# BUILD), records the git revision in OUT/build_rev (" + uncommitted changes"
# when src/ or include/ differ from HEAD), and compiles OUT/es_bench (against
# BUILD/libedgeseq.a) and OUT/floors.
bench_build() {
    local root="$1" build="$2" out="$3"
    cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
    ninja -C "$build" -j2 edgeseq edgeseq_static >/dev/null
    git -C "$root" rev-parse --short HEAD >"$out/build_rev" 2>/dev/null || echo "?" >"$out/build_rev"
    git -C "$root" diff --quiet HEAD -- src include 2>/dev/null || sed -i 's/$/ + uncommitted changes/' "$out/build_rev"
    cc -O2 -std=c11 -D_GNU_SOURCE -I"$root/include" "$root/bench/es_bench.c" "$build/libedgeseq.a" \
        $(pkg-config --libs json-c) -lpthread -lm -o "$out/es_bench"
    cc -O2 -std=c11 -D_GNU_SOURCE -mavx2 -mfma -pthread "$root/bench/floors.c" -o "$out/floors"
}
