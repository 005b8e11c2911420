// What the rows of the loss kernel leave per row for the metric sums: the row's outputs, its flags and its data
// error.
// 32 bytes a row, the only device memory a call allocates besides PL_METRICS_LEN doubles and one pl_data_error.
#pragma once
#include <cstdint>

namespace pl::cuda {

struct RowRecord {
    float loss, entropy, clamped_entropy, ratio, logp, kl;
    uint32_t info;   // bits 0-7: PL_FLAG_*; bit 8: counted (w != 0 and no error); bits 16-31: RowErrorCode
    int32_t detail;  // the logits column of a ROW_LOGITS_NAN error
};
static_assert(sizeof(RowRecord) == 32, "32 bytes a row");

constexpr uint32_t kCounted = 1u << 8;
constexpr int kErrorShift = 16;

}  // namespace pl::cuda
