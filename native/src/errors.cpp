#include "errors.hpp"

#include <cstdarg>
#include <cstdio>

namespace pl {
namespace {
thread_local char t_message[512] = "";
thread_local char t_argument[64] = "";
thread_local int64_t t_row = -1;
}  // namespace

pl_status fail(pl_status status, const char *argument, int64_t row, const char *fmt, ...) {
    // The message always starts with the argument (and the row), so it is readable without the other two calls.
    int n = row >= 0 ? std::snprintf(t_message, sizeof t_message, "%s: row %lld: ", argument, (long long)row)
                     : std::snprintf(t_message, sizeof t_message, "%s: ", argument);
    if (n < 0 || n >= (int)sizeof t_message) n = 0;
    va_list ap;
    va_start(ap, fmt);
    std::vsnprintf(t_message + n, sizeof t_message - n, fmt, ap);
    va_end(ap);
    std::snprintf(t_argument, sizeof t_argument, "%s", argument);
    t_row = row;
    return status;
}

void clear_error() {
    t_message[0] = '\0';
    t_argument[0] = '\0';
    t_row = -1;
}

}  // namespace pl

extern "C" {
const char *pl_last_error(void) { return pl::t_message; }
const char *pl_last_error_argument(void) { return pl::t_argument; }
int64_t pl_last_error_row(void) { return pl::t_row; }
}
