// The JSON form of graph modules and tree specs: the graph file format, also used by
// the export's joint file (docs/GRAPH_FORMAT.md).
#pragma once

#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "aotgrad/graph.h"

namespace aotgrad::graph {

nlohmann::json module_to_json(const GraphModule& gm);
std::shared_ptr<GraphModule> module_from_json(const nlohmann::json& j);
nlohmann::json spec_to_json(const pytree::TreeSpec& s);
pytree::TreeSpec spec_from_json(const nlohmann::json& j, const std::string& where);
/// Parses text, turning a parse error into a user error that starts with `what`.
nlohmann::json parse_json_text(const std::string& text, const char* what);

}  // namespace aotgrad::graph
