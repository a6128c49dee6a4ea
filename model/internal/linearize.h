// CheckLinearizable with its debug check selectable: with `verify`, the
// search recomputes its incrementally kept state (page hashes, the state
// hash, the page layout) from scratch at every node and aborts on a
// difference, and keys refuted states by their done-set alone, so that
// every memo hit is decided by the exact state comparison (as a hash
// collision would be). Debug builds always verify; tests verify in any
// build.
#ifndef FSIM_MODEL_INTERNAL_LINEARIZE_H_
#define FSIM_MODEL_INTERNAL_LINEARIZE_H_

#include <vector>

#include "model/file_model.h"

namespace fsim::model::internal {

Linearization CheckLinearizable(const FileState& initial, const std::vector<OpRecord>& history,
                                const FileState* final_state, bool verify);

}  // namespace fsim::model::internal

#endif  // FSIM_MODEL_INTERNAL_LINEARIZE_H_
