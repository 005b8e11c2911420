// The emulator's scheduler (cuda_emulator.hpp): a block's threads are fibers on one host thread, each with its own
// stack, switched by a few instructions of x86-64 assembly (ucontext's switch costs a system call, which made a
// row take tens of milliseconds).  The scheduler resumes every runnable fiber once per pass, in the pass order of
// the schedule; a fiber runs until it reaches a barrier or returns.  After each pass, a warp whose 32 lanes all
// wait at a shuffle, or a block whose threads all wait at __syncthreads, is released.  A plain launch runs its
// blocks one after another, on a few sets of fibers in turn.  A cooperative launch gives every block its own
// fibers, runs the blocks one after another until each has returned or waits at the grid barrier, and releases the
// barrier once every thread of the grid waits there.  A cluster launch does the same for each cluster in turn, at
// the cluster's barrier.
#include "cuda_emulator.hpp"

#include <sys/mman.h>
#include <unistd.h>
#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#endif
#if defined(PL_EMU_RACECHECK)
#include <sanitizer/tsan_interface.h>
// Exported by ThreadSanitizer's runtime, not declared in its header: the calling fiber's accesses go unrecorded.
extern "C" void __tsan_ignore_thread_begin();
extern "C" void __tsan_ignore_thread_end();
extern "C" void __tsan_read_range(void *addr, unsigned long size);
extern "C" void __tsan_write_range(void *addr, unsigned long size);
#endif

#include <algorithm>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <numeric>
#include <random>
#include <utility>
#include <vector>

#if !defined(__x86_64__)
#error "the CUDA emulator switches fibers with x86-64 assembly"
#endif

emu::Index threadIdx, blockIdx, blockDim, gridDim;

// Saves the callee-saved registers on the current stack and its stack pointer in *from, then continues on the
// stack `to` (saved the same way, or made by new_fiber_stack).
extern "C" void pl_emu_switch(void **from, void *to);
asm(R"(
    .text
    .globl pl_emu_switch
    .type pl_emu_switch, @function
pl_emu_switch:
    pushq %rbp
    pushq %rbx
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
    movq %rsp, (%rdi)
    movq %rsi, %rsp
    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %rbx
    popq %rbp
    ret
    .size pl_emu_switch, .-pl_emu_switch
)");

namespace emu {

// The portable limit of a cluster's blocks, which launch_cluster keeps to.
constexpr unsigned kMaxClusterBlocks = 8;

// A shared memory object's copies, one per cluster rank; `live`: the bytes in use (the dynamic shared memory's are
// the launch's).
struct SharedObject {
    size_t bytes, align, live;
    unsigned char *copy[kMaxClusterBlocks] = {};
};

namespace {

// What ThreadSanitizer is told in the racecheck build (PL_EMU_RACECHECK), which compiles this file without
// instrumenting it, so that the scheduler's own state is not checked; nothing in the other builds.  Creating a
// ThreadSanitizer fiber takes milliseconds, so a fiber keeps its one for every launch.
namespace race {
#if defined(PL_EMU_RACECHECK)
void *host = nullptr;  // the launching thread
void *create() { return __tsan_create_fiber(0); }
// The host's switch to a fiber passes on what the host wrote (the launch's inputs, shared memory's garbage) where
// `host_wrote`, in a block's first pass after it starts or resumes; a fiber's switch back passes on nothing, so the
// fibers are ordered with each other only by the barriers.  (Each passing costs time in proportion to the fibers.)
void to_fiber(void *fiber, bool host_wrote) {
    __tsan_switch_to_fiber(fiber, host_wrote ? 0 : __tsan_switch_to_fiber_no_sync);
}
void to_host() { __tsan_switch_to_fiber(host, __tsan_switch_to_fiber_no_sync); }
void begin_launch() { host = __tsan_get_current_fiber(); }
void release(void *sync) { __tsan_release(sync); }
void acquire(void *sync) { __tsan_acquire(sync); }
struct Unrecorded {
    Unrecorded() { __tsan_ignore_thread_begin(); }
    ~Unrecorded() { __tsan_ignore_thread_end(); }
};
// An asynchronous copy as the running fiber's read of its source and write of its destination, when it lands.
void copied(void *to, const void *from, size_t bytes) {
    __tsan_read_range(const_cast<void *>(from), bytes);
    __tsan_write_range(to, bytes);
}
#else
void *create() { return nullptr; }
void to_fiber(void *, bool) {}
void to_host() {}
void begin_launch() {}
void release(void *) {}
void acquire(void *) {}
struct Unrecorded {
    Unrecorded() {}  // user-provided, so that a scope's guard is no unused variable
};
void copied(void *, const void *, size_t) {}
#endif
}  // namespace race

[[noreturn]] void fail(const char *format, ...) {
    std::fprintf(stderr, "CUDA emulator, block %u: ", blockIdx.x);
    va_list args;
    va_start(args, format);
    std::vfprintf(stderr, format, args);
    va_end(args);
    std::fprintf(stderr, "\n");
    std::fflush(stderr);
    std::_Exit(70);
}

enum class State { Runnable, AtSyncthreads, AtShuffle, AtGridBarrier, AtClusterBarrier, Returned };

// An asynchronous copy that has not landed: `group` counts the groups its thread committed before it.
struct Copy {
    void *to;
    const void *from;
    size_t bytes;
    size_t group;
};

constexpr size_t kStackBytes = 256 * 1024;  // per fiber, above a guard page that turns an overflow into a fault
constexpr size_t kGuardBytes = 4096;

struct Fiber {
    char *stack = nullptr;
    void *race_fiber = nullptr;  // ThreadSanitizer's, in the racecheck build
    void *sp = nullptr;
    State state = State::Returned;
    unsigned parity = 0;  // which of its warp's two exchange slots the fiber's next shuffle uses
    unsigned syncthreads = 0, grid_syncs = 0, cluster_syncs = 0;  // barriers passed: their sync objects (wait_at)
    std::vector<Copy> copies;                                     // in flight
    size_t committed = 0;                                         // groups of copies
};

struct Scheduler {
    std::vector<Fiber> fibers;
    std::vector<unsigned char> slots;  // per warp: [2][32][8] bytes of offered shuffle values
    std::vector<unsigned> order;
    void *main_sp = nullptr;
    unsigned base = 0;     // the running block's first fiber (0 unless the launch is cooperative)
    unsigned current = 0;  // the running fiber, base + threadIdx.x
    const std::function<void()> *body = nullptr;
    Schedule schedule = Schedule::Forward;
    std::mt19937 rng{1};
    std::vector<SharedObject *> shared;  // shared_object's, and the dynamic shared memory
    SharedObject *dynamic = nullptr;     // that one
    std::mt19937_64 garbage{1};          // the bytes that fill them
    // The race check's sync objects (their addresses): two per block and two for the grid, used in turn by
    // successive barriers, since a thread may reach the next barrier before a slower one has left this one; and
    // the launch's end.
    std::vector<char> block_syncs, cluster_syncs;
    char grid_syncs[2] = {};
    char launch_end = 0;
    bool launching = false;
    bool cooperative = false;
    unsigned cluster = 0;  // blocks a cluster, in a cluster launch
};
Scheduler g;

[[noreturn]] void fiber_entry() {
    (*g.body)();
    if (!g.fibers[g.current].copies.empty())
        fail("thread %u returned with %zu asynchronous copies that it never waited for", threadIdx.x,
             g.fibers[g.current].copies.size());
    race::release(&g.launch_end);
    g.fibers[g.current].state = State::Returned;
    race::to_host();
    pl_emu_switch(&g.fibers[g.current].sp, g.main_sp);
    __builtin_unreachable();  // a returned fiber is never resumed; the next block starts it afresh
}

// A fresh frame at the top of the fiber's stack: six zero registers for pl_emu_switch to pop, then fiber_entry
// as the return address, placed so that fiber_entry starts with the stack alignment of a called function.  A fiber
// leaves its frames without returning from them, so AddressSanitizer's marks of their variables' scopes stay on the
// stack until they are cleared here.
void *new_fiber_stack(char *stack) {
    char *top = stack + kGuardBytes + kStackBytes;  // 16-byte aligned: the mapping is page aligned
#if defined(__SANITIZE_ADDRESS__)
    __asan_unpoison_memory_region(stack + kGuardBytes, kStackBytes);
#endif
    void **frame = (void **)(top - 64);
    std::fill(frame, frame + 6, nullptr);
    frame[6] = (void *)&fiber_entry;
    return frame;
}

// `count` fibers, and the shuffle slots of a block of `threads`.
void ensure_fibers(unsigned count, unsigned threads) {
    while (g.fibers.size() < count) {
        void *p = mmap(nullptr, kGuardBytes + kStackBytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED) fail("no memory for a fiber stack");
        mprotect(p, kGuardBytes, PROT_NONE);
        Fiber f;
        f.stack = (char *)p;
        f.race_fiber = race::create();
        g.fibers.push_back(std::move(f));
    }
    g.slots.assign((size_t)threads / 32 * 2 * 32 * 8, 0);
}

void next_pass_order(unsigned threads) {
    g.order.resize(threads);
    std::iota(g.order.begin(), g.order.end(), 0u);
    if (g.schedule == Schedule::Reverse) std::reverse(g.order.begin(), g.order.end());
    if (g.schedule == Schedule::Shuffled) std::shuffle(g.order.begin(), g.order.end(), g.rng);
}

// Releases the running block's barriers that every thread they wait for has reached; fails where threads can no
// longer meet.  Threads at the grid or the cluster barrier wait for the other blocks (run_grid), not for this
// block alone.
void release_barriers(unsigned threads) {
    unsigned returned = 0, at_sync = 0, at_grid = 0;
    bool released = false;
    for (unsigned w = 0; w < threads / 32; ++w) {
        unsigned at_shuffle = 0, warp_returned = 0;
        for (unsigned l = 0; l < 32; ++l) {
            const State s = g.fibers[g.base + w * 32 + l].state;
            at_grid += s == State::AtGridBarrier || s == State::AtClusterBarrier;
            at_shuffle += s == State::AtShuffle;
            warp_returned += s == State::Returned;
            at_sync += s == State::AtSyncthreads;
        }
        returned += warp_returned;
        if (at_shuffle == 32) {
            for (unsigned l = 0; l < 32; ++l) g.fibers[g.base + w * 32 + l].state = State::Runnable;
            released = true;
        } else if (at_shuffle && warp_returned) {
            fail("warp %u: %u lanes wait at a shuffle for %u lanes that returned (a shuffle in divergent code)", w,
                 at_shuffle, warp_returned);
        }
    }
    if (released || returned + at_grid == threads) return;
    if (at_grid)
        fail("%u threads wait at the grid or cluster barrier, %u at __syncthreads or shuffles of this block", at_grid,
             threads - at_grid - returned);
    if (at_sync + returned < threads)
        fail("deadlock: %u threads wait at __syncthreads, %u at shuffles that their warps do not all reach", at_sync,
             threads - at_sync - returned);
    if (returned)
        fail("%u threads wait at __syncthreads for %u that returned (a barrier in divergent code)", at_sync, returned);
    for (unsigned t = 0; t < threads; ++t) g.fibers[g.base + t].state = State::Runnable;
}

#if defined(PL_EMU_RACECHECK)
size_t page_rounded(size_t bytes) {
    const size_t page = (size_t)sysconf(_SC_PAGESIZE);
    return (bytes + page - 1) / page * page;
}
#endif

// The cluster rank of block `block` of the running launch.
unsigned rank_of(unsigned block) { return g.cluster ? block % g.cluster : 0; }

void fill_with_garbage(unsigned char *p, size_t bytes) {
    for (size_t i = 0; i < bytes; i += 8) {
        const uint64_t word = g.garbage();
        std::memcpy(p + i, &word, std::min<size_t>(8, bytes - i));
    }
}

// Rank `rank`'s copy of `object`, made (garbage) where no block of that rank asked for it before.
unsigned char *copy_of(SharedObject &object, unsigned rank) {
    unsigned char *&p = object.copy[rank];
    if (p) return p;
#if defined(PL_EMU_RACECHECK)
    race::Unrecorded unrecorded;  // the emulator's allocation, made by whichever fiber asks first: no kernel's access
    p = (unsigned char *)mmap(nullptr, page_rounded(object.bytes), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                              -1, 0);
    if (p == MAP_FAILED || (uintptr_t)p % object.align != 0) fail("no memory for shared memory");
#else
    p = (unsigned char *)::operator new(object.bytes, std::align_val_t(object.align));
#endif
    fill_with_garbage(p, object.bytes);
    return p;
}

// A block of rank `rank` starts, or resumes from the grid barrier: its copies of shared memory hold garbage.  The
// race check also forgets which fibers last touched them, since a block that starts did not run before, and one
// that resumes finds other blocks' garbage: mapping fresh pages over them, unrecorded, empties ThreadSanitizer's
// record of the range.
void garbage_shared(unsigned rank) {
    for (SharedObject *object : g.shared) {
        unsigned char *p = object->copy[rank];
        if (!p) continue;
#if defined(PL_EMU_RACECHECK)
        {
            race::Unrecorded unrecorded;
            if (mmap(p, page_rounded(object->bytes), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED,
                     -1, 0) == MAP_FAILED)
                fail("no memory for shared memory");
        }
#endif
        fill_with_garbage(p, object->live);
    }
}

// Runs block `block` on the fibers from `base`: from its start (`fresh`) or from where its threads were released,
// until each of them has returned or waits at the grid or the cluster barrier.  A block of a cluster keeps its
// shared memory when it resumes, as on the GPU.
void run_block(unsigned block, unsigned base, unsigned threads, bool fresh) {
    const bool host_writes = fresh || !g.cluster;
    if (host_writes) garbage_shared(rank_of(block));
    blockIdx.x = block;
    g.base = base;
    const auto first = g.fibers.begin() + base, last = first + threads;
    if (fresh)
        for (auto f = first; f != last; ++f) {
            f->sp = new_fiber_stack(f->stack);
            f->state = State::Runnable;
            f->parity = 0;
            f->syncthreads = f->grid_syncs = f->cluster_syncs = 0;
            f->copies.clear();
            f->committed = 0;
        }
    // Every thread is runnable when a block starts or resumes, so the first pass runs each once after the host wrote;
    // a block of a cluster resumes with nothing written by the host, its barrier's own order passed on by wait_at
    // (the race check's passing of the host's writes costs time in proportion to the fibers, at every switch).
    for (bool first_pass = host_writes;; first_pass = false) {
        next_pass_order(threads);
        for (unsigned t : g.order) {
            Fiber &f = g.fibers[base + t];
            if (f.state != State::Runnable) continue;
            g.current = base + t;
            threadIdx.x = t;
            race::to_fiber(f.race_fiber, first_pass);
            pl_emu_switch(&g.main_sp, f.sp);
        }
        if (std::all_of(first, last, [](const Fiber &f) {
                return f.state == State::Returned || f.state == State::AtGridBarrier ||
                       f.state == State::AtClusterBarrier;
            }))
            return;
        release_barriers(threads);
    }
}

// The blocks of a plain launch take turns at this many sets of fibers.  To the race check, blocks on different sets
// are unordered, as a GPU runs them in any order or at once, and blocks on the same set follow one another (they
// are the same ThreadSanitizer fibers).  Four sets see the races between neighbouring blocks and take fewer fibers
// than the tests' five-block cooperative launches make anyway; more fibers would lengthen every vector clock.
constexpr unsigned kPlainLaunchFiberSets = 4;

// Runs blocks [first, first + count), each on fibers of its own, in rounds that end at the barrier they share (the
// grid's or the cluster's), until every thread has returned.
void run_together(unsigned first, unsigned count, unsigned threads) {
    for (bool fresh = true;; fresh = false) {
        for (unsigned b = 0; b < count; ++b) run_block(first + b, b * threads, threads, fresh);
        const auto begin = g.fibers.begin(), end = begin + (size_t)count * threads;
        const auto returned = std::count_if(begin, end, [](const Fiber &f) { return f.state == State::Returned; });
        if (returned == end - begin) return;
        if (returned)
            fail("%ld threads wait at the %s barrier for %ld that returned", (long)(end - begin - returned),
                 g.cluster ? "cluster" : "grid", (long)returned);
        for (auto f = begin; f != end; ++f) f->state = State::Runnable;
    }
}

// The grid: block after block, a plain launch's on sets of fibers in turn; a cooperative launch's all together; a
// cluster launch's a cluster at a time, together.
void run_grid(unsigned grid, unsigned threads, const std::function<void()> &block_body, bool cooperative,
              unsigned cluster) {
    if (threads == 0 || threads % 32 != 0) fail("a block of %u threads: the emulator runs whole warps", threads);
    if (g.launching) fail("a launch from inside a kernel");
    if (cluster && (cluster > kMaxClusterBlocks || grid % cluster != 0))
        fail("clusters of %u blocks in a grid of %u: at most %u, a divisor of the grid", cluster, grid,
             kMaxClusterBlocks);
    const unsigned sets = cooperative ? grid : cluster ? cluster : std::min(grid, kPlainLaunchFiberSets);
    ensure_fibers(sets * threads, threads);
    race::begin_launch();
    g.block_syncs.assign((size_t)grid * 2, 0);
    g.cluster_syncs.assign(cluster ? (size_t)grid / cluster * 2 : 0, 0);
    g.body = &block_body;
    g.launching = true;
    g.cooperative = cooperative;
    g.cluster = cluster;
    gridDim.x = grid;
    blockDim.x = threads;
    if (cooperative) run_together(0, grid, threads);
    else if (cluster)
        for (unsigned c = 0; c < grid; c += cluster) run_together(c, cluster, threads);
    else
        for (unsigned b = 0; b < grid; ++b) run_block(b, b % sets * threads, threads, true);
    race::acquire(&g.launch_end);
    g.launching = false;
    g.cooperative = false;
    g.cluster = 0;
    g.body = nullptr;
}

// The running fiber; `what` names the caller that needs one.
Fiber &running(const char *what) {
    if (!g.launching) fail("%s outside a kernel launch", what);
    return g.fibers[g.current];
}

// The running fiber waits in `state` until the scheduler releases it.
void wait(State state, const char *what) {
    Fiber &f = running(what);
    f.state = state;
    race::to_host();
    pl_emu_switch(&f.sp, g.main_sp);
}

// A barrier that orders memory: to the race check, what each thread did before it comes before what any does after
// it.  `passed` counts the running fiber's barriers of this kind; `syncs`, the pair of sync objects they take in turn.
void wait_at(State state, const char *what, char *syncs, unsigned &passed) {
    char *sync = syncs + (passed++ & 1);
    race::release(sync);
    wait(state, what);
    race::acquire(sync);
}

void block_barrier() {
    Fiber &f = running("__syncthreads");
    wait_at(State::AtSyncthreads, "__syncthreads", &g.block_syncs[2 * blockIdx.x], f.syncthreads);
}

}  // namespace

void set_schedule(Schedule schedule, unsigned seed) {
    g.schedule = schedule;
    g.rng.seed(seed);
    g.garbage.seed(seed);
}

// Copies on pages of their own for the race check, which maps fresh ones over them (garbage_shared); otherwise on
// the heap, where AddressSanitizer fails an access past the end.
SharedObject *shared_object(size_t bytes, size_t align) {
    SharedObject *object = new SharedObject{bytes, align, bytes};
    g.shared.push_back(object);
    return object;
}

void *shared_copy(SharedObject *object) { return copy_of(*object, rank_of(blockIdx.x)); }

void *dynamic_shared() {
    if (!g.dynamic || g.dynamic->live == 0) fail("dynamic shared memory in a launch that asked for none");
    return copy_of(*g.dynamic, rank_of(blockIdx.x));
}

void launch_blocks(unsigned grid, unsigned threads, const std::function<void()> &block_body) {
    run_grid(grid, threads, block_body, false, 0);
}

void launch_cooperative_blocks(unsigned grid, unsigned threads, const std::function<void()> &block_body) {
    run_grid(grid, threads, block_body, true, 0);
}

// The dynamic shared memory is an object whose copies are made again whenever a launch asks for another size, so
// that AddressSanitizer fails an access past the launch's bytes; `live` is 0 between launches.
void launch_cluster_blocks(unsigned grid, unsigned threads, unsigned cluster, size_t dynamic_bytes,
                           const std::function<void()> &block_body) {
    if (cluster == 0) fail("a cluster of no blocks");
    if (!g.dynamic) g.dynamic = shared_object(0, 16);
    if (g.dynamic->bytes != dynamic_bytes) {
        for (unsigned char *&p : g.dynamic->copy) {
#if defined(PL_EMU_RACECHECK)
            if (p) munmap(p, page_rounded(g.dynamic->bytes));
#else
            ::operator delete(p, std::align_val_t(16));
#endif
            p = nullptr;
        }
        g.dynamic->bytes = dynamic_bytes;
    }
    g.dynamic->live = dynamic_bytes;
    run_grid(grid, threads, block_body, false, cluster);
    g.dynamic->live = 0;
}

void grid_barrier() {
    Fiber &f = running("a grid barrier");
    if (!g.cooperative) fail("a grid barrier in a launch that is not cooperative");
    wait_at(State::AtGridBarrier, "a grid barrier", g.grid_syncs, f.grid_syncs);
}

void cluster_barrier() {
    Fiber &f = running("a cluster barrier");
    if (!g.cluster) fail("a cluster barrier in a launch without clusters");
    wait_at(State::AtClusterBarrier, "a cluster barrier", &g.cluster_syncs[blockIdx.x / g.cluster * 2],
            f.cluster_syncs);
}

unsigned cluster_rank() { return rank_of(blockIdx.x); }

unsigned cluster_blocks() { return g.cluster ? g.cluster : 1; }

void *map_shared_rank(const void *ptr, unsigned rank) {
    running("map_shared_rank");
    if (rank >= cluster_blocks()) fail("map_shared_rank to rank %u of a cluster of %u", rank, cluster_blocks());
    const unsigned mine = rank_of(blockIdx.x);
    for (SharedObject *object : g.shared) {
        const unsigned char *p = object->copy[mine], *q = (const unsigned char *)ptr;
        if (p && q >= p && q < p + object->live) return copy_of(*object, rank) + (q - p);
    }
    fail("map_shared_rank of %p, which is not in the block's shared memory", ptr);
}

void copy_async(void *shared, const void *global, size_t bytes) {
    Fiber &f = running("an asynchronous copy");
    f.copies.push_back(Copy{shared, global, bytes, f.committed});
}

void commit_copies() { ++running("a commit of asynchronous copies").committed; }

void wait_copies_but(size_t groups) {
    Fiber &f = running("a wait for asynchronous copies");
    const auto landed = [&](const Copy &c) { return c.group + groups < f.committed; };
    for (const Copy &c : f.copies)
        if (landed(c)) {
            race::copied(c.to, c.from, c.bytes);
            race::Unrecorded unrecorded;  // recorded as the fiber's accesses just above
            std::memcpy(c.to, c.from, c.bytes);
        }
    f.copies.erase(std::remove_if(f.copies.begin(), f.copies.end(), landed), f.copies.end());
}

namespace {
std::function<void(const void *)> &prefetch_observer() {
    static std::function<void(const void *)> observer;
    return observer;
}
}  // namespace

void prefetch_l2(const void *address) {
    running("a prefetch");
    if (!prefetch_observer()) return;
    race::Unrecorded unrecorded;
    prefetch_observer()(address);
}

void set_prefetch_observer(std::function<void(const void *)> observer) { prefetch_observer() = std::move(observer); }

uint64_t create_policy(L2Policy policy) {
    uint32_t fraction;
    std::memcpy(&fraction, &policy.fraction, sizeof fraction);
    return (uint64_t)policy.primary | (uint64_t)policy.secondary << 8 | (uint64_t)fraction << 32;
}

L2Policy policy_of(uint64_t bits) {
    L2Policy policy{L2Priority(bits & 0xff), L2Priority(bits >> 8 & 0xff), 0.0f};
    const uint32_t fraction = (uint32_t)(bits >> 32);
    std::memcpy(&policy.fraction, &fraction, sizeof fraction);
    return policy;
}

namespace {
std::function<void(const void *, uint64_t)> &cache_hint_observer() {
    static std::function<void(const void *, uint64_t)> observer;
    return observer;
}
}  // namespace

void cache_hint(const void *address, uint64_t policy) {
    running("a load with a cache hint");
    if (!cache_hint_observer()) return;
    race::Unrecorded unrecorded;
    cache_hint_observer()(address, policy);
}

void set_cache_hint_observer(std::function<void(const void *, uint64_t)> observer) {
    cache_hint_observer() = std::move(observer);
}

void warp_exchange(unsigned mask, const void *mine, void *theirs, int size, int source) {
    if (mask != 0xffffffffu) fail("a shuffle with mask %#x: the emulator runs full-warp shuffles only", mask);
    const unsigned t = threadIdx.x, warp = t / 32;
    Fiber &f = running("a warp shuffle");
    unsigned char *slots = &g.slots[((size_t)warp * 2 + f.parity) * 32 * 8];
    {
        race::Unrecorded unrecorded;  // the exchange is the hardware's, not memory
        std::memcpy(slots + (t & 31) * 8, mine, size);
    }
    wait(State::AtShuffle, "a warp shuffle");
    // No lane writes these slots again before all have passed the next shuffle, so after this read.
    {
        race::Unrecorded unrecorded;
        std::memcpy(theirs, slots + source * 8, size);
    }
    f.parity ^= 1;
}

}  // namespace emu

void __syncthreads() { emu::block_barrier(); }
