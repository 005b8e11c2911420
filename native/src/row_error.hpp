// Per-row data errors (SPEC section 8).  A kernel records one code per row while it reads the data; the caller
// then reports the first bad row, so the message does not depend on which thread or block saw it first.
#pragma once
#include <cstdint>

#include "policyloss.h"

namespace pl {

enum RowErrorCode : int32_t {
    ROW_OK = 0,
    ROW_WEIGHT_NOT_FINITE,   // detail: unused
    ROW_TARGET_RANGE,        // detail: the target value
    ROW_TEMPERATURE,         // detail: unused
    ROW_OLD_LOGP_NAN,
    ROW_REF_LOGP_NAN,
    ROW_ADVANTAGE_NOT_FINITE,
    ROW_LOGITS_NAN,          // detail: the column of the first NaN / +inf
    ROW_NO_FINITE_LOGIT,
    ROW_TARGET_MASKED,       // detail: the target value
    ROW_OUT_OF_MEMORY
};

struct RowError {
    int32_t code;
    int64_t detail;
};

// Sets the error state for `code` at `row` and returns the status.
pl_status report_row_error(const RowError &e, int64_t row, int64_t vocab);

}  // namespace pl
