#!/usr/bin/env bash
# Everything the GPU machine checks and measures, in one command per device call (../shared/gpu/README.md: it has
# CUDA, cmake, nvcc and PyTorch, but no Java or Maven; ../shared/gpu/prepare.sh builds .device/ for the Java part).
#
#   benchmarks/gpu/run_device.sh check OUT   build for sm_90, C++ tests (CUDA against CPU), the SASS of the
#                                            atomics and exponentials, compute-sanitizer memcheck and racecheck on
#                                            their smaller cases, the gpu-tagged JUnit tests
#   benchmarks/gpu/run_device.sh bench OUT   the host cost of a launch and its parts (launch_costs), the side-by-side
#                                            harness (bench_loss.py), the JMH launch overhead, and the HBM bytes of
#                                            one call counted by Nsight Compute (hbm_traffic.py)
#
# A short summary is printed last.  The device tool brings back at most 8 files from OUT and a bench call writes a
# dozen, so the logs and raw results travel as one archive, OUT/logs.tar.gz, with the summary and the tables beside
# it.  A device call may run 600 s, so the steps' time limits add up to less: a step that runs over is cut short and
# reported, and the rest still run.
set -uo pipefail
what=${1:?check or bench}
out=${2:?output folder}
logs=$out/logs
mkdir -p "$logs"
root=$(cd "$(dirname "$0")/../.." && pwd)
build=$root/build-gpu
summary=()
# Here a test that finds no usable device fails instead of skipping: a GPU machine's suite must not pass unrun.
export POLICYLOSS_GPU=required
step() {  # step NAME TIMEOUT COMMAND...: runs it with its log in NAME.log, records pass / FAIL and seconds
    local name=$1 limit=$2
    shift 2
    local start=$SECONDS
    timeout "$limit" "$@" > "$logs/$name.log" 2>&1
    local rc=$?
    summary+=("$(printf '%-28s %s (%ds)' "$name" "$([ $rc -eq 0 ] && echo pass || echo "FAIL rc=$rc")" $((SECONDS - start)))")
    tail -n 5 "$logs/$name.log"
    return $rc
}

nvidia-smi --query-gpu=name,driver_version,clocks.max.sm,clocks.max.mem --format=csv > "$logs/gpu.txt" 2>&1
# What runs here only: the emulated test (one large translation unit with sanitizers, minutes to compile) is CI's.
targets="policyloss test_abi test_cuda launch_costs"
if [ ! -f "$build/libpolicyloss.so" ]; then
    step cmake 150 bash -c "cmake -S '$root/native' -B '$build' -DCMAKE_BUILD_TYPE=Release -DPL_CUDA_ARCHITECTURES=90-real \
        && cmake --build '$build' --parallel --target $targets"
fi
case $what in
check)
    step ctest 80 ctest --test-dir "$build" --output-on-failure -R '^(abi|cuda)$'
    # The instructions behind the kernels' atomics and exponentials, counted per kernel (RESULTS.md says what public
    # listings show for them), in OUT/sass.log.
    step sass 10 bash -c "set -o pipefail; cuobjdump -sass '$build/libpolicyloss.so' | awk '
        /Function :/ { f = \$3 }
        match(\$0, /(ATOMS|ATOM|RED)[.][A-Z0-9.]+|MUFU[.][A-Z0-9]+/) { n[f \" \" substr(\$0, RSTART, RLENGTH)]++ }
        END { for (k in n) print n[k], k }' | sort -k2"
    step memcheck 100 compute-sanitizer --tool memcheck --error-exitcode 1 "$build/tests/test_cuda" --quick
    step racecheck 120 compute-sanitizer --tool racecheck --error-exitcode 1 "$build/tests/test_cuda" --quick
    if [ -f "$root/.device/run.sh" ]; then
        step junit-gpu 120 bash "$root/.device/run.sh" \
            '$JAVA -jar .device/junit-console.jar execute -cp "$CLASSPATH" --include-tag gpu --scan-classpath --details=summary'
    fi
    ;;
bench)
    step launch-costs 15 "$build/bench/launch_costs"
    step bench-loss 325 python3 "$root/benchmarks/gpu/bench_loss.py" --lib "$build/libpolicyloss.so" --out "$logs" \
        --budget-s 265 ${QUICK:+--quick}
    if [ -f "$root/.device/run.sh" ]; then
        step jmh-launch 60 bash "$root/.device/run.sh" \
            '$JAVA -cp "$CLASSPATH" org.openjdk.jmh.Main CudaLaunchBenchmark -f 1 -wi 3 -i 5 -rf json -rff '"$logs"'/jmh-launch.json'
    fi
    step hbm-traffic 45 python3 "$root/benchmarks/gpu/hbm_traffic.py" --lib "$build/libpolicyloss.so" --out "$logs"
    cat "$logs/launch-costs.log"
    for table in bench_loss.md hbm_traffic.md; do
        [ -f "$logs/$table" ] && cat "$logs/$table" && cp "$logs/$table" "$out/"
    done
    ;;
esac
printf '%s\n' "${summary[@]}" | tee "$out/summary.txt"
tar -czf "$out/logs.tar.gz" -C "$logs" . && rm -rf "$logs"
