"""bench_loss.py without a GPU, to check the harness before a device call spends minutes on it: torch's CPU build,
torch.cuda's calls replaced by host stand-ins (events read a host clock), the policyloss CPU kernel through the same
ctypes call on host tensors, and every shape's rows divided by ROWS_DIVISOR.  The times mean nothing; the checks
against float64 autograd, the calls, the parts and the tables are bench_loss.py's own.

    python3 benchmarks/gpu/dry_run_cpu.py --lib target/native/libpolicyloss.so --out /tmp/dry --part headline --reps 3

Run it with a CPU torch in a virtual environment (`python3 -m venv /tmp/tv && /tmp/tv/bin/pip install torch numpy`:
torch 2.13.0+cpu from this machine's wheels ran it on 2026-12-04), not with Debian's python3-torch: installed
system-wide, that package's libtorch 1.13 made the JVM crash loading the PyTorch presets (SIGSEGV in
pthread_mutex_lock, the first test to load them) until it was purged.  The peer, Liger-Kernel's
Triton GRPO loss, runs too where it is importable and Triton can run on the CPU: with torch 2.x and Triton 3.x
installed, `TRITON_INTERPRET=1 PYTHONPATH=.device/peers` before the command (run_device.sh's PYTHONPATH).
"""
import functools
import os
import sys
import time
import types

import torch

ROWS_DIVISOR = int(os.environ.get("ROWS_DIVISOR", "64"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def on_host(make):
    @functools.wraps(make)
    def made(*args, **kwargs):
        if kwargs.get("device") == "cuda":
            kwargs["device"] = "cpu"
        return make(*args, **kwargs)
    return made


for name in ("empty", "randn", "randint", "rand", "full", "zeros"):
    setattr(torch, name, on_host(getattr(torch, name)))


class HostGenerator(torch.Generator):
    """A class still, not a function: torch 2's own modules write `torch.Generator | None` in annotations."""
    def __new__(cls, device="cpu"):
        return super().__new__(cls, device="cpu")

    def __init__(self, device="cpu"):
        pass


torch.Generator = HostGenerator


class HostEvent:
    def __init__(self, enable_timing=False):
        self.t = None

    def record(self):
        self.t = time.perf_counter()

    def synchronize(self):
        pass

    def elapsed_time(self, end):
        return (end.t - self.t) * 1e3


torch.cuda.Event = HostEvent
torch.cuda.synchronize = lambda: None
torch.cuda.get_device_name = lambda: "CPU (dry run: times mean nothing)"
torch.cuda.empty_cache = lambda: None
torch.cuda.reset_peak_memory_stats = lambda: None
torch.cuda.memory_allocated = lambda: 0
torch.cuda.max_memory_allocated = lambda: 0
torch.cuda.current_stream = lambda: types.SimpleNamespace(cuda_stream=0)
if not hasattr(torch, "compile"):
    torch.compile = lambda fn: fn
if not hasattr(torch.cuda, "OutOfMemoryError"):
    torch.cuda.OutOfMemoryError = MemoryError

import policyloss_ctypes  # noqa: E402


class HostArgs(policyloss_ctypes.Args):
    """A host tensor's device index is None; the C ABI's host device is -1."""
    def __setattr__(self, field, value):
        super().__setattr__(field, -1 if field == "device" and value is None else value)


policyloss_ctypes.Args = HostArgs
policyloss_ctypes.Library.scratch_peak_bytes = lambda self, device, reset=False: 0  # host calls take no scratch

import bench_loss  # noqa: E402

bench_loss._flush_buffer = functools.lru_cache(maxsize=None)(lambda: torch.empty(1 << 16, dtype=torch.int32))
bench_kernel = bench_loss.bench_kernel
LIGER_SEQUENCES = bench_loss.LIGER_SEQUENCES


def fewer_rows(lib, n, v, dtype, reps, modes, **kwargs):
    return bench_kernel(lib, max(1, n // ROWS_DIVISOR), v, dtype, reps, modes, **kwargs)


bench_loss.bench_kernel = fewer_rows
bench_liger, liger_check = bench_loss.bench_liger, bench_loss.liger_check
# Triton's interpreter (TRITON_INTERPRET=1, which runs Liger's kernels here) rounds fp32 to bf16 toward zero, where
# the GPU rounds to nearest: half the gradient's elements then miss the check's rounding allowance, so here the peer
# is checked on fp32 logits, and the check of its bf16 rounding is left to the GPU.
bench_loss.liger_check = lambda fn, n, v, dtype: liger_check(fn, n, v, torch.float32)
bench_loss.bench_liger = lambda fn, n, *args: bench_liger(fn, max(LIGER_SEQUENCES, n // ROWS_DIVISOR), *args)
if __name__ == "__main__":
    sys.argv[0] = "bench_loss.py"
    bench_loss.main()
