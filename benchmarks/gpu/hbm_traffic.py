"""How many times one call of the CUDA kernel moves the logits' bytes through HBM, from the DRAM bytes that Nsight
Compute counts: the test of the kernel's central assumption, that the passes over a row after the first are served
by L2 (RESULTS.md, passes over a row: 2 to 5 of them).  At the headline shape (8192 x 151,936 bf16), per mode, with
dlogits apart and in place, next to an elementwise kernel that reads the logits once and writes them once, which
shows what the counters give for exactly one read and one write.

    python3 benchmarks/gpu/hbm_traffic.py --lib build-gpu/libpolicyloss.so --out OUT [--ncu ncu]

It runs itself under ncu (each call profiled alone, L2 flushed before it, clocks left alone), then reads ncu's CSV
and prints a table, also written to OUT/hbm_traffic.md with the raw numbers in OUT/hbm_traffic.json.  A row that
reads about 1.0x the logits is one HBM pass: each pass that misses L2 adds up to 1.0x more.  Writes can read a
little low: dirty lines still in L2 when the kernel ends (at most the 50 MB L2, 2% here) are not yet in DRAM.
"""
import argparse
import csv
import json
import os
import subprocess
import sys

N, V = 8192, 151936
METRICS = ["dram__bytes_read.sum", "dram__bytes_write.sum", "gpu__time_duration.sum"]
# ncu's units, to bytes and nanoseconds (--print-units base asks for these two; ncu 2025.3 on the H200 names the
# nanosecond "ns").
UNITS = {"byte": 1.0, "Kbyte": 1e3, "Mbyte": 1e6, "Gbyte": 1e9, "nsecond": 1.0, "usecond": 1e3, "msecond": 1e6,
         "ns": 1.0, "us": 1e3, "ms": 1e6}
FLOOR = "floor: neg (reads once, writes once)"
FLOOR_KERNEL = "neg_kernel"  # in the name of torch's elementwise kernel behind FLOOR


def cases():
    """The profiled ranges, in the child's order; each holds one kernel, plus reduce_rows where the loss kernel's
    launch could not be cooperative (fused_loss.cu)."""
    from bench_loss import MODES
    return [FLOOR] + [m + where for m in MODES for where in ("", ", in place")]


def run_cases(lib_path):
    """The child, under ncu: every case in its own cudaProfilerStart / Stop range, its buffers made outside it."""
    import torch
    from bench_loss import MODES, make_inputs, mode_params
    from policyloss_ctypes import PL_METRICS_LEN, Library

    lib = Library(lib_path)
    logits, target, old_logp, advantage, weight = make_inputs(N, V, torch.bfloat16)
    metrics = torch.zeros(PL_METRICS_LEN, dtype=torch.float64, device="cuda")
    err = torch.full((3,), -1, dtype=torch.int64, device="cuda")  # the call's data check: row -1 is none

    def profiled(fn):
        torch.cuda.synchronize()
        torch.cuda.profiler.start()
        fn()
        torch.cuda.synchronize()
        torch.cuda.profiler.stop()
        if err[0].item() != -1:
            sys.exit("data error at row %d" % err[0].item())

    out = torch.empty_like(logits)
    profiled(lambda: torch.neg(logits, out=out))
    for mode in MODES:
        params = mode_params(lib, mode)

        def call(x, dlogits):
            lib.call(torch, params, x, target, old_logp, advantage, weight, dlogits, metrics, err)
        call(logits, out)  # unprofiled: an instance's first call asks its occupancy, and the scratch pool grows
        profiled(lambda: call(logits, out))
        work = logits.clone()
        profiled(lambda: call(work, work))
        del work


def read_ncu_raw(path):
    """ncu's raw page (--csv --page raw): a header of column names, a row of units, then one row per profiled kernel.
    Returns (units by column, [(kernel name, {column: text})] in launch order)."""
    with open(path) as fh:
        lines = fh.read().splitlines()
    start = next((k for k, line in enumerate(lines) if line.startswith('"ID",')), None)
    if start is None:
        raise ValueError("no CSV header in %s: %s" % (path, " | ".join(lines[-5:])))
    rows = list(csv.reader(lines[start:]))
    header, units = rows[0], rows[1]
    kernels = [(r[header.index("Kernel Name")], dict(zip(header, r)))
               for r in rows[2:] if len(r) == len(header) and r[0].isdigit()]
    return dict(zip(header, units)), kernels


def number(text, unit):
    """A raw-page value in bytes, nanoseconds or its own unit (percent, ratio, count); None where ncu gave none."""
    try:
        return float(text.replace(",", "")) * UNITS.get(unit, 1.0)
    except ValueError:
        return None


def read_ncu_csv(path):
    """[(kernel name, {metric: value in bytes or nanoseconds})] of METRICS, in launch order."""
    units, kernels = read_ncu_raw(path)
    for m in METRICS:
        if m not in units:
            raise ValueError("ncu's CSV has no column %s" % m)
        if units[m] not in UNITS:
            raise ValueError("%s is in %r, a unit this script does not know" % (m, units[m]))
    kernels = [(name, {m: number(r[m], units[m]) for m in METRICS}) for name, r in kernels]
    for name, values in kernels:
        if None in values.values():
            raise ValueError("%s: no value for %s" % (name, [m for m, v in values.items() if v is None]))
    return kernels


def launched_with_the_last(name, last):
    """Whether a kernel belongs to the call before it: reduce_rows, which the loss kernel's call launches after it
    where the launch could not be cooperative; or the floor's second half, since torch splits an elementwise kernel
    whose byte offsets pass 2^31 (the headline's 2.49 GB of logits) into 32-bit-indexed launches."""
    return "reduce_rows" in name or (last is not None and FLOOR_KERNEL in name and FLOOR_KERNEL in last)


def per_case(kernels, labels):
    """Adds each kernel launched with the last (launched_with_the_last) to its call; then one entry per profiled
    range."""
    calls, last = [], None
    for name, values in kernels:
        if calls and launched_with_the_last(name, last):
            calls[-1] = {m: calls[-1][m] + values[m] for m in METRICS}
        else:
            calls.append(dict(values))
        last = name
    if len(calls) != len(labels):
        raise ValueError("%d profiled calls for %d cases: %s" % (len(calls), len(labels),
                                                                 ", ".join(n for n, _ in kernels)))
    return dict(zip(labels, calls))


def profile(ncu, collect, report, lib):
    """This script's child under ncu, which collects what `collect` names (its --metrics or --section arguments) into
    its raw page at `report`: each call profiled alone, L2 flushed before it, clocks left alone."""
    subprocess.run([ncu, "--profile-from-start", "off", "--clock-control", "none", "--cache-control", "all", *collect,
                    "--csv", "--page", "raw", "--print-units", "base", "--log-file", report,
                    sys.executable, os.path.abspath(__file__), "--child", "--lib", lib], check=True)


def table(results, device):
    logits_bytes = N * V * 2
    out = ["Device: %s. DRAM bytes of one call, counted by Nsight Compute (L2 flushed before the call), in units of "
           "the logits' size (N = %d x V = %d bf16, %.2f GB); time under the profiler, for reference only." % (
               device, N, V, logits_bytes / 1e9), "",
           "| call | HBM reads / logits | HBM writes / logits | ms under ncu |", "|---|---|---|---|"]
    for label, r in results.items():
        out.append("| %s | %.3f | %.3f | %.3f |" % (label, r["dram__bytes_read.sum"] / logits_bytes,
                                                     r["dram__bytes_write.sum"] / logits_bytes,
                                                     r["gpu__time_duration.sum"] / 1e6))
    return "\n".join(out)


def arguments():
    """The arguments of this script and of ncu_breakdown.py: the library, the output folder, ncu."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--lib", required=True)
    ap.add_argument("--out", default=".")
    ap.add_argument("--ncu", default="ncu")
    return ap


def write_report(out, name, record, text):
    """OUT/NAME.json (every figure) and OUT/NAME.md (the table), and the table printed."""
    with open(os.path.join(out, name + ".json"), "w") as fh:
        json.dump(record, fh, indent=1)
    with open(os.path.join(out, name + ".md"), "w") as fh:
        fh.write(text + "\n")
    print(text)


def main():
    ap = arguments()
    ap.add_argument("--child", action="store_true", help="run the cases (what ncu profiles)")
    args = ap.parse_args()
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    if args.child:
        run_cases(args.lib)
        return
    os.makedirs(args.out, exist_ok=True)
    report = os.path.join(args.out, "hbm_traffic.csv")
    profile(args.ncu, ["--metrics", ",".join(METRICS)], report, args.lib)
    import torch
    device = torch.cuda.get_device_name()
    results = per_case(read_ncu_csv(report), cases())
    write_report(args.out, "hbm_traffic", {"device": device, "n": N, "v": V, "calls": results}, table(results, device))


if __name__ == "__main__":
    main()
