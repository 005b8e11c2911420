#!/usr/bin/env bash
# Here, before a device call, after ../shared/gpu/prepare.sh: builds the native library, the C++ tests and the launch
# cost benchmark for sm_90 (H100, H200) in build-gpu/, and copies the four programs into .device/native/, which the
# call carries with the Java part (carry .device).  A device session has 15 minutes, the machine's start included;
# nvcc would take about one of them there.  run_device.sh builds there instead where these are stale (native/ changed
# since) or cannot start (a system library older than this machine's).
set -euo pipefail
cd "$(dirname "$0")/../.."
[ -f .device/run.sh ] || { echo "prepare_native.sh: no .device/run.sh: run ../shared/gpu/prepare.sh first" >&2; exit 1; }
cmake -S native -B build-gpu -DCMAKE_BUILD_TYPE=Release -DPL_CUDA_ARCHITECTURES=90-real > /dev/null
cmake --build build-gpu --parallel --target policyloss test_abi test_cuda launch_costs
mkdir -p .device/native
cp build-gpu/libpolicyloss.so build-gpu/tests/test_abi build-gpu/tests/test_cuda build-gpu/bench/launch_costs .device/native/
# The sources they were built from, as run_device.sh hashes them there: it builds anew where they differ.
(cd native && find . -type f -print0 | sort -z | xargs -0 sha256sum) | sha256sum > .device/native/native.sha256
du -sh .device/native .device
