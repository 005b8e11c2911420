#!/usr/bin/env bash
# .device packed into .devpack/ for a device call, whose carry holds 64 MB at most: .device with a few variants
# passes that (the Java runtime and jars are 47 MB, each build_variants.sh build 5-7 MB), packed it is about 45 MB
# (the variants' libraries compress from 6 MB to under 1 MB each; the runtime, already compressed, goes as it is).
# run_device.sh unpacks it there before its first step.
#
#   ../shared/gpu/prepare.sh && benchmarks/gpu/prepare_native.sh [&& benchmarks/gpu/build_variants.sh NAME ...]
#   benchmarks/gpu/pack_device.sh          then carry .devpack (not .device)
set -euo pipefail
cd "$(dirname "$0")/../.."
if [ ! -f .device/run.sh ]; then
    echo "pack_device.sh: no .device/run.sh: run ../shared/gpu/prepare.sh first" >&2
    exit 1
fi
grep -qxF "/.devpack/" .git/info/exclude 2>/dev/null || echo "/.devpack/" >> .git/info/exclude
rm -rf .devpack
mkdir .devpack
tar -cf - --exclude=.device/jre.tar.xz .device | xz -T0 -6 > .devpack/device.tar.xz
cp .device/jre.tar.xz .devpack/
du -sh .devpack
