// Note [One home per higher-order op]
// Each higher-order op lives in one place: its file in src/hop/ holds the user-facing
// call (what a module calls, what a trace records) and its node form (check the
// arguments, give the result metadata, run on real tensors), registered here with
// the graph layer's table. The graph layer, the verifier, the loader and the compiled
// executor know no op by name. Adding one: a file with a HigherOrderImpl and a
// register_*_node function, and one line below.
#include "hop/register.h"

#include <mutex>

#include "hop/hop_internal.h"

namespace aotgrad::hop {

void register_higher_order_ops() {
  static std::once_flag once;
  std::call_once(once, [] {
    hop_detail::register_invoke_subgraph_node();
    hop_detail::register_flex_attention_nodes();
  });
}

}  // namespace aotgrad::hop
