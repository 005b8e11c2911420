// A small persistent thread pool for the CPU kernel.  Several callers may run parallel_for at the same time
// (each call is its own job; idle workers help whichever job is queued), and the caller always works on its own
// job, so a call never waits for a worker that is busy elsewhere.
#pragma once
#include <cstdint>
#include <functional>

namespace pl::cpu {

// Runs body(begin, end) over [0, n) in chunks of `chunk` items on up to `max_threads` threads (0 = all cores,
// caller included).  body must not throw.  Which thread runs which chunk varies; the chunks do not overlap.
void parallel_for(int64_t n, int64_t chunk, int max_threads, const std::function<void(int64_t, int64_t)> &body);

// Threads the pool can use, caller included.
int pool_threads();

}  // namespace pl::cpu
