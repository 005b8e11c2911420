#include "row_error.hpp"

#include "errors.hpp"

namespace pl {

pl_status report_row_error(const RowError &e, int64_t row, int64_t vocab) {
    const pl_status data = PL_ERR_INVALID_DATA;
    switch (e.code) {
        case ROW_WEIGHT_NOT_FINITE: return fail(data, "weight", row, "is NaN or infinite");
        case ROW_TARGET_RANGE:
            return fail(data, "target", row, "token %lld is outside [0, %lld)", (long long)e.detail, (long long)vocab);
        case ROW_TEMPERATURE: return fail(data, "temperature", row, "must be finite and > 0");
        case ROW_OLD_LOGP_NAN: return fail(data, "old_logp", row, "is NaN");
        case ROW_REF_LOGP_NAN: return fail(data, "ref_logp", row, "is NaN");
        case ROW_ADVANTAGE_NOT_FINITE: return fail(data, "advantage", row, "is NaN or infinite");
        case ROW_LOGITS_NAN:
            return fail(data, "logits", row, "NaN or +inf (after scale, softcap and temperature) at column %lld",
                        (long long)e.detail);
        case ROW_NO_FINITE_LOGIT: return fail(data, "logits", row, "has no finite logit");
        case ROW_TARGET_MASKED:
            return fail(data, "target", row, "token %lld has a -inf (masked) logit", (long long)e.detail);
        case ROW_OUT_OF_MEMORY: return fail(PL_ERR_INTERNAL, "logits", row, "out of memory for the row buffers");
        default: return fail(PL_ERR_INTERNAL, "logits", row, "unknown row error %d", e.code);
    }
}

}  // namespace pl

extern "C" pl_status pl_data_error_status(const pl_data_error *record, int64_t vocab) {
    pl::clear_error();
    if (!record) return pl::fail(PL_ERR_INVALID_ARGUMENT, "record", -1, "is NULL");
    if (record->row < 0) return PL_OK;
    return pl::report_row_error(pl::RowError{record->reason, record->detail}, record->row, vocab);
}
