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

// Blocks per SM: one for 16-byte packs, whose two groups of loads in flight (for_each_pack) take up to the 128
// registers a thread that allows; two for scalar loads, held to 64 registers, since a scalar load brings 2 or 4
// bytes where a pack brings 16 and a second block doubles the bytes in flight.
template <int DT, int DDT, bool VEC>
__global__ void __launch_bounds__(kThreads, VEC ? 1 : 2)
    fused_loss(const pl_loss_params p, const KernelArgs a, const MetricsArgs m, bool metrics_here) {
    PL_BLOCK_SHARED(LossSmem, s);
    fused_loss_rows<DT, DDT, VEC>(p, a, s.rows);
    if (!metrics_here) return;
    cooperative_groups::this_grid().sync();  // every block's records written and visible to block 0
    if (blockIdx.x == 0) metric_sums(m, s.metrics);
}

}  // namespace pl::cuda
