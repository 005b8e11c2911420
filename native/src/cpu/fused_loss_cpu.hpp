// The CPU backend of pl_fused_loss: host buffers, already validated by validate_call.
#pragma once
#include "policyloss.h"

namespace pl::cpu {

pl_status fused_loss(const pl_loss_params &p, const pl_loss_args &a);

// The ISA the row kernels run with on this CPU ("avx2+fma" or "baseline").
const char *active_isa();

}  // namespace pl::cpu
