// The joint file: the graph module plus what the export knows about it.
#include <algorithm>

#include <nlohmann/json.hpp>

#include "aotgrad/export.h"
#include "aotgrad/version.h"
#include "graph/serialize.h"
#include "hop/register.h"
#include "support/error.h"
#include "support/json_input.h"

namespace aotgrad::exporting {

using nlohmann::json;

namespace {
constexpr int kJointVersion = 1;

// Typed reads of the joint file's own fields. Each value's JSON type is checked
// before conversion: nlohmann's get<int64_t>() on a float such as 1e20 is undefined
// behaviour, and a list of the wrong element type must name the field.
const json& field(const json& j, const char* key) {
  AG_CHECK(j.is_object() && j.contains(key), "joint file: missing field '{}'", key);
  return j.at(key);
}

bool is_int64(const json& v) {
  return v.is_number_integer() && !(v.is_number_unsigned() && v.get<uint64_t>() > uint64_t(INT64_MAX));
}

int64_t int_field(const json& j, const char* key) {
  const json& v = field(j, key);
  AG_CHECK(is_int64(v), "joint file: field '{}' must be an integer, but got {}", key, quote_excerpt(v.dump()));
  return v.get<int64_t>();
}

template <typename T>
std::vector<T> list_field(const json& j, const char* key) {
  const json& v = field(j, key);
  AG_CHECK(v.is_array(), "joint file: field '{}' must be a list, but got {}", key, quote_excerpt(v.dump()));
  std::vector<T> out;
  for (const json& x : v) {
    if constexpr (std::is_same_v<T, bool>) {
      AG_CHECK(x.is_boolean(), "joint file: field '{}' must hold true/false, but holds {}", key,
               quote_excerpt(x.dump()));
      out.push_back(x.get<bool>());
    } else if constexpr (std::is_same_v<T, int64_t>) {
      AG_CHECK(is_int64(x), "joint file: field '{}' must hold integers, but holds {}", key, quote_excerpt(x.dump()));
      out.push_back(x.get<int64_t>());
    } else {
      AG_CHECK(x.is_string(), "joint file: field '{}' must hold strings, but holds {}", key, quote_excerpt(x.dump()));
      out.push_back(x.get<std::string>());
    }
  }
  return out;
}

// The joint file's own fields must agree with its graph: everything that reads a
// joint (the printer, the summary, fx_utils) indexes placeholders and outputs by them.
void check_consistent(const JointWithDescriptors& joint) {
  const ForwardMetadata& m = joint.metadata;
  const graph::Graph& g = *joint.graph_module->graph;
  const std::vector<graph::Node*> placeholders = g.placeholders();
  const auto n_placeholders = static_cast<int64_t>(placeholders.size());
  for (const graph::Node* p : placeholders) {
    AG_CHECK(p->meta.desc.has_value(),
             "joint file: placeholder '{}' has no descriptor (a joint graph labels every input)",
             quote_excerpt(p->name()));
    AG_CHECK(p->meta.val.kind == graph::FakeVal::Kind::Tensor, "joint file: placeholder '{}' records no tensor value",
             quote_excerpt(p->name()));
  }
  AG_CHECK(m.num_primals >= 0 && m.num_tangents >= 0 && m.num_primals + m.num_tangents == n_placeholders,
           "joint file: metadata says {} primals and {} tangents, but the graph has {} placeholders", m.num_primals,
           m.num_tangents, n_placeholders);
  AG_CHECK(static_cast<int64_t>(m.input_mutated.size()) == m.num_primals,
           "joint file: metadata.input_mutated has {} entries, expected one per primal ({})", m.input_mutated.size(),
           m.num_primals);
  const auto mutated = std::count(m.input_mutated.begin(), m.input_mutated.end(), true);
  AG_CHECK(m.num_mutated_inputs == mutated, "joint file: metadata.num_mutated_inputs is {}, but {} inputs are mutated",
           m.num_mutated_inputs, mutated);
  AG_CHECK(m.num_forward_outputs == m.num_mutated_inputs + static_cast<int64_t>(m.output_requires_grad.size()),
           "joint file: metadata.num_forward_outputs is {}, expected {} mutated inputs + {} user outputs",
           m.num_forward_outputs, m.num_mutated_inputs, m.output_requires_grad.size());
  AG_CHECK(static_cast<int64_t>(joint.params_spec.size() + joint.buffers_spec.size()) <= m.num_primals,
           "joint file: {} parameters and {} buffers, but only {} primals", joint.params_spec.size(),
           joint.buffers_spec.size(), m.num_primals);
  for (int64_t i : joint.static_input_indices)
    AG_CHECK(i >= 0 && i < m.num_primals, "joint file: static input index {} is not a primal (there are {})", i,
             m.num_primals);
}
}  // namespace

std::string joint_to_json(const JointWithDescriptors& joint) {
  const ForwardMetadata& m = joint.metadata;
  json meta{{"input_mutated", m.input_mutated},
            {"output_requires_grad", m.output_requires_grad},
            {"num_forward_outputs", m.num_forward_outputs},
            {"num_mutated_inputs", m.num_mutated_inputs},
            {"num_primals", m.num_primals},
            {"num_tangents", m.num_tangents}};
  json j{{"format", "aotgrad-joint"},
         {"version", kJointVersion},
         {"producer", "aotgrad " AOTGRAD_VERSION},
         {"graph_module", graph::module_to_json(*joint.graph_module)},
         {"in_spec", graph::spec_to_json(joint.in_spec)},
         {"out_spec", graph::spec_to_json(joint.out_spec)},
         {"params_spec", joint.params_spec},
         {"buffers_spec", joint.buffers_spec},
         {"static_input_indices", joint.static_input_indices},
         {"metadata", meta}};
  return j.dump(1);
}

JointWithDescriptors joint_from_json(const std::string& text) {
  hop::register_higher_order_ops();  // a file may hold higher-order nodes
  json j = graph::parse_json_text(text, "joint file");
  AG_CHECK(j.is_object() && j.value("format", "") == "aotgrad-joint",
           "joint file: not an aotgrad joint file (format is not \"aotgrad-joint\")");
  const auto version = int_field(j, "version");
  AG_CHECK(version == kJointVersion, "joint file: format version {} is not supported (this build reads {})", version,
           kJointVersion);
  JointWithDescriptors joint;
  AG_CHECK(j.contains("graph_module"), "joint file: missing field 'graph_module'");
  joint.graph_module = graph::module_from_json(j["graph_module"]);
  AG_CHECK(j.contains("in_spec") && j.contains("out_spec"), "joint file: missing in_spec or out_spec");
  joint.in_spec = graph::spec_from_json(j["in_spec"], "in_spec");
  joint.out_spec = graph::spec_from_json(j["out_spec"], "out_spec");
  joint.params_spec = list_field<std::string>(j, "params_spec");
  joint.buffers_spec = list_field<std::string>(j, "buffers_spec");
  joint.static_input_indices = list_field<int64_t>(j, "static_input_indices");
  static const json kMissing;
  const json& m = j.contains("metadata") ? j["metadata"] : kMissing;
  joint.metadata.input_mutated = list_field<bool>(m, "input_mutated");
  joint.metadata.output_requires_grad = list_field<bool>(m, "output_requires_grad");
  joint.metadata.num_forward_outputs = int_field(m, "num_forward_outputs");
  joint.metadata.num_mutated_inputs = int_field(m, "num_mutated_inputs");
  joint.metadata.num_primals = int_field(m, "num_primals");
  joint.metadata.num_tangents = int_field(m, "num_tangents");
  check_consistent(joint);
  return joint;
}

}  // namespace aotgrad::exporting
