#include "compile/fusion.h"

namespace aotgrad::compile {

FusionStats fuse_pointwise_chains(std::vector<Value>&, std::vector<Instruction>&, std::vector<std::vector<int>>&,
                                  const std::vector<int>&) {
  return {};
}

}  // namespace aotgrad::compile
