// The thread-local error state behind pl_last_error*(): every failure names an argument and, for data, a row.
#pragma once
#include <cstdint>
#include "policyloss.h"

namespace pl {

// Records the failure for this thread and returns its status, so call sites read `return fail(...)`.
pl_status fail(pl_status status, const char *argument, int64_t row, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

void clear_error();

}  // namespace pl
