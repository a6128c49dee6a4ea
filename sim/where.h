// Source locations as reports print them.
#ifndef FSIM_SIM_WHERE_H_
#define FSIM_SIM_WHERE_H_

#include <source_location>
#include <string>

namespace fsim::sim {

// "function (file:line)" of a source location, for reports.
std::string WhereText(const std::source_location& where);

}  // namespace fsim::sim

#endif  // FSIM_SIM_WHERE_H_
