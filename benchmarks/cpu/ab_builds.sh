#!/usr/bin/env bash
# The CPU kernel of two revisions side by side, in one process and one run (ab_builds.cpp):
#
#   benchmarks/cpu/ab_builds.sh BASE [HEAD] [ROWS] [REPS] [VOCAB] [SOFTCAP]
#
# BASE, HEAD: git revisions; HEAD empty or omitted = the working tree.  ROWS x VOCAB bf16 logits (32 x 151,936),
# REPS calls per build, kind of logits and clamp mode (9), the logits' softcap (0: none; Gemma 2's is 30).  Builds
# each revision's CPU-only library under target/ab/ (about a minute each); prints a Markdown table.  JMH runs of one
# build after the other cannot see a 10-20% change on a shared VM (their iterations spread +-30%); alternating calls
# in one process can.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
base=$1
head=${2:-}
rows=${3:-32}
reps=${4:-9}
vocab=${5:-151936}
softcap=${6:-0}
out=$root/target/ab

# build REV DIR: the CPU-only library of REV (of the working tree when REV is empty) in DIR/build.
build() {
    local rev=$1 dir=$2 src=$root
    rm -rf "$dir"
    if [ -n "$rev" ]; then
        src=$dir/src
        mkdir -p "$src"
        git -C "$root" archive "$rev" native cmake | tar -x -C "$src"
    fi
    cmake -S "$src/native" -B "$dir/build" -DPL_WITH_CUDA=OFF -DCMAKE_BUILD_TYPE=Release > "$dir.log"
    cmake --build "$dir/build" --target policyloss -j2 >> "$dir.log"
}

mkdir -p "$out"
build "$base" "$out/a"
build "$head" "$out/b"
g++ -O2 -std=c++17 -I"$root/native/include" "$root/benchmarks/cpu/ab_builds.cpp" -ldl -o "$out/ab_builds"
cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | xargs)
echo "A = ${base}, B = ${head:-working tree}; ${rows} x ${vocab} bf16, softcap ${softcap}; ${cpu}, $(nproc) cores"
"$out/ab_builds" "$out/a/build/libpolicyloss.so" "$out/b/build/libpolicyloss.so" "$rows" "$reps" "$vocab" "$softcap"
