// The CUDA kernels' device code, run on the host: what lets a machine without a GPU (CI, this project's
// development VMs) execute the very source that nvcc compiles for the GPU, compiled instead by the host compiler.
//
// Every CUDA thread of a block is a fiber, run one at a time on the calling thread.  __syncthreads is a barrier of
// the block, a warp shuffle a barrier of the warp's 32 lanes with an exchange of values.  Blocks run one after
// another, so the blocks share one object of shared memory per type (PL_BLOCK_SHARED), on the heap, which the
// scheduler fills with random bytes whenever a block starts: a kernel that reads shared memory before writing it
// gets garbage, as on the GPU, where a block finds what the previous block on its SM left.  (The blocks of a
// cluster, which run together and read each other's, have a copy each: launch_cluster.)  The barriers are strict:
// threads that wait at a barrier for threads that returned, or at barriers that can never all be reached, end
// the process with a message, as the GPU's undefined behaviour that they stand for would not.
//
// Between two barriers the threads run one after another, in the order of the schedule: forward, reverse or
// shuffled.  A __syncthreads missing between one thread's write of shared memory and another's read makes the
// result depend on that order, so a test that finds the same bits under every schedule has shown that no such
// race changed its results.  Built with PL_EMU_RACECHECK, the kernels compiled under ThreadSanitizer (CTest's
// cuda_racecheck), the emulator asks compute-sanitizer racecheck's question directly.  Every fiber is a
// ThreadSanitizer fiber, and the emulator orders for it only what CUDA orders: a __syncthreads orders what the block's
// threads did before it before what they do after it, the grid barrier does the same for the grid, and a launch's
// end orders the launch before what the host does next.  A warp shuffle orders nothing (on the GPU it orders no
// memory), and atomicAdd is a relaxed atomic.  So ThreadSanitizer reports two accesses of the same global or shared
// memory, one of them a write, that two threads of a block, or two blocks of a launch, make between the same two
// barriers, whichever order the schedule ran them in.  (The blocks of a plain launch take turns at four sets of
// fibers, so the check sees each block as following the one four before it.)  A cooperative launch runs the blocks
// in rounds between grid barriers (launch_cooperative).  Built with
// AddressSanitizer, an access past a buffer or past a block's shared memory fails (memcheck's question).  The
// special function unit's instructions (ex2.approx, lg2.approx, and rcp.approx behind __fdividef) give results
// within NVIDIA's documented bounds and flush as .ftz does (special_functions.hpp), not the GPU's own bits.  What the
// emulation cannot show: the GPU's speed, and which products nvcc contracts into FMAs (the FMA build of the test,
// cuda_emulated_fma, contracts those g++ chooses).
#pragma once

// Before the CUDA headers, which keep these when defined: device and global functions become host functions.
#define __host__
#define __device__
#define __global__
#define __shared__ static_assert(false, "declare a block's shared memory with PL_BLOCK_SHARED (block_reduce.cuh)");
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <vector_types.h>
#undef __launch_bounds__
#define __launch_bounds__(...)

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <new>
#include <type_traits>

#include "special_functions.hpp"

namespace emu {

struct Index {
    unsigned x = 0, y = 0, z = 0;
};

// The order in which the threads of a block run between two barriers; `seed` also seeds the garbage (add_shared).
enum class Schedule { Forward, Reverse, Shuffled };
void set_schedule(Schedule schedule, unsigned seed = 1);

// An object of shared memory, `bytes` aligned to `align`: one copy per rank of a cluster (a block that is not in a
// cluster is rank 0), made when a block of that rank first asks for it.  A copy is filled with random bytes when
// made, and whenever a block of its rank starts or, in a cooperative launch, resumes from the grid barrier (on the
// GPU a block keeps its shared memory across that barrier; here the blocks share it, so a kernel must write it
// again after the barrier before reading it).  The blocks of a cluster run together (launch_cluster) and keep their
// copies across the cluster's barriers, as on the GPU.
struct SharedObject;
SharedObject *shared_object(size_t bytes, size_t align);
void *shared_copy(SharedObject *object);  // the running block's

// The shared memory of type T, one object for every kernel, one copy per cluster rank.
template <typename T>
T &block_shared() {
    static_assert(std::is_trivially_default_constructible_v<T>, "shared memory starts as garbage");
    static SharedObject *const object = shared_object(sizeof(T), alignof(T));
    return *static_cast<T *>(shared_copy(object));
}

// The running block's dynamic shared memory: the launch's bytes (launch_cluster), garbage as above.
void *dynamic_shared();

// Runs `block_body` as a grid of `grid` blocks of `threads` threads (a multiple of 32), block after block.
void launch_blocks(unsigned grid, unsigned threads, const std::function<void()> &block_body);

// `kernel<<<grid, threads>>>(args...)`.
template <typename... P, typename... A>
void launch(unsigned grid, unsigned threads, void (*kernel)(P...), A &&...args) {
    launch_blocks(grid, threads, [&] { kernel(args...); });
}

// A cooperative launch (cudaLaunchAttributeCooperative), the only kind whose threads may wait at the grid barrier
// (cooperative_groups::this_grid().sync()).  Each block gets fibers of its own; the blocks still run one after
// another, each until its threads have returned or wait at the barrier, so shared memory, which every block shares
// here, does not keep a block's values across the barrier as it would on the GPU.
void launch_cooperative_blocks(unsigned grid, unsigned threads, const std::function<void()> &block_body);

template <typename... P, typename... A>
void launch_cooperative(unsigned grid, unsigned threads, void (*kernel)(P...), A &&...args) {
    launch_cooperative_blocks(grid, threads, [&] { kernel(args...); });
}

// The calling thread waits until every thread of the grid waits here.
void grid_barrier();

// A launch in clusters of `cluster` blocks (cudaLaunchAttributeClusterDimension), `dynamic_bytes` of dynamic shared
// memory a block.  A cluster's blocks get fibers of their own and run one after another, each until its threads
// have returned or wait at the cluster's barrier, which releases them once every thread of the cluster waits there;
// the clusters run one after another.  A block reads another's shared memory of its cluster through
// map_shared_rank.
void launch_cluster_blocks(unsigned grid, unsigned threads, unsigned cluster, size_t dynamic_bytes,
                           const std::function<void()> &block_body);

template <typename... P, typename... A>
void launch_cluster(unsigned grid, unsigned threads, unsigned cluster, size_t dynamic_bytes, void (*kernel)(P...),
                    A &&...args) {
    launch_cluster_blocks(grid, threads, cluster, dynamic_bytes, [&] { kernel(args...); });
}

void cluster_barrier();
unsigned cluster_rank();    // the running block's rank in its cluster; 0 outside a cluster launch
unsigned cluster_blocks();  // blocks a cluster; 1 outside a cluster launch
// `ptr`, in the running block's shared memory, as the same place in the copy of cluster rank `rank`.
void *map_shared_rank(const void *ptr, unsigned rank);

// cp.async (cuda_pipeline_primitives.h): a copy from global to shared memory issued by the calling thread, which
// lands only when the thread waits for its group, so that a read before the wait finds what was there before.
void copy_async(void *shared, const void *global, size_t bytes);
void commit_copies();
void wait_copies_but(size_t groups);  // every group but the last `groups` committed has landed

// prefetch.global.L2: no cache here, so nothing is fetched; a test that asks where the kernels' prefetches go is
// shown each address, by the running thread (blockIdx and threadIdx say whose), where it set an observer (none by
// default; an empty function takes it away).  The race check records none of it: a prefetch reads no memory.
void prefetch_l2(const void *address);
void set_prefetch_observer(std::function<void(const void *address)> observer);

// createpolicy.fractional (sm_80 and later): an L2 eviction policy, the primary priority for `fraction` of the lines
// that accesses with it touch and the secondary for the rest, as 64 bits that only policy_of reads back.  A load with
// .L2::cache_hint and that policy loads as any other (no cache here), and shows the address and the policy to the
// observer, where a test set one (none by default), as prefetch_l2 does.
enum class L2Priority : uint8_t { evict_normal, evict_first, evict_last, evict_unchanged };
struct L2Policy {
    L2Priority primary, secondary;
    float fraction;
};
uint64_t create_policy(L2Policy policy);
L2Policy policy_of(uint64_t bits);
void cache_hint(const void *address, uint64_t policy);
void set_cache_hint_observer(std::function<void(const void *address, uint64_t policy)> observer);

// The warp's exchange: every lane of the calling thread's warp offers `size` bytes at `mine` and receives the
// bytes lane `source` offered.  All 32 lanes must call it (the full mask).
void warp_exchange(unsigned mask, const void *mine, void *theirs, int size, int source);

}  // namespace emu

// The kernels' declarations of a block's shared memory (block_reduce.cuh), defined here first.
#define PL_BLOCK_SHARED(T, name) T &name = ::emu::block_shared<T>()
#define PL_DYNAMIC_SHARED(T, name) T *name = static_cast<T *>(::emu::dynamic_shared())

// The built-in variables (x only: the kernels use one-dimensional grids and blocks).
extern emu::Index threadIdx, blockIdx, blockDim, gridDim;

void __syncthreads();

// The part of <cooperative_groups.h> that the kernels use.
namespace cooperative_groups {
struct grid_group {
    void sync() const { emu::grid_barrier(); }
};
inline grid_group this_grid() { return {}; }
struct cluster_group {
    void sync() const { emu::cluster_barrier(); }
    unsigned block_rank() const { return emu::cluster_rank(); }
    unsigned num_blocks() const { return emu::cluster_blocks(); }
    template <typename T>
    T *map_shared_rank(T *ptr, unsigned rank) const {
        return static_cast<T *>(emu::map_shared_rank(ptr, rank));
    }
};
inline cluster_group this_cluster() { return {}; }
}  // namespace cooperative_groups

// The part of <cuda_pipeline_primitives.h> that the kernels use.
inline void __pipeline_memcpy_async(void *shared, const void *global, size_t bytes, size_t zero_fill = 0) {
    (void)zero_fill;
    emu::copy_async(shared, global, bytes);
}
inline void __pipeline_commit() { emu::commit_copies(); }
inline void __pipeline_wait_prior(size_t groups) { emu::wait_copies_but(groups); }

template <typename T>
T __shfl_xor_sync(unsigned mask, T v, int lane_mask) {
    static_assert(sizeof(T) <= 8, "a shuffle moves at most 8 bytes");
    T out;
    emu::warp_exchange(mask, &v, &out, sizeof(T), (int)(threadIdx.x & 31) ^ lane_mask);
    return out;
}

// Lane + delta past the warp's end reads the lane's own value, as on the GPU.
template <typename T>
T __shfl_down_sync(unsigned mask, T v, unsigned delta) {
    static_assert(sizeof(T) <= 8, "a shuffle moves at most 8 bytes");
    const unsigned lane = threadIdx.x & 31;
    T out;
    emu::warp_exchange(mask, &v, &out, sizeof(T), (int)(lane + delta < 32 ? lane + delta : lane));
    return out;
}

// One fiber runs at a time, so a load and a store are an atomic read-modify-write here; relaxed atomics, as CUDA's
// atomicAdd is, to the race check.  Integers only: the kernels' results may not hang on the order of the adds.
template <typename T>
T atomicAdd(T *address, T v) {
    static_assert(std::is_integral_v<T>, "an atomic float add would make results depend on the threads' order");
    const T old = __atomic_load_n(address, __ATOMIC_RELAXED);
    __atomic_store_n(address, (T)(old + v), __ATOMIC_RELAXED);
    return old;
}

// As nvcc compiles them: a multiply by log2 e, then ex2.approx (with a fix-up for subnormal results); the
// reciprocal's rcp.approx.ftz, then a multiply.
inline float __expf(float x) { return emu::ex2_approx(x * 1.44269504088896341f, false); }
inline float __fdividef(float x, float y) { return x * emu::rcp_approx_ftz(y); }
inline float __uint_as_float(uint32_t u) {
    float f;
    std::memcpy(&f, &u, 4);
    return f;
}
