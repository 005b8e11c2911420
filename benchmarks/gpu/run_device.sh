#!/usr/bin/env bash
# Everything the GPU machine checks and measures, in one command (../shared/gpu/README.md: it has CUDA, cmake, nvcc
# and PyTorch, but no Java or Maven).  Here first: ../shared/gpu/prepare.sh (the Java part, in .device/), then
# benchmarks/gpu/prepare_native.sh (the native library and C++ tests for sm_90, in .device/native/); carry .device,
# or, where it is over the carry's 64 MB (variants), benchmarks/gpu/pack_device.sh and carry .devpack instead, which
# this script unpacks into .device first.
#
#   benchmarks/gpu/run_device.sh all OUT [SECONDS]     every step below, in this order, ending within SECONDS (540)
#   benchmarks/gpu/run_device.sh check OUT [SECONDS]   the correctness steps only
#   benchmarks/gpu/run_device.sh bench OUT [SECONDS]   the timing steps only
#   benchmarks/gpu/run_device.sh STEP,STEP OUT [SECONDS]   those steps (names below; native comes first anyway)
#
# A session gets 15 minutes of device time, the machine's start included, and a command at most 10: so one call does
# it all, the steps that answer the issue's questions first, and each step's time limit is cut to what the deadline
# leaves (a step with too little left is skipped, and said so), so the call ends inside its own limit:
#   native          the carried build, or a build there (about a minute) where it is stale or cannot start
#   test-cuda       C++: the CUDA kernel against the CPU kernel on every case, rows past 2^31 elements included
#   sass            the instructions behind the kernels' atomics and exponentials (RESULTS.md says what to expect)
#   bench-headline  bench_loss.py: the check against float64 autograd, then kernel / Liger-Kernel (where carried) /
#                   eager / torch.compile / copy floor at 8192 x 151,936 bf16
#   junit-gpu       the gpu-tagged JUnit tests (the CUDA kernel against the Java oracle, the device API)
#   launch-costs    the host cost of a call and of its parts
#   memcheck, racecheck   compute-sanitizer on the C++ test's cases of up to 65,536 logits
#   hbm-traffic     hbm_traffic.py: the DRAM bytes of one call per mode (Nsight Compute)
#   jmh-launch      the JMH launch overhead from Java
#   ncu-breakdown   ncu_breakdown.py: where each call's time goes (units busy, L2 hits, atomic replays, warp stalls)
#   bench-sweep     bench_loss.py: the other shapes and dtypes, in whatever time is left
# and one step that runs only when named, before the steps it should choose the library for:
#   variants        compare_variants.py --sanitize on build_variants.sh's builds carried in .device/variants; the
#                   steps after it use the fastest that passed (its libpolicyloss.so beside the carried programs)
#
# OUT gets summary.txt, the tables, and logs.tar.gz with every log and raw result (the device tool brings back at
# most 8 files).  They are rewritten after each step, so a call cut short still brings back what it did.
# shellcheck disable=SC2016  # the Java steps' $JAVA and $CLASSPATH are run.sh's, expanded there, not here
set -uo pipefail
what=${1:?all, check or bench}
out=${2:?output folder}
budget=${3:-540}
all_steps="native test-cuda sass bench-headline junit-gpu launch-costs memcheck racecheck"
all_steps+=" hbm-traffic jmh-launch ncu-breakdown bench-sweep"
case $what in
all)   steps=$all_steps ;;
check) steps="native test-cuda sass junit-gpu memcheck racecheck" ;;
bench) steps="native bench-headline launch-costs hbm-traffic jmh-launch ncu-breakdown bench-sweep" ;;
*)     steps="native $(tr ',' '\n' <<< "$what" | grep -vx native | tr '\n' ' ')"
       for s in $steps; do
           case " $all_steps variants " in
           *" $s "*) ;;
           *) echo "run_device.sh: '$s' is none of all, check, bench or a step's name (the list above)" >&2; exit 2 ;;
           esac
       done ;;
esac
root=$(cd "$(dirname "$0")/../.." && pwd)
out=$(mkdir -p "$out" && cd "$out" && pwd)
cd "$root" || exit 1  # .device/run.sh's commands name .device/ from here
if [ -f .devpack/device.tar.xz ]; then  # pack_device.sh's
    tar -xJf .devpack/device.tar.xz && cp .devpack/jre.tar.xz .device/ || exit 1
fi
logs=$(mktemp -d)
deadline=$((SECONDS + budget))
keep=15  # seconds kept after the last step for packing the results
summary=()
# Here a test that finds no usable device fails instead of skipping: a GPU machine's suite must not pass unrun.
export POLICYLOSS_GPU=required
# CUDA's tools (cuobjdump, compute-sanitizer, ncu) where the PATH lacks them; what it has comes first.
for dir in /usr/local/cuda/bin /opt/nvidia/nsight-compute/*; do [ -d "$dir" ] && PATH=$PATH:$dir; done
export PATH
# The peer bench_loss.py times beside the kernel, Liger-Kernel, where it was carried (the GPU machine's image has
# Triton but not Liger, and no registry): its liger_kernel package, or ops/grpo_loss.py alone, under .device/peers.
[ -d "$root/.device/peers" ] && export PYTHONPATH=$root/.device/peers${PYTHONPATH:+:$PYTHONPATH}

tables="compare_variants.md bench_loss.md bench_sweep.md hbm_traffic.md ncu_breakdown.md"
save() {  # the summary, the tables and the logs into OUT, as they stand
    printf '%s\n' "${summary[@]}" > "$out/summary.txt"
    for table in $tables; do
        [ -f "$logs/$table" ] && cp "$logs/$table" "$out/"
    done
    tar -czf "$out/.logs.tar.gz" -C "$logs" . && mv "$out/.logs.tar.gz" "$out/logs.tar.gz"
}
record() {  # record NAME TEXT: a line of the summary
    summary+=("$(printf '%-16s %s' "$1" "$2")")
}
step() {  # step NAME LIMIT COMMAND...: runs it with its log in NAME.log, records pass / FAIL / skipped and seconds
    local name=$1 limit=$2
    shift 2
    local left=$((deadline - SECONDS - keep))
    if [ $left -lt 20 ]; then
        record "$name" "skipped: $((left + keep))s left of ${budget}s"
        save
        return 1
    fi
    [ "$limit" -gt $left ] && limit=$left
    local start=$SECONDS
    timeout -k 5 "$limit" "$@" > "$logs/$name.log" 2>&1
    local rc=$?
    local verdict=pass
    [ $rc -ne 0 ] && verdict="FAIL rc=$rc"
    [ $rc -eq 124 ] && verdict="FAIL: cut at ${limit}s"
    record "$name" "$verdict ($((SECONDS - start))s)"
    tail -n 5 "$logs/$name.log"
    save
    return $rc
}

# The native programs: carried from the development machine when they were built from these sources and can start
# here, else built here (about a minute): a stale build would measure another kernel, and one made against another
# system's libraries fails to load ('error while loading shared libraries').
lib=$root/.device/native/libpolicyloss.so
bin=$root/.device/native
native() {
    if [ -x "$bin/test_abi" ] && "$root/benchmarks/gpu/prepare_native.sh" --sources-hash | cmp -s - "$bin/native.sha256"; then
        step native 30 env LD_LIBRARY_PATH="$bin" "$bin/test_abi" && return 0
        grep -qE 'error while loading shared libraries|GLIBC|GLIBCXX|cannot execute' "$logs/native.log" || return 1
    elif [ -x "$bin/test_abi" ]; then
        record native "not used: built from other sources than native/ (benchmarks/gpu/prepare_native.sh)"
    fi
    local build=$root/build-device
    step cmake 240 bash -c "'$root/benchmarks/gpu/prepare_native.sh' '$build' '$build/run' \
        && env LD_LIBRARY_PATH='$build/run' '$build/run/test_abi'"
    local rc=$?
    lib=$build/run/libpolicyloss.so
    bin=$build/run
    return $rc
}
variants() {  # the variants step: the builds side by side, then the fastest that passed as $lib for what follows
    # About a minute a build: 23 to 84 s each with the sanitizers on an H200 (2026-12-04: six builds in 250 s).
    local folder=$root/.device/variants builds
    builds=$(find "$folder" -mindepth 1 -maxdepth 1 -type d | wc -l)
    step variants $((60 * builds)) python3 "$root/benchmarks/gpu/compare_variants.py" --variants "$folder" \
        --out "$logs" --sanitize --best-into "$logs/best.txt"
    [ -f "$logs/best.txt" ] || return 1
    local best fastest
    best=$(cat "$logs/best.txt")
    fastest=$(mktemp -d)
    cp "$bin"/* "$fastest/" && cp "$best/libpolicyloss.so" "$fastest/" || return 1
    bin=$fastest
    lib=$fastest/libpolicyloss.so
    record fastest "$(cat "$best/variant.txt"): the library of the steps after variants"
}
java_tool() {  # java_tool NAME LIMIT COMMAND: a command run by .device/run.sh (Java and the project's jars)
    if [ ! -f "$root/.device/run.sh" ]; then
        record "$1" "skipped: no .device/run.sh (../shared/gpu/prepare.sh, then carry .device or .devpack)"
        return 1
    fi
    step "$1" "$2" bash "$root/.device/run.sh" "$3"
}

nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm,clocks.max.mem --format=csv > "$logs/gpu.txt" 2>&1
cat "$logs/gpu.txt"
for s in $steps; do
    case $s in
    native) native ;;
    variants) variants ;;
    test-cuda) step test-cuda 120 env LD_LIBRARY_PATH="$bin" "$bin/test_cuda" ;;
    sass)
        step sass 15 bash -c "set -o pipefail; cuobjdump -sass '$lib' | awk '
            /Function :/ { f = \$3 }
            match(\$0, /(ATOMS|ATOM|RED)[.][A-Z0-9.]+|MUFU[.][A-Z0-9]+/) { n[f \" \" substr(\$0, RSTART, RLENGTH)]++ }
            END { for (k in n) print n[k], k }' | sort -k2" ;;
    bench-headline)
        step bench-headline 300 python3 "$root/benchmarks/gpu/bench_loss.py" --lib "$lib" --out "$logs" --part headline ;;
    junit-gpu)
        # The test classes alone are scanned: the jars would need the jdk.zipfs module, which prepare.sh's runtime
        # lacks.  jqwik's database goes where it can be written (target/, its usual place, is not carried).
        java_tool junit-gpu 150 \
            '$JAVA -jar .device/junit-console.jar execute -cp "$CLASSPATH" --include-tag gpu \
             --scan-classpath .device/test-classes --details=summary \
             --config jqwik.database='"$logs"'/jqwik-database' ;;
    launch-costs) step launch-costs 20 env LD_LIBRARY_PATH="$bin" "$bin/launch_costs" ;;
    memcheck)
        step memcheck 100 env LD_LIBRARY_PATH="$bin" compute-sanitizer --tool memcheck --error-exitcode 1 "$bin/test_cuda" --quick ;;
    racecheck)
        step racecheck 120 env LD_LIBRARY_PATH="$bin" compute-sanitizer --tool racecheck --error-exitcode 1 "$bin/test_cuda" --quick ;;
    hbm-traffic) step hbm-traffic 60 python3 "$root/benchmarks/gpu/hbm_traffic.py" --lib "$lib" --out "$logs" ;;
    jmh-launch)
        java_tool jmh-launch 60 \
            '$JAVA -cp "$CLASSPATH" org.openjdk.jmh.Main CudaLaunchBenchmark -f 1 -wi 3 -i 5 -rf json -rff '"$logs"'/jmh-launch.json \
             && grep -q primaryMetric '"$logs"'/jmh-launch.json' ;;  # JMH exits 0 when every benchmark failed
    ncu-breakdown) step ncu-breakdown 75 python3 "$root/benchmarks/gpu/ncu_breakdown.py" --lib "$lib" --out "$logs" ;;
    bench-sweep)
        # bench_loss.py starts no shape after its budget: the largest shapes take tens of seconds each.
        left=$((deadline - SECONDS - keep))
        step bench-sweep "$left" python3 "$root/benchmarks/gpu/bench_loss.py" --lib "$lib" --out "$logs" --part sweep \
            --budget-s $((left > 60 ? left - 45 : 15)) ;;
    esac
done
[ -f "$logs/launch-costs.log" ] && cat "$logs/launch-costs.log"
for table in $tables; do [ -f "$logs/$table" ] && cat "$logs/$table"; done
save
cat "$out/summary.txt"
rm -rf "$logs"
