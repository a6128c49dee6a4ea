// Errors about user input are one line a terminal shows as it is: the
// input's own bytes (a key, a name, a path) may hold newlines, escape
// sequences or a megabyte, and must not pass through.
#ifndef FSIM_MODEL_ERROR_LINE_H_
#define FSIM_MODEL_ERROR_LINE_H_

#include <cstddef>
#include <string>
#include <string_view>

namespace fsim::model {

// An error line at most this long (plus the note of the cut).
inline constexpr size_t kErrorLineMax = 1024;

// `text` as one line of printable ASCII: control and non-ASCII bytes
// escaped (\n, \t, \xNN); past `max` bytes its middle cut out and the cut
// said, keeping the start (which names the input) and the end (which says
// what is wrong with it). Idempotent.
std::string OneLine(std::string_view text, size_t max = kErrorLineMax);

}  // namespace fsim::model

#endif  // FSIM_MODEL_ERROR_LINE_H_
