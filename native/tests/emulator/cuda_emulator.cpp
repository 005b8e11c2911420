// The emulator's scheduler (cuda_emulator.hpp): a block's threads are fibers on one host thread, each with its own
// stack, switched by a few instructions of x86-64 assembly (ucontext's switch costs a system call, which made a
// row take tens of milliseconds).  The scheduler resumes every runnable fiber once per pass, in the pass order of
// the schedule; a fiber runs until it reaches a barrier or returns.  After each pass, a warp whose 32 lanes all
// wait at a shuffle, or a block whose threads all wait at __syncthreads, is released.  A plain launch runs its
// blocks one after another, on a few sets of fibers in turn.  A cooperative launch gives every block its own
// fibers, runs the blocks one after another until each has returned or waits at the grid barrier, and releases the
// barrier once every thread of the grid waits there.
#include "cuda_emulator.hpp"

#include <sys/mman.h>
#include <unistd.h>
#if defined(PL_EMU_RACECHECK)
#include <sanitizer/tsan_interface.h>
// Exported by ThreadSanitizer's runtime, not declared in its header: the calling fiber's accesses go unrecorded.
extern "C" void __tsan_ignore_thread_begin();
extern "C" void __tsan_ignore_thread_end();
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

enum class State { Runnable, AtSyncthreads, AtShuffle, AtGridBarrier, Returned };

constexpr size_t kStackBytes = 256 * 1024;  // per fiber, above a guard page that turns an overflow into a fault
constexpr size_t kGuardBytes = 4096;

struct Fiber {
    char *stack = nullptr;
    void *race_fiber = nullptr;  // ThreadSanitizer's, in the racecheck build
    void *sp = nullptr;
    State state = State::Returned;
    unsigned parity = 0;                       // which of its warp's two exchange slots the fiber's next shuffle uses
    unsigned syncthreads = 0, grid_syncs = 0;  // the barriers passed, which choose their sync objects (wait_at)
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
    std::vector<std::pair<unsigned char *, size_t>> shared;  // shared_memory's
    std::mt19937_64 garbage{1};                              // the bytes that fill them
    // The race check's sync objects (their addresses): two per block and two for the grid, used in turn by
    // successive barriers, since a thread may reach the next barrier before a slower one has left this one; and
    // the launch's end.
    std::vector<char> block_syncs;
    char grid_syncs[2] = {};
    char launch_end = 0;
    bool launching = false;
    bool cooperative = false;
};
Scheduler g;

[[noreturn]] void fiber_entry() {
    (*g.body)();
    race::release(&g.launch_end);
    g.fibers[g.current].state = State::Returned;
    race::to_host();
    pl_emu_switch(&g.fibers[g.current].sp, g.main_sp);
    __builtin_unreachable();  // a returned fiber is never resumed; the next block starts it afresh
}

// A fresh frame at the top of the fiber's stack: six zero registers for pl_emu_switch to pop, then fiber_entry
// as the return address, placed so that fiber_entry starts with the stack alignment of a called function.
void *new_fiber_stack(char *stack) {
    char *top = stack + kGuardBytes + kStackBytes;  // 16-byte aligned: the mapping is page aligned
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
        g.fibers.push_back(Fiber{(char *)p, race::create()});
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
// longer meet.  Threads at the grid barrier wait for the other blocks (run_grid), not for this block.
void release_barriers(unsigned threads) {
    unsigned returned = 0, at_sync = 0, at_grid = 0;
    bool released = false;
    for (unsigned w = 0; w < threads / 32; ++w) {
        unsigned at_shuffle = 0, warp_returned = 0;
        for (unsigned l = 0; l < 32; ++l) {
            const State s = g.fibers[g.base + w * 32 + l].state;
            at_grid += s == State::AtGridBarrier;
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
        fail("%u threads wait at the grid barrier, %u at __syncthreads or shuffles of this block", at_grid,
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

// The race check forgets which fibers last touched shared memory when a block starts or resumes: a block that
// starts did not run before, and one that resumes from the grid barrier finds other blocks' garbage.  Mapping
// fresh pages over it, unrecorded, empties ThreadSanitizer's record of the range.
void forget_shared_accesses() {
#if defined(PL_EMU_RACECHECK)
    race::Unrecorded unrecorded;
    for (const auto &[p, bytes] : g.shared)
        if (mmap(p, page_rounded(bytes), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) ==
            MAP_FAILED)
            fail("no memory for shared memory");
#endif
}

void fill_with_garbage(unsigned char *p, size_t bytes) {
    for (size_t i = 0; i < bytes; i += 8) {
        const uint64_t word = g.garbage();
        std::memcpy(p + i, &word, std::min<size_t>(8, bytes - i));
    }
}

// Runs block `block` on the fibers from `base`: from its start (`fresh`) or from where its threads were released,
// until each of them has returned or waits at the grid barrier.
void run_block(unsigned block, unsigned base, unsigned threads, bool fresh) {
    forget_shared_accesses();
    for (const auto &[p, bytes] : g.shared) fill_with_garbage(p, bytes);
    blockIdx.x = block;
    g.base = base;
    const auto first = g.fibers.begin() + base, last = first + threads;
    if (fresh)
        for (auto f = first; f != last; ++f) {
            f->sp = new_fiber_stack(f->stack);
            f->state = State::Runnable;
            f->parity = 0;
            f->syncthreads = f->grid_syncs = 0;
        }
    // Every thread is runnable when a block starts or resumes, so the first pass runs each once after the host wrote.
    for (bool first_pass = true;; first_pass = false) {
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
                return f.state == State::Returned || f.state == State::AtGridBarrier;
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

// The grid: block after block, a plain launch's on sets of fibers in turn, a cooperative launch's on fibers of its
// own per block, in rounds that end at the grid barrier.
void run_grid(unsigned grid, unsigned threads, const std::function<void()> &block_body, bool cooperative) {
    if (threads == 0 || threads % 32 != 0) fail("a block of %u threads: the emulator runs whole warps", threads);
    if (g.launching) fail("a launch from inside a kernel");
    const unsigned sets = cooperative ? grid : std::min(grid, kPlainLaunchFiberSets);
    ensure_fibers(sets * threads, threads);
    race::begin_launch();
    g.block_syncs.assign((size_t)grid * 2, 0);
    g.body = &block_body;
    g.launching = true;
    g.cooperative = cooperative;
    gridDim.x = grid;
    blockDim.x = threads;
    for (bool fresh = true;; fresh = false) {
        for (unsigned b = 0; b < grid; ++b) run_block(b, b % sets * threads, threads, fresh);
        if (!cooperative) break;
        const auto first = g.fibers.begin(), last = first + (size_t)grid * threads;
        const auto returned = std::count_if(first, last, [](const Fiber &f) { return f.state == State::Returned; });
        if (returned == last - first) break;
        if (returned)
            fail("%ld threads wait at the grid barrier for %ld that returned", (long)(last - first - returned),
                 (long)returned);
        for (auto f = first; f != last; ++f) f->state = State::Runnable;
    }
    race::acquire(&g.launch_end);
    g.launching = false;
    g.cooperative = false;
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

// Pages of their own for the race check, which maps fresh ones over them (forget_shared_accesses); otherwise the
// heap, where AddressSanitizer fails an access past the end.
void *shared_memory(size_t bytes, size_t align) {
#if defined(PL_EMU_RACECHECK)
    void *p = mmap(nullptr, page_rounded(bytes), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED || (uintptr_t)p % align != 0) fail("no memory for shared memory");
#else
    void *p = ::operator new(bytes, std::align_val_t(align));
#endif
    g.shared.emplace_back((unsigned char *)p, bytes);
    fill_with_garbage((unsigned char *)p, bytes);
    return p;
}

void launch_blocks(unsigned grid, unsigned threads, const std::function<void()> &block_body) {
    run_grid(grid, threads, block_body, false);
}

void launch_cooperative_blocks(unsigned grid, unsigned threads, const std::function<void()> &block_body) {
    run_grid(grid, threads, block_body, true);
}

void grid_barrier() {
    Fiber &f = running("a grid barrier");
    if (!g.cooperative) fail("a grid barrier in a launch that is not cooperative");
    wait_at(State::AtGridBarrier, "a grid barrier", g.grid_syncs, f.grid_syncs);
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
