"""Shapes of the CUDA row kernel side by side on one GPU, in one run, on the same inputs: for each build that
build_variants.sh made (.device/variants/NAME/), its C++ test against the CPU kernel, bench_loss.py's check against
float64 autograd on three cases, and its times at 8192 x 151,936 bf16 in each mode (dlogits apart, in place, and the
call without a gradient), with the copy floor measured beside them; and TOKEN_FRACTION at that shape in fp32, whose rows
take the radix select's passes (bf16 rows take them only where their sampled band misses).  Each build runs in a process
of its own (each library carries its own CUDA runtime); the table gives every time as a ratio to the shipped shape's.

    python3 benchmarks/gpu/compare_variants.py --variants .device/variants --out OUT [--sanitize] [--best-into FILE]

--sanitize also runs compute-sanitizer's memcheck and racecheck on each build's C++ test (its cases of up to 65,536
logits); --best-into writes the path of the fastest build whose results are right (its C++ test and float64 checks
passed; by the entropy mode's time), for the steps that follow in the same call (run_device.sh's, with that
library), the sanitizers' verdicts aside: a tool that cannot follow a kernel (distributed shared memory, say) should
not hide the timing.  A build whose test does not end in a minute (a kernel that never returns) is not timed.  The
exit status is 1 where any check, the sanitizers' included, failed.
"""
import argparse
import json
import os
import subprocess
import sys
import time

N, V = 8192, 151936
CHECK_ROWS = 64
SHIPPED = "shipped"


def measure(lib, out):
    """The child: one build's checks and times, as JSON into `out`."""
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import torch
    from bench_loss import MODEL_LIKE, MODES, bench_kernel, check, check_key
    from policyloss_ctypes import Library

    library = Library(lib)
    checks = {}
    for clamp, mass, family in [(False, False, None), (True, False, None), (True, True, MODEL_LIKE)]:
        key = check_key(CHECK_ROWS, V, torch.bfloat16, clamp, mass, family)
        checks[key] = check(library, CHECK_ROWS, V, torch.bfloat16, clamp, mass, family)
    rows = bench_kernel(library, N, V, torch.bfloat16, 20, MODES)
    # TOKEN_FRACTION (MODES[1]) in fp32, whose rows have no sampled band: the radix select's passes, timed.
    fp32 = bench_kernel(library, N, V, torch.float32, 20, MODES[1:2])
    rows += [dict(row, mode=row["mode"] + ", fp32") for row in fp32]
    with open(out, "w") as fh:
        json.dump({"build": library.build_info(), "checks": checks, "rows": rows}, fh, indent=1)


def run_program(command, env, seconds):
    """(whether it exited 0, the last lines it printed, whether it ended in time) of one program; env None: ours."""
    try:
        run = subprocess.run(command, env=env, capture_output=True, text=True, timeout=seconds)
    except subprocess.TimeoutExpired:
        return False, ["did not end in %d s" % seconds], False
    except OSError as e:  # not there: compute-sanitizer where the PATH lacks CUDA's tools
        return False, [str(e)], True
    return run.returncode == 0, run.stdout.strip().splitlines()[-1:] or run.stderr.strip().splitlines()[-3:], True


def run_variant(folder, out, sanitize):
    """test_cuda, the child, then the sanitizers where asked, of one build; what they gave, with their verdicts."""
    name = os.path.basename(folder)
    started = time.monotonic()
    env = dict(os.environ, LD_LIBRARY_PATH=folder)
    test = os.path.join(folder, "test_cuda")
    with open(os.path.join(folder, "variant.txt")) as fh:
        shape = fh.read().strip()
    result = {"name": name, "shape": shape}
    result["test_cuda"], result["test_cuda_tail"], ended = run_program([test], env, 60)
    result_path = os.path.join(out, "variant_%s.json" % name)
    library = os.path.join(folder, "libpolicyloss.so")
    if ended:
        measured, tail, _ = run_program([sys.executable, os.path.abspath(__file__), "--child", library, result_path],
                                        None, 120)
        if measured:
            with open(result_path) as fh:
                result.update(json.load(fh))
        else:
            result["error"] = tail
    else:
        result["error"] = ["not timed: its test did not end"]
    tools = ["memcheck", "racecheck"] if sanitize and ended else []
    for tool in tools:
        result[tool], result[tool + "_tail"], _ = run_program(
            ["compute-sanitizer", "--tool", tool, "--error-exitcode", "1", test, "--quick"], env, 90)
    result["seconds"] = round(time.monotonic() - started, 1)
    result["passed"] = result["test_cuda"] and "rows" in result and all(c["passed"] for c in result["checks"].values())
    result["sanitized"] = all(result[tool] for tool in tools)
    print(json.dumps({k: result[k] for k in ["name", "shape", "test_cuda"] + tools + ["passed", "seconds"]}),
          flush=True)
    return result


def table(results, device):
    shipped = next((r for r in results if r["name"] == SHIPPED and "rows" in r), None)
    base = {row["mode"]: row for row in shipped["rows"]} if shipped else {}
    out = ["Device: %s. Each shape of the row kernel at %d x %d bf16, and in fp32 with TOKEN_FRACTION "
           "(NAME:THREADS:SM_THREADS:UNROLL:L2_PERCENT:CLUSTER_PART_KB:PREFETCH_GROUPS:BACKWARDS:NEXT_ROW, "
           "build_variants.sh): median CUDA-event times "
           "of one call, dlogits apart / in place / without dlogits; x floor against the copy floor measured beside "
           "it; x shipped against the shipped shape's same time in this run. Checks: the C++ test against the CPU "
           "kernel, three against float64 autograd, and compute-sanitizer's memcheck and racecheck where run."
           % (device, N, V), "",
           "| shape | checks | mode | ms | x floor | x shipped | in place ms | no-gradient ms | x shipped |",
           "|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        failed = [k for k in ("test_cuda", "memcheck", "racecheck") if k in r and not r[k]]
        failed += ["float64"] if not all(c["passed"] for c in r.get("checks", {}).values()) else []
        verdict = "passed" if r["passed"] and not failed else "FAILED " + ", ".join(failed or ["(not timed)"])
        for row in r.get("rows", []):
            b = base.get(row["mode"])
            ratio = lambda key: "%.2f" % (row[key] / b[key]) if b else "-"
            out.append("| %s | %s | %s | %.3g | %.2f | %s | %.3g | %.3g | %s |" % (
                r["shape"], verdict, row["mode"], row["kernel_ms"], row["kernel_ms"] / row["floor_ms"],
                ratio("kernel_ms"), row["kernel_in_place_ms"], row["first_pass_ms"], ratio("first_pass_ms")))
        if "rows" not in r:
            out.append("| %s | %s | - | %s |  |  |  |  |  |" % (r["shape"], verdict, (r.get("error") or ["?"])[-1]))
    return "\n".join(out)


def main():
    if len(sys.argv) == 4 and sys.argv[1] == "--child":
        measure(sys.argv[2], sys.argv[3])
        return
    ap = argparse.ArgumentParser()
    ap.add_argument("--variants", required=True)
    ap.add_argument("--out", default=".")
    ap.add_argument("--sanitize", action="store_true")
    ap.add_argument("--best-into")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    folders = sorted((os.path.join(args.variants, d) for d in os.listdir(args.variants)),
                     key=lambda f: (os.path.basename(f) != SHIPPED, f))  # the shipped shape first
    results = [run_variant(f, args.out, args.sanitize)
               for f in folders if os.path.isfile(os.path.join(f, "libpolicyloss.so"))]
    import torch
    device = torch.cuda.get_device_name()
    text = table(results, device)
    with open(os.path.join(args.out, "compare_variants.json"), "w") as fh:
        json.dump({"device": device, "variants": results}, fh, indent=1)
    with open(os.path.join(args.out, "compare_variants.md"), "w") as fh:
        fh.write(text + "\n")
    print(text)
    passed = [r for r in results if r["passed"]]
    if args.best_into and passed:
        best = min(passed, key=lambda r: next(row["kernel_ms"] for row in r["rows"] if row["mode"] == "entropy"))
        with open(args.best_into, "w") as fh:
            fh.write(os.path.join(os.path.abspath(args.variants), best["name"]) + "\n")
        print("fastest that passed: %s" % best["shape"])
    if len(passed) < len(results) or not all(r["sanitized"] for r in results):
        sys.exit("a shape failed its checks: see the table")


if __name__ == "__main__":
    main()
