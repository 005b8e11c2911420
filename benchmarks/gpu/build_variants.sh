#!/usr/bin/env bash
# Other shapes of the same CUDA row kernel, built here for sm_90 so that one device call can time them side by side
# (compare_variants.py): the threads of a row block, the threads per SM the 16-byte-pack instances are held to (and
# so their registers), the packs a thread loads at once, the share of L2 the rows in flight may fill, the most of a
# row, in KB, that a block of a cluster holds where rows are split over clusters (0: they are not), the groups of
# packs ahead that a thread prefetches into L2 (0: none), whether the last pass over a row walks it backwards
# (1; 0: forwards), whether that pass's prefetches run on into the block's next row (1; 0: not), the share of L2,
# in percent, that rows split over clusters whose blocks read their parts from L2 keep in flight (0: rows are not
# split so), and the share of L2, in percent, that the lines pass 1 marks to keep there for the gradient pass may fill
# (0: none marked) (block_reduce.cuh names the macros).  Only fused_loss.cu reads them: each variant compiles it
# again and links it with the rest of prepare_native.sh's build (build-gpu/), two at a time.  Each goes to
# .device/variants/NAME/: libpolicyloss.so, test_cuda (the C ABI's test, the same program for every variant), and
# ptxas.txt, the registers, stack and spills of every kernel instance.
#
#   benchmarks/gpu/prepare_native.sh && benchmarks/gpu/build_variants.sh [NAME[@REV] ...]   (all of VARIANTS when none)
#
# NAME@REV builds variant NAME from fused_loss.cu and the headers it includes as commit REV had them (git archive), into
# .device/variants/NAME-REV: a change made in the default build (no knob of its own) timed beside its parent in one
# call, as `shipped shipped@PARENT`.  The rest of the library is this tree's, so REV's kernel must take the same
# KernelArgs and C ABI.
#
# Carry .device/variants (and .device/native for run_device.sh's steps) in the device call: pack_device.sh packs
# .device under the carry's 64 MB.
set -euo pipefail
cd "$(dirname "$0")/../.."
# NAME:THREADS:SM_THREADS:UNROLL:L2_PERCENT:CLUSTER_PART_KB:PREFETCH_GROUPS:BACKWARDS:NEXT_ROW:CLUSTER_L2:L2_KEEP;
# "shipped" is the defaults, "one-block" the shape before 2026-12-04.  The clustered ones split a bf16 row of 151,936
# over 2 blocks of 148 KB, one of 512 threads an SM (clustered-160) or one of 1024 (clustered-160-t1024), over 4 of
# 74 KB, two an SM (clustered-96), or over 8 of 37 KB of 256 threads, three an SM (clustered-48-t256; its 26 KB of
# static shared memory keep a fourth out); all slower than shipped on an H200 (RESULTS.md).  Not yet timed: the
# prefetch-N ones, which prefetch N groups ahead, and backwards, whose gradient pass starts at the row's end, which the
# pass before read last (row_access.cuh), alone and with prefetch-4's prefetches; next-4, whose last pass over a row
# prefetches the next row's first groups; and threads-1024-prefetch-4, -next-4 and -next-8: threads-1024's one block of
# 1024 threads an SM with the rows in flight within L2 (132 rows of 304 KB on an H200), whose gradient pass then reads
# from L2 but whose SM has no read in flight while its block works on a row's gradient (as fast as shipped on an H200),
# with prefetches, and with those that reach into the next row; cluster-l2, rows split over clusters of as few blocks
# as keep the rows in flight within 80% of L2, each block reading its part from global memory at each pass
# (kernel_plan.cuh: two blocks a row at the headline's shape, 132 rows in flight, two blocks an SM), alone and with
# prefetch-4's prefetches; and keep-N, whose pass 1 marks as many lines of each row evict-last as fill N% of L2 over
# the rows in flight (row_access.cuh; at the headline's shape on an H200, keep-25 marks 3/16 of each row's lines,
# keep-50 6/16 and keep-75 9/16), with the gradient pass forwards and, keep-50 again, backwards.
VARIANTS="shipped:512:1024:2:200:0:0:0:0:0:0
within-l2:512:1024:2:75:0:0:0:0:0:0
unroll-1:512:1024:1:200:0:0:0:0:0:0
unroll-4:512:1024:4:200:0:0:0:0:0:0
threads-1024:1024:1024:2:75:0:0:0:0:0:0
threads-256:256:1024:2:200:0:0:0:0:0:0
one-block:512:512:4:75:0:0:0:0:0:0
clustered-160:512:1024:2:200:160:0:0:0:0:0
clustered-160-t1024:1024:1024:2:200:160:0:0:0:0:0
clustered-96:512:1024:2:200:96:0:0:0:0:0
clustered-48-t256:256:1024:2:200:48:0:0:0:0:0
prefetch-2:512:1024:2:200:0:2:0:0:0:0
prefetch-4:512:1024:2:200:0:4:0:0:0:0
prefetch-8:512:1024:2:200:0:8:0:0:0:0
backwards:512:1024:2:200:0:0:1:0:0:0
backwards-prefetch-4:512:1024:2:200:0:4:1:0:0:0
next-4:512:1024:2:200:0:4:0:1:0:0
threads-1024-prefetch-4:1024:1024:2:75:0:4:0:0:0:0
threads-1024-next-4:1024:1024:2:75:0:4:0:1:0:0
threads-1024-next-8:1024:1024:2:75:0:8:0:1:0:0
cluster-l2:512:1024:2:200:0:0:0:0:80:0
cluster-l2-prefetch-4:512:1024:2:200:0:4:0:0:80:0
keep-25:512:1024:2:200:0:0:0:0:0:25
keep-50:512:1024:2:200:0:0:0:0:0:50
keep-75:512:1024:2:200:0:0:0:0:0:75
backwards-keep-50:512:1024:2:200:0:0:1:0:0:50"
base=build-gpu
objects=$base/CMakeFiles/policyloss.dir/src
if [ ! -f "$objects/cuda/fused_loss.cu.o" ]; then
    echo "build_variants.sh: no $base: run benchmarks/gpu/prepare_native.sh first" >&2
    exit 1
fi
flags=$(sed -n 's/^CUDA_FLAGS = //p' "$base/CMakeFiles/policyloss.dir/flags.make")
defines=$(sed -n 's/^CUDA_DEFINES = //p' "$base/CMakeFiles/policyloss.dir/flags.make" | sed 's/\\"/"/g')
# build NAME THREADS SM_THREADS UNROLL L2_PERCENT CLUSTER_PART_KB PREFETCH_GROUPS BACKWARDS NEXT_ROW CLUSTER_L2 L2_KEEP
#       [REV]
build() {
    local name=$1${12:+-${12}} source=.
    local dir=build-variants/$name dest=.device/variants/$name
    mkdir -p "$dir" "$dest"
    if [ -n "${12:-}" ]; then
        source=$dir/source
        rm -rf "$source" && mkdir -p "$source"
        git archive "${12}" native | tar -x -C "$source"
    fi
    # shellcheck disable=SC2086  # the flags are words
    eval /usr/local/cuda/bin/nvcc $defines $flags -I"$source"/native/include -Xptxas -v -DPL_ROW_THREADS="$2" \
        -DPL_ROW_SM_THREADS="$3" -DPL_ROW_UNROLL="$4" -DPL_ROWS_L2_PERCENT="$5" -DPL_ROW_CLUSTER_PART_KB="$6" \
        -DPL_ROW_PREFETCH_GROUPS="$7" -DPL_ROW_LAST_PASS_BACKWARDS="$8" -DPL_ROW_PREFETCH_NEXT_ROW="$9" \
        -DPL_ROW_CLUSTER_L2_PERCENT="${10}" -DPL_ROW_L2_KEEP_PERCENT="${11}" \
        -x cu -c "$source"/native/src/cuda/fused_loss.cu -o "$dir/fused_loss.cu.o" > "$dir/build.log" 2>&1
    local others
    others=$(find "$objects" -name '*.o' ! -name fused_loss.cu.o | sort)
    # shellcheck disable=SC2086
    c++ -fPIC -O3 -shared -Wl,-soname,libpolicyloss.so -o "$dest/libpolicyloss.so" $others "$dir/fused_loss.cu.o" \
        -L/usr/local/cuda/targets/x86_64-linux/lib -lcudadevrt -lcudart_static -lrt -lpthread -ldl
    cp "$base/tests/test_cuda" "$dest/"
    # One line per instance: its name, then ptxas's registers, stack and spills.
    awk -F"'" '/Compiling entry function/ { f = $2 }
        /bytes stack frame/ { sub(/^ +/, ""); frame = $0 }
        /Used [0-9]+ registers/ {
            match($0, /Used [0-9]+ registers/)
            print f ": " substr($0, RSTART + 5, RLENGTH - 5) ", " frame
        }' \
        "$dir/build.log" > "$dest/ptxas.txt"
    echo "$name:$2:$3:$4:$5:$6:$7:$8:$9:${10}:${11}${12:+ at ${12}}" > "$dest/variant.txt"
    echo "$name: $(grep -c spill "$dest/ptxas.txt") instances, $(du -sh "$dest" | cut -f1)"
}
# Each NAME[@REV] asked for (all of VARIANTS when none), as "NAME REV" lines.
if [ $# -eq 0 ]; then
    wanted=$(for line in $VARIANTS; do echo "${line%%:*}"; done)
else
    wanted=$(for arg in "$@"; do echo "${arg%%@*} $( [[ $arg == *@* ]] && echo "${arg#*@}")"; done)
fi
running=0
while read -r want rev; do
    line=$(grep -m1 "^$want:" <<< "$VARIANTS" || true)
    if [ -z "$line" ]; then
        echo "build_variants.sh: no variant $want" >&2
        exit 1
    fi
    IFS=: read -r name threads sm_threads unroll l2 part prefetch backwards next_row cluster_l2 keep <<< "$line"
    build "$name" "$threads" "$sm_threads" "$unroll" "$l2" "$part" "$prefetch" "$backwards" "$next_row" "$cluster_l2" \
        "$keep" ${rev:+"$rev"} &
    running=$((running + 1))
    if [ $running -ge 2 ]; then wait -n; running=$((running - 1)); fi
done <<< "$wanted"
wait
