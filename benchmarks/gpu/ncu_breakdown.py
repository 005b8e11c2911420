"""Where one call's time goes, as Nsight Compute accounts for it: for the calls that hbm_traffic.py profiles (the
read-once write-once floor, and the kernel in each mode, dlogits apart and in place, at 8192 x 151,936 bf16), how
busy DRAM, L2 and the SMs were against their peaks, L2's hit rate, how many warps were resident and issuing, how many
times each shared-memory atomic was replayed, and what the warps waited on most.  It answers, in the same device
call as the timings, the question a timing above its floor raises: which of the kernel's assumptions failed
(RESULTS.md says what each answer points to).

    python3 benchmarks/gpu/ncu_breakdown.py --lib build-gpu/libpolicyloss.so --out OUT [--ncu ncu]

It collects ncu's own sections, whose metric names ncu keeps in step with its chips (a name ncu does not know would
end the whole run), runs hbm_traffic.py's child under them, and writes OUT/ncu_breakdown.md; every metric of every
call goes to OUT/ncu_breakdown.json, the raw page to OUT/ncu_breakdown.csv.  A metric the sections did not give on
this chip reads n/a.
"""
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hbm_traffic import (arguments, cases, launched_with_the_last, number, profile, read_ncu_raw,  # noqa: E402
                         write_report)

SECTIONS = ["SpeedOfLight", "MemoryWorkloadAnalysis", "MemoryWorkloadAnalysis_Tables", "WarpStateStats",
            "Occupancy", "SchedulerStats"]
# (column, metric): the time, then DRAM, L2 and the SMs busy as percentages of their peaks over the call, L2's hit
# rate, warps resident as a percentage of the SM's most (occupancy), and cycles in which a scheduler issued.
COLUMNS = [("ms (ncu)", "gpu__time_duration.sum"),
           ("DRAM %", "gpu__dram_throughput.avg.pct_of_peak_sustained_elapsed"),
           ("L2 %", "lts__throughput.avg.pct_of_peak_sustained_elapsed"),
           ("SM %", "sm__throughput.avg.pct_of_peak_sustained_elapsed"),
           ("L2 hit %", "lts__t_sector_hit_rate.pct"),
           ("occupancy %", "sm__warps_active.avg.pct_of_peak_sustained_active"),
           ("issuing %", "smsp__issue_active.avg.pct_of_peak_sustained_active")]
# Wavefronts per shared-memory atomic instruction: 1 when a warp's lanes meet no conflict, up to 32 when they
# serialise (the radix select's histograms, row_kernel.cuh).
ATOMIC_WAVEFRONTS = "l1tex__data_pipe_lsu_wavefronts_mem_shared_op_atom.sum"
ATOMIC_INSTRUCTIONS = "smsp__inst_executed_op_shared_atom.sum"
# Warps waiting for each reason, per cycle that issued (WarpStateStats); 'selected' is issuing, not waiting.
STALL = re.compile(r"^smsp__average_warps_issue_stalled_(\w+)_per_issue_active\.ratio$")
TOP_STALLS = 4


def per_case(kernels, labels):
    """One profiled kernel per case, the first of its call (hbm_traffic.launched_with_the_last): the loss kernel's own
    figures, not a reduce_rows launched after it, and the floor's first half, since percentages and ratios do not
    add."""
    names = [None] + [name for name, _ in kernels]
    calls = [values for (name, values), last in zip(kernels, names) if not launched_with_the_last(name, last)]
    if len(calls) != len(labels):
        raise ValueError("%d profiled calls for %d cases: %s" % (len(calls), len(labels),
                                                                 ", ".join(n for n, _ in kernels)))
    return dict(zip(labels, calls))


def breakdown(values):
    """A call's row of the table, from {metric: number or None}."""
    def shown(metric, scale=1.0, fmt="%.1f"):
        v = values.get(metric)
        return "n/a" if v is None else fmt % (v * scale)
    row = [shown(COLUMNS[0][1], 1e-6, "%.3f")] + [shown(m) for _, m in COLUMNS[1:]]
    wavefronts, instructions = values.get(ATOMIC_WAVEFRONTS), values.get(ATOMIC_INSTRUCTIONS)
    if wavefronts is None or instructions is None:
        row.append("n/a")
    else:
        row.append("%.2f" % (wavefronts / instructions) if instructions else "none")
    stalls = []
    for metric, v in values.items():
        match = STALL.match(metric)
        if match and v is not None and match.group(1) != "selected":
            stalls.append((v, match.group(1)))
    stalls.sort(reverse=True)
    row.append(", ".join("%s %.2f" % (reason, v) for v, reason in stalls[:TOP_STALLS]) or "n/a")
    return row


def table(results, device):
    head = [c for c, _ in COLUMNS] + ["atomic replays", "most waited on"]
    out = ["Device: %s. Nsight Compute's sections, one call each (L2 flushed before it), 8192 x 151,936 bf16: time "
           "under the profiler; DRAM, L2 and SM busy, %% of peak; L2 hit rate; occupancy; %% of cycles issuing; "
           "wavefronts per shared-memory atomic instruction (1: no conflict); the reasons warps waited most, in warps "
           "per issuing cycle." % device, "",
           "| call | " + " | ".join(head) + " |", "|---" * (len(head) + 1) + "|"]
    for label, values in results.items():
        out.append("| %s | %s |" % (label, " | ".join(breakdown(values))))
    return "\n".join(out)


def main():
    args = arguments().parse_args()
    os.makedirs(args.out, exist_ok=True)
    report = os.path.join(args.out, "ncu_breakdown.csv")
    profile(args.ncu, [a for s in SECTIONS for a in ("--section", s)], report, args.lib)
    units, kernels = read_ncu_raw(report)
    # The metrics ("unit__counter.rollup"), not ncu's columns that describe the launch (process, stream, grid).
    kernels = [(name, {m: number(text, units[m]) for m, text in row.items() if "__" in m}) for name, row in kernels]
    results = per_case(kernels, cases())
    import torch
    device = torch.cuda.get_device_name()
    write_report(args.out, "ncu_breakdown", {"device": device, "sections": SECTIONS, "calls": results},
                 table(results, device))


if __name__ == "__main__":
    main()
