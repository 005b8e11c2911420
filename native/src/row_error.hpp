// Per-row data errors (SPEC section 8).  A kernel records one code per row while it reads the data; the caller
// then reports the first bad row, so the message does not depend on which thread or block saw it first.
#pragma once
#include <cmath>
#include <cstdint>

#include "host_device.hpp"
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

// The checks of SPEC section 8 that need no logits, for row i of weight != 0, in the order that decides which
// error a row with several reports; `target` is the row's target, read by the caller.  One definition for the CPU
// kernel (Args = pl_loss_args) and the CUDA kernel (its KernelArgs), so both name the same error.
template <typename Args>
PL_HD RowError check_row_scalars(const Args &a, int64_t i, int64_t target) {
    if (a.temperature && !(a.temperature[i] > 0.0f && std::isfinite(a.temperature[i]))) return {ROW_TEMPERATURE, 0};
    if (target < 0 || target >= a.vocab) return {ROW_TARGET_RANGE, target};
    if (std::isnan(a.old_logp[i])) return {ROW_OLD_LOGP_NAN, 0};
    if (!std::isfinite(a.advantage[i])) return {ROW_ADVANTAGE_NOT_FINITE, 0};
    if (a.ref_logp && std::isnan(a.ref_logp[i])) return {ROW_REF_LOGP_NAN, 0};
    return {ROW_OK, 0};
}

// Sets the error state for `code` at `row` and returns the status.
pl_status report_row_error(const RowError &e, int64_t row, int64_t vocab);

}  // namespace pl
