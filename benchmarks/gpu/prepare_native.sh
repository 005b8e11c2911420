#!/usr/bin/env bash
# The native library, the C++ tests and the launch cost benchmark for sm_90 (H100, H200), built and copied into one
# folder with the hash of the sources they came from.
#
#   benchmarks/gpu/prepare_native.sh                  here, before a device call, after ../shared/gpu/prepare.sh:
#                                                     build-gpu/, copied into .device/native/ (carry .device)
#   benchmarks/gpu/prepare_native.sh BUILD DEST       the same into other folders (run_device.sh, on the GPU machine)
#   benchmarks/gpu/prepare_native.sh --sources-hash   the hash of native/ as it is now
#
# A device session has 15 minutes, the machine's start included; nvcc would take about one of them there.
# run_device.sh builds there instead where the carried programs are stale (their hash is not the sources') or cannot
# start (a system library older than this machine's).
set -euo pipefail
cd "$(dirname "$0")/../.."
sources_hash() {
    # LC_ALL=C: the same order under every locale (the GPU machine's differs from this one's).
    (cd native && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum) | sha256sum
}
if [ "${1:-}" = --sources-hash ]; then
    sources_hash
    exit 0
fi
build=${1:-build-gpu}
dest=${2:-.device/native}
if [ $# -eq 0 ] && [ ! -f .device/run.sh ]; then
    echo "prepare_native.sh: no .device/run.sh: run ../shared/gpu/prepare.sh first" >&2
    exit 1
fi
cmake -S native -B "$build" -DCMAKE_BUILD_TYPE=Release -DPL_CUDA_ARCHITECTURES=90-real > /dev/null
cmake --build "$build" --parallel --target policyloss test_abi test_cuda launch_costs
mkdir -p "$dest"
cp "$build/libpolicyloss.so" "$build/tests/test_abi" "$build/tests/test_cuda" "$build/bench/launch_costs" "$dest/"
sources_hash > "$dest/native.sha256"
du -sh "$dest"
