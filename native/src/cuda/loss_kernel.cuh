// The kernel of a device call, one launch for the whole call: every block computes its rows (row_kernel.cuh);
// then, in a cooperative launch, the grid waits at a grid-wide barrier and block 0 turns the row records into the
// metric sums and the data check (metrics_kernel.cuh).  A launch costs the host a microsecond or more, and the
// asynchronous call's budget is 2 us, so the sums ride in this launch rather than in a second kernel; a launch that
// cannot be cooperative (fused_loss.cu says when) passes metrics_here = false and queues reduce_rows after.
#pragma once
#ifdef __CUDACC__
#include <cooperative_groups.h>
#endif

#include "metrics_kernel.cuh"
#include "row_kernel.cuh"

namespace pl::cuda {

// The blocks use their shared memory for rows, then, past the barrier, block 0 for the sums.
union LossSmem {
    RowSmem rows;
    MetricsSmem metrics;
};

// Threads per SM that the 16-byte-pack instances are held to: 1024, two blocks, so 64 registers a thread.  One block
// with up to 128 registers kept a warp's loads waiting with only 15 other warps to issue meanwhile (an H200 spent most
// cycles on them: 25% occupancy, 48% of cycles issuing).  At 8192 x 151,936 bf16 two blocks took the entropy mode from
// 2.9 to 2.5 ms (2.0 ms with the instances without the clamp's and the softcap's code) and the clamped modes from
// 5.1-5.7 to 3.9-4.0 ms (benchmarks/RESULTS.md: GPU, measured on an H200).  The scalar instances are held to 1024 too.
#ifndef PL_ROW_SM_THREADS
#define PL_ROW_SM_THREADS 1024
#endif
constexpr int kVecBlocksPerSm = PL_ROW_SM_THREADS / kThreads > 1 ? PL_ROW_SM_THREADS / kThreads : 1;
constexpr int kScalarBlocksPerSm = 1024 / kThreads > 1 ? 1024 / kThreads : 1;

// Walk: how the rows' memory is walked (row_access.cuh's RowWalk), the build's unless the emulated test asks for
// another, whose results are the same bits.
template <int DT, int DDT, bool VEC, int CODE, class Walk = BuildWalk>
__global__ void __launch_bounds__(kThreads, VEC ? kVecBlocksPerSm : kScalarBlocksPerSm)
    fused_loss(const pl_loss_params p, const KernelArgs a, const MetricsArgs m, bool metrics_here) {
    PL_BLOCK_SHARED(LossSmem, s);
    fused_loss_rows<DT, DDT, VEC, CODE, Walk>(p, a, s.rows);
    if (!metrics_here) return;
    cooperative_groups::this_grid().sync();  // every block's records written and visible to block 0
    if (blockIdx.x == 0) metric_sums(m, s.metrics);
}

}  // namespace pl::cuda
