package io.policyloss.loss;

import io.policyloss.nativeapi.PolicyLossNative;

/** Element types of logits and dlogits. bf16 and fp16 travel as their raw 16 bits (Java {@code short}). */
public enum Dtype {
    F32(PolicyLossNative.PL_F32, 4),
    BF16(PolicyLossNative.PL_BF16, 2),
    F16(PolicyLossNative.PL_F16, 2);

    private final int code;
    private final int bytes;

    Dtype(int code, int bytes) {
        this.code = code;
        this.bytes = bytes;
    }

    /** The pl_dtype value of the C ABI. */
    public int code() {
        return code;
    }

    /** Bytes per element. */
    public int bytes() {
        return bytes;
    }
}
