// A graph file carries the schema of every custom op it calls: another process prints,
// verifies and saves it without the op's implementation, and running it names the op
// to register; once registered, the loaded graph runs.
#include <gtest/gtest.h>

#include "aotgrad/custom_op.h"
#include "aotgrad/export.h"
#include "aotgrad/models.h"
#include "aotgrad/ops.h"
#include "test_util.h"

using namespace aotgrad;
using aotgrad::testing::error_of;

namespace {
// The custom_op demo model's joint file, with its op renamed to one this process has
// never registered (as if read by another process).
std::string joint_file_calling(const std::string& ns) {
  models::Instance inst = models::instantiate(models::find_model("custom_op"));
  std::string text = exporting::joint_to_json(
      exporting::aot_export_joint_with_descriptors(*inst.module, inst.example.args, inst.example.kwargs));
  for (size_t at = text.find("my_lib::"); at != std::string::npos; at = text.find("my_lib::", at + ns.size()))
    text.replace(at, 6, ns);
  return text;
}
}  // namespace

TEST(CustomOpFile, PrintsVerifiesAndSavesWithoutTheImplementation) {
  const std::string text = joint_file_calling("fresh_lib");
  ASSERT_NE(text.find("\"fresh_lib::foo(Tensor x, Tensor y) -> Tensor\""), std::string::npos);
  exporting::JointWithDescriptors joint = exporting::joint_from_json(text);
  const std::string printed = graph::print_readable(*joint.graph_module);
  EXPECT_NE(printed.find("torch.ops.fresh_lib.foo.default(primals_1, primals_2)"), std::string::npos) << printed;
  graph::verify(*joint.graph_module);
  EXPECT_EQ(exporting::joint_to_json(exporting::joint_from_json(exporting::joint_to_json(joint))),
            exporting::joint_to_json(joint));
  // Running it names the op that must be registered.
  std::vector<IValue> inputs;
  for (const graph::Node* p : joint.graph_module->graph->placeholders())
    inputs.emplace_back(ones(p->meta.val.as_tensor().sizes));
  const std::string err = error_of([&] { graph::interpret(*joint.graph_module, inputs); });
  EXPECT_NE(err.find("fresh_lib::foo.default is known here only by the schema"), std::string::npos) << err;
  EXPECT_NE(err.find("register_custom_op"), std::string::npos) << err;
  // Registered afterwards (same schema), the loaded graph runs: foo(x, y) = x + y.
  CustomOpDef def;
  def.name = "fresh_lib::foo";
  def.signature = "(Tensor x, Tensor y) -> Tensor";
  def.cpu = [](const Args& a) { return TensorList{add(a[0].to_tensor(), a[1].to_tensor())}; };
  def.fake = [](const Args& a) { return TensorList{Tensor::meta(a[0].to_tensor().sizes(), DType::Float32)}; };
  register_custom_op(def);
  std::vector<IValue> out = graph::interpret(*joint.graph_module, inputs);
  // The forward output is foo(x, y) * x = (1 + 1) * 1 at every element.
  EXPECT_EQ(out.at(0).to_tensor().to_vector<float>(), std::vector<float>(12, 2.0f));
}

TEST(CustomOpFile, ASchemaThatDiffersFromTheRegisteredOpIsRejected) {
  std::string text = joint_file_calling("my_lib");  // the demo model registered my_lib::foo
  const std::string schema = "my_lib::foo(Tensor x, Tensor y) -> Tensor";
  text.replace(text.find(schema), schema.size(), "my_lib::foo(Tensor x, Tensor y, int k=1) -> Tensor");
  const std::string err = error_of([&] { exporting::joint_from_json(text); });
  EXPECT_NE(err.find("declares my_lib::foo.default as 'my_lib::foo(Tensor x, Tensor y, int k=1) -> Tensor', but this "
                     "process registered it as 'my_lib::foo(Tensor x, Tensor y) -> Tensor'"),
            std::string::npos)
      << err;
  std::string bad = joint_file_calling("my_lib");
  bad.replace(bad.find(schema), schema.size(), "my_lib::foo(Tensor x");
  EXPECT_NE(error_of([&] { exporting::joint_from_json(bad); }).find("does not parse"), std::string::npos);
}
