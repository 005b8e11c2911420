"""The C ABI of native/include/policyloss.h through ctypes, for the GPU harness: structs field for field, and one
call on torch tensors (device pointers, torch's current stream)."""
import ctypes as C

PL_F32, PL_BF16, PL_F16, PL_I32, PL_I64 = 0, 1, 2, 3, 4
PL_CLAMP_TOKEN_FRACTION, PL_CLAMP_PROBABILITY_MASS = 0, 1
PL_METRICS_LEN = 12
METRIC_NAMES = ["loss", "valid_rows", "entropy", "clamped_entropy", "clip_low", "clip_high", "dual_clip",
                "ratio_clamped", "ratio", "approx_kl", "kl", "weight"]


class Params(C.Structure):
    _fields_ = [("size", C.c_uint32), ("eps_low", C.c_float), ("eps_high", C.c_float), ("dual_clip_c", C.c_float),
                ("kl_coef", C.c_float), ("kl_estimator", C.c_int32), ("entropy_coef", C.c_float),
                ("clamped_entropy_coef", C.c_float), ("clamp_p", C.c_float), ("clamp_mode", C.c_int32),
                ("entropy_adv_beta", C.c_float), ("entropy_adv_kappa", C.c_float), ("grad_scale", C.c_float),
                ("logit_scale", C.c_float), ("softcap", C.c_float), ("temperature", C.c_float),
                ("num_threads", C.c_int32), ("kl_bias_correction", C.c_int32)]


class DataError(C.Structure):
    _fields_ = [("row", C.c_int64), ("reason", C.c_int32), ("reserved", C.c_int32), ("detail", C.c_int64)]


class Args(C.Structure):
    _fields_ = [("size", C.c_uint32), ("n_rows", C.c_int64), ("vocab", C.c_int64), ("ld", C.c_int64),
                ("logits_dtype", C.c_int32), ("logits", C.c_void_p), ("target_dtype", C.c_int32),
                ("target", C.c_void_p), ("old_logp", C.c_void_p), ("ref_logp", C.c_void_p),
                ("advantage", C.c_void_p), ("weight", C.c_void_p), ("temperature", C.c_void_p),
                ("dlogits", C.c_void_p), ("dlogits_dtype", C.c_int32), ("ld_dlogits", C.c_int64),
                ("out_logp", C.c_void_p), ("out_entropy", C.c_void_p), ("out_clamped_entropy", C.c_void_p),
                ("out_ratio", C.c_void_p), ("out_loss", C.c_void_p), ("out_kl", C.c_void_p),
                ("out_flags", C.c_void_p), ("metrics", C.c_void_p), ("device", C.c_int32), ("stream", C.c_void_p),
                ("data_error", C.POINTER(DataError))]


class Library:
    def __init__(self, path):
        self.lib = C.CDLL(path)
        self.lib.pl_fused_loss.argtypes = [C.POINTER(Params), C.POINTER(Args)]
        # The sized initializers (ABI 6): they fill these structs as declared here and no further.
        self.lib.pl_loss_params_init_sized.argtypes = [C.POINTER(Params), C.c_uint32]
        self.lib.pl_loss_args_init_sized.argtypes = [C.POINTER(Args), C.c_uint32]
        self.lib.pl_last_error.restype = C.c_char_p
        self.lib.pl_build_info.restype = C.c_char_p
        self.lib.pl_data_error_status.argtypes = [C.POINTER(DataError), C.c_int64]
        self.lib.pl_device_scratch.argtypes = [C.c_int32, C.c_int32, C.POINTER(C.c_uint64), C.POINTER(C.c_uint64)]

    def build_info(self):
        return self.lib.pl_build_info().decode()

    def scratch_peak_bytes(self, device, reset=False):
        """The most device scratch the calls on `device` held at once since the last reset; reset: restart it."""
        peak = C.c_uint64(0)
        status = self.lib.pl_device_scratch(device, int(reset), None, C.byref(peak))
        if status != 0:
            raise RuntimeError("pl_device_scratch: status %d: %s" % (status, self.lib.pl_last_error().decode()))
        return peak.value

    def params(self, **fields):
        p = Params()
        self.lib.pl_loss_params_init_sized(C.byref(p), C.sizeof(Params))
        for k, v in fields.items():
            setattr(p, k, v)
        return p

    def call(self, torch, params, logits, target, old_logp, advantage, weight, dlogits=None, metrics=None,
             data_error=None, outputs=None):
        """Queues the kernel on torch's current stream; asynchronous when data_error (a device tensor of 24 bytes)
        is given.  outputs: optional dict of per-row float tensors (logp, entropy, clamped_entropy, ...)."""
        dtypes = {torch.float32: PL_F32, torch.bfloat16: PL_BF16, torch.float16: PL_F16}
        a = Args()
        self.lib.pl_loss_args_init_sized(C.byref(a), C.sizeof(Args))
        a.n_rows, a.vocab = logits.shape
        a.ld = logits.stride(0)
        a.logits_dtype = dtypes[logits.dtype]
        a.logits = logits.data_ptr()
        a.target_dtype = PL_I64 if target.dtype == torch.int64 else PL_I32
        a.target = target.data_ptr()
        a.old_logp, a.advantage, a.weight = old_logp.data_ptr(), advantage.data_ptr(), weight.data_ptr()
        if dlogits is not None:
            a.dlogits = dlogits.data_ptr()
            a.dlogits_dtype = dtypes[dlogits.dtype]
            a.ld_dlogits = dlogits.stride(0)
        for name, t in (outputs or {}).items():
            setattr(a, "out_" + name, t.data_ptr())
        if metrics is not None:
            a.metrics = metrics.data_ptr()
        a.device = logits.device.index
        a.stream = torch.cuda.current_stream().cuda_stream
        if data_error is not None:
            a.data_error = C.cast(C.c_void_p(data_error.data_ptr()), C.POINTER(DataError))
        status = self.lib.pl_fused_loss(C.byref(params), C.byref(a))
        if status != 0:
            raise RuntimeError("pl_fused_loss: status %d: %s" % (status, self.lib.pl_last_error().decode()))
