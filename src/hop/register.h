// The hop layer's registration with the graph layer (Note [One home per higher-order op]).
#pragma once

namespace aotgrad::hop {

/// Registers every higher-order op's node form (graph/higher_order.h) once. The
/// layers that read or run graphs holding such nodes (export, compile) and the hop
/// entry points call it; it is cheap after the first call.
void register_higher_order_ops();

}  // namespace aotgrad::hop
