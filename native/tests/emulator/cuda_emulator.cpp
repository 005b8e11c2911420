// The emulator's scheduler (cuda_emulator.hpp): a block's threads are fibers on one host thread, each with its own
// stack, switched by a few instructions of x86-64 assembly (ucontext's switch costs a system call, which made a
// row take tens of milliseconds).  The scheduler resumes every runnable fiber once per pass, in the pass order of
// the schedule; a fiber runs until it reaches a barrier or returns.  After each pass, a warp whose 32 lanes all
// wait at a shuffle, or a block whose threads all wait at __syncthreads, is released.  A cooperative launch gives
// every block its own fibers, runs the blocks one after another until each has returned or waits at the grid
// barrier, and releases the barrier once every thread of the grid waits there.
#include "cuda_emulator.hpp"

#include <sys/mman.h>

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
    void *sp = nullptr;
    State state = State::Returned;
    unsigned parity = 0;  // which of its warp's two exchange slots the fiber's next shuffle uses
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
    std::vector<std::pair<unsigned char *, size_t>> shared;  // add_shared's
    std::mt19937_64 garbage{1};                              // the bytes that fill them
    bool launching = false;
    bool cooperative = false;
};
Scheduler g;

[[noreturn]] void fiber_entry() {
    (*g.body)();
    g.fibers[g.current].state = State::Returned;
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
        g.fibers.push_back(Fiber{(char *)p});
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

void fill_with_garbage(unsigned char *p, size_t bytes) {
    for (size_t i = 0; i < bytes; i += 8) {
        const uint64_t word = g.garbage();
        std::memcpy(p + i, &word, std::min<size_t>(8, bytes - i));
    }
}

// Runs block `block` on the fibers from `base`: from its start (`fresh`) or from where its threads were released,
// until each of them has returned or waits at the grid barrier.
void run_block(unsigned block, unsigned base, unsigned threads, bool fresh) {
    for (const auto &[p, bytes] : g.shared) fill_with_garbage(p, bytes);
    blockIdx.x = block;
    g.base = base;
    const auto first = g.fibers.begin() + base, last = first + threads;
    if (fresh)
        for (auto f = first; f != last; ++f) {
            f->sp = new_fiber_stack(f->stack);
            f->state = State::Runnable;
            f->parity = 0;
        }
    for (;;) {
        next_pass_order(threads);
        for (unsigned t : g.order) {
            if (g.fibers[base + t].state != State::Runnable) continue;
            g.current = base + t;
            threadIdx.x = t;
            pl_emu_switch(&g.main_sp, g.fibers[base + t].sp);
        }
        if (std::all_of(first, last, [](const Fiber &f) {
                return f.state == State::Returned || f.state == State::AtGridBarrier;
            }))
            return;
        release_barriers(threads);
    }
}

// The grid: block after block, each on the same fibers; a cooperative grid on fibers of its own per block, in
// rounds that end at the grid barrier.
void run_grid(unsigned grid, unsigned threads, const std::function<void()> &block_body, bool cooperative) {
    if (threads == 0 || threads % 32 != 0) fail("a block of %u threads: the emulator runs whole warps", threads);
    if (g.launching) fail("a launch from inside a kernel");
    ensure_fibers(cooperative ? grid * threads : threads, threads);
    g.body = &block_body;
    g.launching = true;
    g.cooperative = cooperative;
    gridDim.x = grid;
    blockDim.x = threads;
    for (bool fresh = true;; fresh = false) {
        for (unsigned b = 0; b < grid; ++b) run_block(b, cooperative ? b * threads : 0, threads, fresh);
        if (!cooperative) break;
        const auto first = g.fibers.begin(), last = first + (size_t)grid * threads;
        const auto returned = std::count_if(first, last, [](const Fiber &f) { return f.state == State::Returned; });
        if (returned == last - first) break;
        if (returned)
            fail("%ld threads wait at the grid barrier for %ld that returned", (long)(last - first - returned),
                 (long)returned);
        for (auto f = first; f != last; ++f) f->state = State::Runnable;
    }
    g.launching = false;
    g.cooperative = false;
    g.body = nullptr;
}

// The running fiber waits in `state` until the scheduler releases it.
void wait(State state, const char *what) {
    if (!g.launching) fail("%s outside a kernel launch", what);
    Fiber &f = g.fibers[g.current];
    f.state = state;
    pl_emu_switch(&f.sp, g.main_sp);
}

}  // namespace

void set_schedule(Schedule schedule, unsigned seed) {
    g.schedule = schedule;
    g.rng.seed(seed);
    g.garbage.seed(seed);
}

void add_shared(void *p, size_t bytes) {
    g.shared.emplace_back((unsigned char *)p, bytes);
    fill_with_garbage((unsigned char *)p, bytes);
}

void launch_blocks(unsigned grid, unsigned threads, const std::function<void()> &block_body) {
    run_grid(grid, threads, block_body, false);
}

void launch_cooperative_blocks(unsigned grid, unsigned threads, const std::function<void()> &block_body) {
    run_grid(grid, threads, block_body, true);
}

void grid_barrier() {
    if (g.launching && !g.cooperative) fail("a grid barrier in a launch that is not cooperative");
    wait(State::AtGridBarrier, "a grid barrier");
}

void warp_exchange(unsigned mask, const void *mine, void *theirs, int size, int source) {
    if (mask != 0xffffffffu) fail("a shuffle with mask %#x: the emulator runs full-warp shuffles only", mask);
    const unsigned t = threadIdx.x, warp = t / 32;
    Fiber &f = g.fibers[g.current];
    unsigned char *slots = &g.slots[((size_t)warp * 2 + f.parity) * 32 * 8];
    std::memcpy(slots + (t & 31) * 8, mine, size);
    wait(State::AtShuffle, "a warp shuffle");
    // No lane writes these slots again before all have passed the next shuffle, so after this read.
    std::memcpy(theirs, slots + source * 8, size);
    f.parity ^= 1;
}

}  // namespace emu

void __syncthreads() { emu::wait(emu::State::AtSyncthreads, "__syncthreads"); }
