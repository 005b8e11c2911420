"""How often an fp32 row's TOKEN_FRACTION band (native/src/cuda/sampled_band.cuh's prefix_band) is taken and holds
the threshold, on rows of normal logits: the kernel's rule on the same sample of 2048 columns j V / 2048, in numpy,
without a GPU.  Each row is read three times where its band holds the threshold (pass 1, the radix select's last
level, the gradient), five where it misses (its first level and second counted by passes of their own), and four
without a band, as every fp32 row was before; the table gives the reads a row on average.

    python3 benchmarks/gpu/fp32_band_model.py [--rows 200] [--vocab 151936]
"""
import argparse
import math

import numpy as np

SAMPLE = 2048  # kSample
BINS = 4096  # kBandBins<PL_F32>: the band's prefixes
REACH_MOST = 3 * BINS  # kPrefixReachMost


def order_key(x):
    """order_key.hpp's key of float32 values (-0 as +0), as uint64."""
    u = (x.astype(np.float32) + np.float32(0.0)).view(np.uint32).astype(np.uint64)
    return np.where(u >> 31 == 1, ~u & 0xFFFFFFFF, u | 0x80000000)


def band(sample_keys, p):
    """prefix_band's band [lo, hi] of 22-bit prefixes, or None (sample_band's rank width; band_around's centring)."""
    s = np.sort(sample_keys)[::-1]
    sf, q = len(s), 1.0 - p
    r = q * sf
    width = 3.0 * math.sqrt(sf * q * (1.0 - q)) + 4.0
    hi_rank, lo_rank = math.floor(r - width), math.ceil(r + width)
    if hi_rank < 0 or lo_rank >= sf:
        return None
    top, at, bottom = (int(s[k]) >> 10 for k in (hi_rank, math.floor(r), lo_rank))
    if top - bottom >= REACH_MOST:
        return None
    hi = min(at + BINS // 2 - 1, top)
    lo = hi - (BINS - 1) if hi - bottom >= BINS else bottom
    return lo, (lo + BINS - 1 if top - lo >= BINS else top)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=200)
    ap.add_argument("--vocab", type=int, default=151936)
    args = ap.parse_args()
    v = args.vocab
    columns = np.arange(SAMPLE, dtype=np.int64) * v // SAMPLE
    print("| logits | p | band held it | band missed | no band | reads a row |")
    print("| --- | --- | --- | --- | --- | --- |")
    for sigma, mean, p in [(2.5, 0.0, 0.33), (1.0, 0.0, 0.33), (3.0, -5.0, 0.33), (2.5, 0.0, 0.2), (2.5, 0.0, 0.5)]:
        rng = np.random.default_rng(1)
        kept = v - math.floor(p * v)  # SPEC section 2's k
        held = missed = none = 0
        for _ in range(args.rows):
            keys = order_key(rng.standard_normal(v) * sigma + mean)
            b = band(keys[columns], p)
            if b is None:
                none += 1
                continue
            prefixes = keys >> 10
            above = int((prefixes > b[1]).sum())
            inside = int(((prefixes >= b[0]) & (prefixes <= b[1])).sum())
            if above < kept <= above + inside:
                held += 1
            else:
                missed += 1
        reads = (3 * held + 5 * missed + 4 * none) / args.rows
        print("| N(%g, %g^2) | %g | %d | %d | %d | %.2f |" % (mean, sigma, p, held, missed, none, reads))


if __name__ == "__main__":
    main()
