"""Side by side on one GPU, in one run, on the same inputs: the policyloss CUDA kernel, PyTorch eager and
torch.compile computing the same loss (SPEC sections 2-4: log-softmax at a temperature, token entropy, optionally
the clamped entropy, the clipped ratio loss) forward and backward; Liger-Kernel's Triton GRPO loss (the same loss
without entropy) where it is importable; and the floor, a device-to-device copy of the logits (read once + write
once; read twice + write once is 1.5 times that).

    python3 benchmarks/gpu/bench_loss.py --lib build-gpu/libpolicyloss.so --out results/ [--part P] [--budget-s S]

Two parts, run in one process or apart (benchmarks/gpu/run_device.sh runs the sweep last, in what its time leaves):
- headline: a check of the kernel against a float64 PyTorch reference (loss, entropies, gradient), then the kernel,
  Liger, eager PyTorch and torch.compile at 8192 x 151,936 bf16, into OUT/bench_loss.md and OUT/bench_loss.json;
  the kernel there with a softcap (SOFTCAP_MODE) too, and on two other row families: a confident model's (each
  target PEAK above the normal bulk), and rows shaped like a reasoning model's with their targets drawn from them
  (MODEL_LIKE);
- sweep: the kernel and the floor at the issue's other shapes, dtypes and sizes, into OUT/bench_sweep.md and .json.
Timings are CUDA events, median after warm-up; each table is printed last.
"""
import argparse
import functools
import json
import math
import os
import statistics
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from policyloss_ctypes import PL_CLAMP_PROBABILITY_MASS, PL_CLAMP_TOKEN_FRACTION, PL_METRICS_LEN, Library  # noqa: E402

EPS_LOW, EPS_HIGH, ENT, CLAMPED, P, TAU = 0.2, 0.28, 0.01, 0.02, 0.33, 0.9
MODES = ["entropy", "clamped (token fraction)", "clamped (probability mass)"]
# Gemma 2's final-logit softcap, y = c tanh(z / c) / TAU: the kernel takes tanh and its slope from the special
# function unit (RESULTS.md: with it, the GPU section predicts the kernel bound by that unit, not by memory).
SOFTCAP = 30.0
SOFTCAP_MODE = "entropy, softcap %g" % SOFTCAP
# A confident model's rows: the target's logit this far above the N(0, 2.5^2) bulk holds 98.5% of the row's mass at
# TAU (PROBABILITY_MASS keeps it alone; the sampled band by mass takes such rows, as the target joins its sample); the
# check's own at 14 holds 44%, so its S reaches into the bulk.
PEAK, CHECK_PEAK = 18.0, 14.0
# Rows shaped like a reasoning model's, their targets drawn from them at TAU as a rollout draws its tokens, and their
# old log-probs those of the targets (ratios near 1): the N(0, 2.5^2) bulk moved by a per-row offset in [-1.5, 1.5];
# 70% of the rows confident, one token 16 to 22 above the offset, the others at a fork, 2 to 5 tokens 12 to 18 above
# it.  A synthetic stand-in, no model's logits: it holds what the sampled bands find hard, which the other families
# lack.  Where the target is not the heaviest token, which the 2048 sampled columns then miss, PROBABILITY_MASS's band
# can miss; where a row's p-quantile lies near 0, TOKEN_FRACTION's band is narrowed to the sample's side of 0 and
# misses where the threshold lies on the other.  A row whose band missed takes the radix select.
MODEL_LIKE = "model-like rows"
# The check's limits: fp32 arithmetic (approximate exponentials included) against float64, with room to spare.
TOLERANCES = {"loss_rel": 1e-4, "entropy_abs": 1e-4, "clamped_entropy_abs": 1e-4, "dlogits_beyond_rounding": 1e-5}


def family_label(family):
    """What a table or a check adds to a mode's name for a row family other than the normal rows (None): MODEL_LIKE,
    or rows whose targets sit `family` above the bulk."""
    return "" if family is None else ", " + family if family == MODEL_LIKE else ", targets at +%g" % family


def check_key(n, v, dtype, clamp, mass, family=None, softcap=0.0):
    """A check's name in the tables and the JSON: its shape, dtype, mode, row family and softcap."""
    key = "%dx%d %s %s" % (n, v, dtype, "mass" if mass else ("clamped" if clamp else "entropy"))
    return key + family_label(family) + (", softcap %g" % softcap if softcap else "")


def make_inputs(n, v, dtype, seed=0, family=None):
    g = torch.Generator(device="cuda").manual_seed(seed)
    logits = torch.empty(n, v, dtype=dtype, device="cuda")
    # The fp32 noise a chunk of rows at a time: whole, at 32768 x 262144 it and its scaled copy would take 69 GB.
    chunk = max(1, (256 << 20) // (4 * v))
    for r in range(0, n, chunk):
        logits[r:r + chunk] = torch.randn(min(chunk, n - r), v, device="cuda", generator=g).mul_(2.5)
    if family == MODEL_LIKE:
        target, old_logp = shape_like_a_model(logits, g, chunk)
    else:
        target = torch.randint(0, v, (n,), device="cuda", generator=g)
        if family is not None:
            logits.scatter_(1, target[:, None], family)
        old_logp = -math.log(v) + 0.5 * torch.randn(n, device="cuda", generator=g)
    advantage = 0.4 * torch.randn(n, device="cuda", generator=g)
    weight = torch.full((n,), 1.0 / n, device="cuda")
    return logits, target, old_logp, advantage, weight


def shape_like_a_model(logits, g, chunk):
    """MODEL_LIKE rows from normal ones, in place: the offsets and heavy tokens, then each row's target drawn from
    its softmax at TAU and that target's log-prob (as float64, to one ulp of fp32), a chunk of rows at a time."""
    n, v = logits.shape
    uniform = lambda *shape: torch.rand(*shape, device=logits.device, generator=g)
    offset = uniform(n, 1).mul_(3.0).sub_(1.5)
    at_fork = uniform(n, 1) < 0.3
    heavy = torch.where(at_fork, torch.randint(2, 6, (n, 1), device=logits.device, generator=g), 1)
    height = torch.where(at_fork, 12.0, 16.0) + 6.0 * uniform(n, 5)
    columns = torch.randint(0, v, (n, 5), device=logits.device, generator=g)
    target = torch.empty(n, dtype=torch.int64, device=logits.device)
    old_logp = torch.empty(n, device=logits.device)
    for r in range(0, n, chunk):
        rows = slice(r, min(n, r + chunk))
        y = logits[rows].float().add_(offset[rows])
        # Slots past a row's count of heavy tokens write back what their column holds.
        kept = torch.arange(5, device=logits.device) < heavy[rows]
        y.scatter_(1, columns[rows], torch.where(kept, offset[rows] + height[rows], y.gather(1, columns[rows])))
        rounded = y.to(logits.dtype)  # the logits the kernel reads, whose softmax the targets are drawn from
        logits[rows] = rounded
        logp_all = torch.log_softmax(rounded.double() / TAU, -1)
        target[rows] = torch.multinomial(logp_all.exp(), 1, generator=g).squeeze(-1)
        old_logp[rows] = logp_all.gather(1, target[rows, None]).squeeze(-1).float()
    return target, old_logp


def torch_loss(logits, target, old_logp, advantage, weight, clamp, mass=False, p=P, softcap=0.0, ent=ENT):
    """The loss as verl / TRL write it (fp32 upcast), plus AEnt's clamped entropy (kthvalue for the threshold)."""
    z = logits if logits.dtype == torch.float64 else logits.float()
    y = (softcap * torch.tanh(z / softcap) if softcap > 0 else z) / TAU
    logp_all = torch.log_softmax(y, -1)
    logp = logp_all.gather(-1, target[:, None]).squeeze(-1)
    probs = logp_all.exp()
    entropy = -(probs * logp_all).sum(-1)
    ratio = torch.exp((logp - old_logp).clamp(-20, 20))
    pg = torch.maximum(-advantage * ratio, -advantage * ratio.clamp(1 - EPS_LOW, 1 + EPS_HIGH))
    loss = pg - ent * entropy
    if clamp:
        v = y.shape[-1]
        if mass:
            sorted_p, _ = torch.sort(probs.detach(), -1, descending=True)
            before = sorted_p.cumsum(-1) - sorted_p  # mass strictly above each token
            keep = (before < 1 - p).sum(-1, keepdim=True)  # the smallest prefix reaching 1 - p
            thr = torch.gather(torch.sort(y.detach(), -1, descending=True)[0], -1, keep - 1)
        else:
            k = max(1, v - int(math.floor(p * v)))
            thr = torch.kthvalue(y.detach(), v - k + 1, dim=-1, keepdim=True).values
        # Hc = lse_S - sum_S pt y, as H = lse - sum pi y: no 0 * -inf, whose gradient would be NaN.
        out = y < thr
        ys = y.masked_fill(out, float("-inf"))
        lse_s = torch.logsumexp(ys, -1, keepdim=True)
        pt = torch.exp(ys - lse_s)
        clamped = lse_s.squeeze(-1) - (pt * y.masked_fill(out, 0.0)).sum(-1)
        loss = loss - CLAMPED * clamped
    else:
        clamped = entropy
    return (weight * loss).sum(), entropy, clamped


def kernel_params(lib, clamp, mass=False, softcap=0.0):
    return lib.params(eps_low=EPS_LOW, eps_high=EPS_HIGH, entropy_coef=ENT, clamped_entropy_coef=CLAMPED if clamp else 0.0,
                      clamp_p=P if clamp else 0.0, temperature=TAU, softcap=softcap,
                      clamp_mode=PL_CLAMP_PROBABILITY_MASS if mass else PL_CLAMP_TOKEN_FRACTION)


def mode_params(lib, mode):
    """The kernel's parameters for a mode of MODES or SOFTCAP_MODE."""
    return kernel_params(lib, mode in MODES[1:], mode == MODES[2], SOFTCAP if mode == SOFTCAP_MODE else 0.0)


def reference(inputs, clamp, mass=False, softcap=0.0, ent=ENT):
    """float64 autograd of torch_loss on the inputs: the loss, the entropies and dL/dlogits."""
    logits, target, old_logp, advantage, weight = inputs
    ref_logits = logits.double().requires_grad_(True)
    loss, entropy, clamped = torch_loss(ref_logits, target, old_logp.double(), advantage.double(), weight.double(),
                                        clamp, mass, softcap=softcap, ent=ent)
    loss.backward()
    return loss.item(), entropy, clamped, ref_logits.grad


def errors_against(ref, weight, loss, dlogits, entropy=None, clamped_entropy=None):
    """The worst errors of a loss, its dlogits and (where given) its entropies against reference(), and whether each
    is within TOLERANCES."""
    ref_loss, ref_entropy, ref_clamped, g = ref
    # A row whose every ratio is clipped has no gradient without the entropy (the peer's check): 0 there stays 0.
    row_max = g.abs().amax(-1, keepdim=True).clamp(min=torch.finfo(torch.float64).tiny)
    # A correctly rounded dlogits is off by up to half its dtype's spacing (in the subnormals too); the check counts
    # what the kernel's fp32 arithmetic adds beyond that, relative to the row's largest gradient.  As in the C++
    # comparison (kernel_cases.cpp), 1e-6 of the row's gradient weight g w (grad_scale is 1) counts as rounding too: a
    # near-certain row's terms, of size g w, cancel to a gradient far below it (1e-8 where pi = 0.9998 in model-like
    # rows), which fp32's rounding of those terms then misses by up to a percent.
    fi = torch.finfo(dlogits.dtype)
    rounding = torch.clamp(g.abs() * fi.eps / 2, min=fi.tiny * fi.eps / 2) + 1e-6 * weight.double()[:, None]
    dlogits_err = (dlogits.double() - g).abs()
    errors = {"loss_rel": abs(loss - ref_loss) / max(abs(ref_loss), 1e-12)}
    if entropy is not None:
        errors["entropy_abs"] = (entropy.double() - ref_entropy).abs().max().item()
        errors["clamped_entropy_abs"] = (clamped_entropy.double() - ref_clamped).abs().max().item()
    # max() keeps a NaN, so an element left as the poison below fails its tolerance.
    errors["dlogits_rel_to_row_max"] = (dlogits_err / row_max).max().item()
    errors["dlogits_beyond_rounding"] = ((dlogits_err - rounding) / row_max).max().item()
    errors["passed"] = all(errors[k] <= tol for k, tol in TOLERANCES.items() if k in errors)
    return errors


def check(lib, n, v, dtype, clamp, mass, family=None, softcap=0.0):
    """Kernel against float64 autograd of torch_loss on the same inputs, every output poisoned (NaN) beforehand so
    that an element the kernel leaves unwritten fails: the worst errors, and whether each is within TOLERANCES."""
    inputs = make_inputs(n, v, dtype, seed=1, family=family)
    logits, target, old_logp, advantage, weight = inputs
    ref = reference(inputs, clamp, mass, softcap)
    dlogits = torch.full_like(logits, math.nan)
    metrics = torch.full((PL_METRICS_LEN,), math.nan, dtype=torch.float64, device="cuda")
    outs = {"entropy": torch.full((n,), math.nan, device="cuda"),
            "clamped_entropy": torch.full((n,), math.nan, device="cuda")}
    err = torch.full((3,), -2, dtype=torch.int64, device="cuda")  # the kernel writes row -1 where no row is bad
    lib.call(torch, kernel_params(lib, clamp, mass, softcap), logits, target, old_logp, advantage, weight, dlogits,
             metrics, err, outs)
    torch.cuda.synchronize()
    assert err[0].item() == -1, "data error at row %d" % err[0].item()
    return errors_against(ref, weight, metrics[0].item(), dlogits, outs["entropy"], outs["clamped_entropy"])


def time_ms(fn, reps, warmup=3, before=lambda: None):
    """Median GPU time of fn from CUDA events.  Before each run, untimed: `before` (an in-place call's logits
    restored), then a 1 GiB write that evicts L2 (the inputs start in HBM) and keeps the GPU busy while the host
    queues the start event, fn and the end event, so the interval holds the GPU's work alone: the host's (Python, the
    ctypes call) would otherwise count wherever it outlasts the GPU's."""
    flush = _flush_buffer()
    for _ in range(warmup):
        before()
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(reps):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        before()
        flush.zero_()
        start.record()
        fn()
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end))
    return statistics.median(times)


@functools.lru_cache(maxsize=None)
def _flush_buffer():
    return torch.empty(1 << 28, dtype=torch.int32, device="cuda")  # 1 GiB, made once


def extra_memory_gib(fn, inputs_and_outputs_bytes):
    """Peak memory of one call beyond what was allocated before it and beyond the call's own outputs."""
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    before = torch.cuda.memory_allocated()
    fn()
    torch.cuda.synchronize()
    return max(0, torch.cuda.max_memory_allocated() - before - inputs_and_outputs_bytes) / 2**30


def bench_kernel(lib, n, v, dtype, reps, modes, family=None):
    """The floor and the kernel (dlogits apart, and in place) at one shape: one row per mode."""
    logits, target, old_logp, advantage, weight = make_inputs(n, v, dtype, family=family)
    copy_dst = torch.empty_like(logits)
    floor = time_ms(lambda: copy_dst.copy_(logits), reps)
    del copy_dst
    rows = []
    metrics = torch.zeros(PL_METRICS_LEN, dtype=torch.float64, device="cuda")
    err = torch.zeros(3, dtype=torch.int64, device="cuda")
    for mode in modes:
        params = mode_params(lib, mode)
        dlogits = torch.empty_like(logits)
        t_sep = time_ms(lambda: lib.call(torch, params, logits, target, old_logp, advantage, weight, dlogits, metrics,
                                         err), reps)
        del dlogits
        # The first of two calls that GSPO, entropy masking and Clip-Cov make (README): logp and entropy, no gradient.
        first = {"logp": torch.empty(n, device="cuda"), "entropy": torch.empty(n, device="cuda")}
        t_first = time_ms(lambda: lib.call(torch, params, logits, target, old_logp, advantage, weight, None, metrics,
                                           err, outputs=first), reps)
        del first
        # In place, each run gets the logits afresh: the last run's gradient, a row of values near 0, would give the
        # clamped modes' radix select another distribution (most tokens in a few bins) than the logits'.
        work = logits.clone()
        t_inplace = time_ms(lambda: lib.call(torch, params, work, target, old_logp, advantage, weight, work, metrics,
                                             err), reps, before=lambda: work.copy_(logits))
        # The scratch of one call, from the pool's peak in use (torch's allocator does not see the pool).
        torch.cuda.synchronize()
        lib.scratch_peak_bytes(logits.device.index, reset=True)
        lib.call(torch, params, work, target, old_logp, advantage, weight, work, metrics, err)
        torch.cuda.synchronize()
        scratch = lib.scratch_peak_bytes(logits.device.index)
        del work
        rows.append({"n": n, "v": v, "dtype": str(dtype).replace("torch.", ""), "mode": mode, "family": family,
                     "floor_ms": floor, "kernel_ms": t_sep, "kernel_in_place_ms": t_inplace, "first_pass_ms": t_first,
                     "kernel_extra_bytes_per_row": scratch / n})
        print(json.dumps(rows[-1]), flush=True)
    return rows


def bench_torch(row, reps, save):
    """PyTorch eager and torch.compile on the inputs of a kernel row (regenerated from the same seed), into it."""
    logits, target, old_logp, advantage, weight = make_inputs(row["n"], row["v"], getattr(torch, row["dtype"]))
    clamp = row["mode"] != "entropy"

    def eager():
        x = logits.detach().requires_grad_(True)
        torch_loss(x, target, old_logp, advantage, weight, clamp)[0].backward()
    compiled_fn = torch.compile(lambda x: torch_loss(x, target, old_logp, advantage, weight, clamp)[0])

    def compiled():
        x = logits.detach().requires_grad_(True)
        compiled_fn(x).backward()
    io_bytes = logits.numel() * logits.element_size()  # the gradient, which the kernel writes too
    for name, fn in (("eager", eager), ("compile", compiled)):
        try:
            row[name + "_ms"] = time_ms(fn, max(3, reps // 4), warmup=2)
            row[name + "_extra_gib"] = extra_memory_gib(fn, io_bytes)
        except torch.cuda.OutOfMemoryError:
            row[name + "_ms"] = None
        torch.cuda.empty_cache()
        save()
    print(json.dumps(row), flush=True)


# Liger-Kernel's Triton GRPO loss, the peer: the clipped ratio loss and its gradient, no entropy, its
# forward reading the logits and its backward reading them again.  Timed where `liger_kernel` is importable: pip's
# liger-kernel, or its ops/grpo_loss.py alone (it needs only torch and Triton) under liger_kernel/ops/ with empty
# __init__.py files in a folder on PYTHONPATH (run_device.sh adds .device/peers).  Without it, no peer row.
LIGER_NAME = "Liger-Kernel GRPO loss"
LIGER = LIGER_NAME + " (no entropy)"
LIGER_SEQUENCES = 8


def liger_loss_function():
    """Liger's GrpoLossFunction, or None where Liger is not installed."""
    try:
        from liger_kernel.ops.grpo_loss import GrpoLossFunction
    except ImportError:
        return None
    return GrpoLossFunction


def as_sequences(inputs):
    """The inputs laid out as Liger takes them: LIGER_SEQUENCES sequences of n / LIGER_SEQUENCES tokens, logits of
    shape (sequences, tokens + 1, V) whose last position a sequence's loss skips (a model's output for a completion
    starts one token earlier), and one advantage per sequence, its first row's."""
    logits, target, old_logp, advantage, _ = inputs
    n, v = logits.shape
    length = n // LIGER_SEQUENCES
    laid = torch.empty(LIGER_SEQUENCES, length + 1, v, dtype=logits.dtype, device=logits.device)
    laid[:, :length] = logits.view(LIGER_SEQUENCES, length, v)
    laid[:, length] = logits.view(LIGER_SEQUENCES, length, v)[:, 0]  # any finite row: skipped
    per_sequence = lambda t: t.view(LIGER_SEQUENCES, length).contiguous()
    return laid, per_sequence(target), per_sequence(old_logp), per_sequence(advantage)[:, 0].contiguous()


def liger_call(fn, leaf, seqs, in_place):
    """Liger's loss forward and backward, as a trainer calls it: the gradient lands in leaf.grad (in place, in leaf's
    own storage).  Its "grpo" reduction, the mean over sequences of each one's token mean, is the kernel's weights
    1 / n where every sequence is whole."""
    _, target, old_logp, advantage = seqs
    loss = fn.apply(leaf, old_logp, None, target, advantage, None, TAU, 0.0, EPS_LOW, EPS_HIGH, in_place)[0]
    loss.backward()
    return loss


def liger_check(fn, n, v, dtype):
    """Liger against float64 autograd of the same loss without entropy, each sequence's rows taking its advantage:
    that its row times the loss the kernel's rows time, less the entropy."""
    inputs = make_inputs(n, v, dtype, seed=1)
    seqs = as_sequences(inputs)
    logits, target, old_logp, _, weight = inputs
    per_row = seqs[3].repeat_interleave(n // LIGER_SEQUENCES)
    ref = reference((logits, target, old_logp, per_row, weight), clamp=False, ent=0.0)
    leaf = seqs[0].requires_grad_(True)
    loss = liger_call(fn, leaf, seqs, in_place=False).item()
    return errors_against(ref, weight, loss, leaf.grad[:, :-1].reshape(n, v))


def bench_liger(fn, n, v, dtype, reps, floor_ms, peer_check):
    """Liger at the kernel's shape, on its normal rows (regenerated from the same seed): gradient apart and in place,
    and its extra memory in place (torch's allocator), as a row of the kernel's table."""
    seqs = as_sequences(make_inputs(n, v, dtype))
    laid = seqs[0]
    apart = laid.detach().requires_grad_(True)  # Liger reads it and leaves it as it was
    t_sep = time_ms(lambda: liger_call(fn, apart, seqs, False), reps, before=lambda: setattr(apart, "grad", None))
    del apart
    work = laid.clone().requires_grad_(True)

    def restore():  # each run gets the logits afresh, as the kernel's in-place runs do
        work.grad = None
        with torch.no_grad():
            work.copy_(laid)
    t_inplace = time_ms(lambda: liger_call(fn, work, seqs, True), reps, before=restore)
    restore()
    extra = extra_memory_gib(lambda: liger_call(fn, work, seqs, True), 0) * 2**30
    row = {"n": n, "v": v, "dtype": str(dtype).replace("torch.", ""), "mode": LIGER, "family": None,
           "floor_ms": floor_ms, "kernel_ms": t_sep, "kernel_in_place_ms": t_inplace,
           "kernel_extra_bytes_per_row": extra / n, "check": peer_check}
    print(json.dumps(row), flush=True)
    return row


def peer_ratio(rows):
    """The line that sets the kernel's entropy mode beside Liger at the same shape, where the table has both."""
    peer = next((r for r in rows if r["mode"] == LIGER), None)
    shape = lambda r: (r["n"], r["v"], r["dtype"])
    kernel = peer and next((k for k in rows if k["mode"] == "entropy" and k.get("family") is None
                            and shape(k) == shape(peer)), None)
    if not kernel:
        return None
    verdict = "passed" if peer["check"]["passed"] else "FAILED: %s" % peer["check"]
    return ("At %d x %d %s the kernel's entropy mode takes %.2fx the time of %s with dlogits apart and %.2fx in place "
            "(%s: its check against float64 autograd %s)." % (
                *shape(peer), kernel["kernel_ms"] / peer["kernel_ms"], LIGER,
                kernel["kernel_in_place_ms"] / peer["kernel_in_place_ms"], LIGER_NAME, verdict))


def table(rows, device, checks):
    """The markdown table; checks is None for the sweep, whose process checks nothing (the headline part does)."""
    if checks is None:
        verdict = "in bench_loss.md (the headline part)"
    else:
        failed = [k for k, c in checks.items() if not c["passed"]]
        verdict = "FAILED for " + ", ".join(failed) if failed else "passed (%d cases)" % len(checks)
    out = ["Device: %s. Times are medians of CUDA-event timings, forward + backward; floor = device-to-device copy of "
           "the logits (read once, write once) measured in the same run. Check against float64 autograd: %s." % (
               device, verdict), "",
           "| N | V | dtype | mode | floor ms | kernel ms | x floor | in place ms | x floor | no-gradient ms | "
           "eager ms | speedup | compile ms | speedup | eager extra GiB | compile extra GiB | kernel extra B/row |",
           "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    f = lambda x: "-" if x is None else ("%.3g" % x)
    for r in rows:
        k = r["kernel_ms"]
        out.append("| %d | %d | %s | %s | %s | %s | %.2f | %s | %.2f | %s | %s | %s | %s | %s | %s | %s | %s |" % (
            r["n"], r["v"], r["dtype"], r["mode"] + family_label(r.get("family")),
            f(r["floor_ms"]), f(k), k / r["floor_ms"],
            f(r["kernel_in_place_ms"]), r["kernel_in_place_ms"] / r["floor_ms"], f(r.get("first_pass_ms")),
            f(r.get("eager_ms")),
            f(r["eager_ms"] / k) if r.get("eager_ms") else "-", f(r.get("compile_ms")),
            f(r["compile_ms"] / k) if r.get("compile_ms") else "-", f(r.get("eager_extra_gib")),
            f(r.get("compile_extra_gib")), f(r["kernel_extra_bytes_per_row"])))
    ratio = peer_ratio(rows)
    if ratio:
        out += ["", ratio + " Its row gives its times and extra memory in the kernel's columns."]
    return "\n".join(out)


def headline(lib, device, args):
    """The check, then the kernel at the headline shape and PyTorch there (minutes, torch.compile's compilation
    included). Results are written after each step, so a run cut short keeps what it measured. Returns whether the
    check passed."""
    checks = {}
    for n, v, dtype, clamp, mass, family, softcap in [(64, 151936, torch.bfloat16, True, False, None, 0.0),
                                                      (64, 151936, torch.bfloat16, False, False, None, 0.0),
                                                      (64, 151936, torch.bfloat16, True, False, None, SOFTCAP),
                                                      (64, 32000, torch.float32, True, True, None, 0.0),
                                                      (64, 32000, torch.float16, True, False, None, 0.0),
                                                      (64, 151936, torch.bfloat16, True, True, CHECK_PEAK, 0.0),
                                                      (64, 151936, torch.bfloat16, True, False, MODEL_LIKE, 0.0),
                                                      (64, 151936, torch.bfloat16, True, True, MODEL_LIKE, 0.0)]:
        key = check_key(n, v, dtype, clamp, mass, family, softcap)
        checks[key] = check(lib, n, v, dtype, clamp, mass, family, softcap)
        print("check", key, checks[key], flush=True)
    rows = bench_kernel(lib, 8192, 151936, torch.bfloat16, args.reps, MODES + [SOFTCAP_MODE])
    liger = liger_loss_function()
    if liger is None:
        print("no peer row: Liger-Kernel is not importable (liger_kernel.ops.grpo_loss)", flush=True)
    else:
        try:  # the peer's code, not ours: a failure of it leaves the kernel's rows as they are
            peer_check = liger_check(liger, 64, 151936, torch.bfloat16)
            print("check", LIGER, peer_check, flush=True)
            rows.append(bench_liger(liger, 8192, 151936, torch.bfloat16, args.reps, rows[0]["floor_ms"], peer_check))
        except Exception as e:  # noqa: BLE001
            print("no peer row: %s failed: %r" % (LIGER, e), flush=True)
        torch.cuda.empty_cache()
    rows += bench_kernel(lib, 8192, 151936, torch.bfloat16, args.reps, MODES[1:], family=PEAK)
    rows += bench_kernel(lib, 8192, 151936, torch.bfloat16, args.reps, MODES, family=MODEL_LIKE)
    save = lambda: write_results(args.out, "bench_loss", device, lib, checks, rows)
    save()
    for row in rows[:2]:  # PyTorch's entropy and token-fraction clamped entropy, on the normal rows
        bench_torch(row, args.reps, save)
    print("\n" + table(rows, device, checks))
    return all(c["passed"] for c in checks.values())


def sweep(lib, device, args, started):
    """The kernel and the floor at the issue's other shapes (seconds each), while the budget lasts."""
    shapes = [(8192, 151936, torch.float32, MODES[:2]), (8192, 151936, torch.float16, MODES[:2])]
    shapes += [(n, v, torch.bfloat16, MODES[:2]) for v in (32000, 128256, 151936, 262144)
               for n in (1024, 8192, 32768) if (n, v) != (8192, 151936)]
    rows = []
    for k, (n, v, dtype, shape_modes) in enumerate(shapes):
        if args.budget_s and time.monotonic() - started > args.budget_s:
            print("budget of %d s spent: %d of %d shapes left out" % (args.budget_s, len(shapes) - k, len(shapes)),
                  flush=True)
            break
        rows += bench_kernel(lib, n, v, dtype, args.reps, shape_modes)
        torch.cuda.empty_cache()
        write_results(args.out, "bench_sweep", device, lib, None, rows)
    print("\n" + table(rows, device, None))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--lib", required=True)
    ap.add_argument("--out", default=".")
    ap.add_argument("--part", choices=["headline", "sweep", "all"], default="all")
    ap.add_argument("--reps", type=int, default=20)
    ap.add_argument("--budget-s", type=int, default=0, help="start no sweep shape after this many seconds (0: no limit)")
    args = ap.parse_args()
    started = time.monotonic()
    lib = Library(args.lib)
    device = torch.cuda.get_device_name()
    print(lib.build_info(), "|", device, "| torch", torch.__version__, flush=True)
    passed = headline(lib, device, args) if args.part != "sweep" else True
    if args.part != "headline":
        sweep(lib, device, args, started)
    if not passed:
        sys.exit("the kernel disagrees with float64 autograd beyond TOLERANCES: see the checks above")


def write_results(out, name, device, lib, checks, rows):
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, name + ".json"), "w") as fh:
        json.dump({"device": device, "build": lib.build_info(), "torch": torch.__version__, "checks": checks,
                   "rows": rows}, fh, indent=1)
    with open(os.path.join(out, name + ".md"), "w") as fh:
        fh.write(table(rows, device, checks) + "\n")


if __name__ == "__main__":
    main()
