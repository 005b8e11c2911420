// Argument validation shared by every backend (SPEC section 8): everything that can be checked without reading
// the rows.  Per-row data errors are found by the kernels, which report them through row_error.hpp.
#pragma once
#include "policyloss.h"

namespace pl {

// Copies the caller's structs into full-size ones (fields a smaller, older struct lacks keep their defaults) and
// checks every parameter and pointer.  Returns PL_OK or the status of the first failure (error state set).
pl_status validate_call(const pl_loss_params *params, const pl_loss_args *args, pl_loss_params &p, pl_loss_args &a);

// Bytes per element of a pl_dtype, 0 if it is not one.
int dtype_size(int32_t dtype);

}  // namespace pl
