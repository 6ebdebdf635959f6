// PyTorch's own test of this API, method by method (pytorch/pytorch,
// test/functorch/test_aot_joint_with_descriptors.py; issue 15). Each TEST is named
// after the upstream method, uses the same model and input shapes (the built-in
// model of that name; models/golden_models.cpp mirrors upstream's classes) and makes
// the same assertions. Expected graph text is upstream's inline text, compared as
// upstream compares it (normalize_gm: full-line comments dropped, trailing spaces
// stripped). Where C++ has no counterpart of a Python step, the comment at the test
// says what stands in for it.
#include <gtest/gtest.h>

#include "aotgrad/annotate.h"
#include "aotgrad/autograd.h"
#include "aotgrad/compile.h"
#include "aotgrad/custom_op.h"
#include "aotgrad/export.h"
#include "aotgrad/models.h"
#include "aotgrad/nn.h"
#include "aotgrad/ops.h"
#include "aotgrad/random.h"
#include "aotgrad/trace.h"
#include "aotgrad/warning.h"
#include "joint_test_util.h"
#include "test_util.h"

using namespace aotgrad;
using namespace aotgrad::testing::upstream;
using aotgrad::testing::normalize_gm;
using aotgrad::testing::read_file;

TEST(TestAOTJointWithDescriptors, test_simple_linear_module) {
  Exported e = export_model("simple_linear", decomposed());
  EXPECT_EQ(printed(e.joint), R"(class inner_f(torch.nn.Module):
    def forward(
        self,
        primals,
        tangents,
    ):
        primals_1: "f32[2, 3]"  # ParamAOTInput(target='linear.weight')
        primals_2: "f32[2]"  # ParamAOTInput(target='linear.bias')
        primals_3: "f32[4, 3]"  # PlainAOTInput(idx=0)
        tangents_1: "f32[4, 2]"  # TangentAOTInput(output=PlainAOTOutput(idx=0))
        primals_1, primals_2, primals_3, tangents_1, = fx_pytree.tree_flatten_spec([primals, tangents], self._in_spec)
        transpose: "f32[3, 2]" = torch.ops.prims.transpose.default(primals_1, [1, 0]);  primals_1 = None
        mm: "f32[4, 2]" = torch.ops.aten.mm.default(primals_3, transpose);  transpose = None
        mul: "f32[4, 2]" = torch.ops.prims.mul.default(mm, 1.0);  mm = None
        mul_1: "f32[2]" = torch.ops.prims.mul.default(primals_2, 1.0);  primals_2 = None
        broadcast_in_dim: "f32[4, 2]" = torch.ops.prims.broadcast_in_dim.default(mul_1, [4, 2], [1]);  mul_1 = None
        add: "f32[4, 2]" = torch.ops.prims.add.default(mul, broadcast_in_dim);  mul = broadcast_in_dim = None
        transpose_1: "f32[2, 4]" = torch.ops.prims.transpose.default(tangents_1, [1, 0])
        mm_1: "f32[2, 3]" = torch.ops.aten.mm.default(transpose_1, primals_3);  transpose_1 = primals_3 = None
        transpose_2: "f32[3, 2]" = torch.ops.prims.transpose.default(mm_1, [1, 0]);  mm_1 = None
        sum_1: "f32[2]" = torch.ops.prims.sum.default(tangents_1, [0]);  tangents_1 = None
        broadcast_in_dim_1: "f32[1, 2]" = torch.ops.prims.broadcast_in_dim.default(sum_1, [1, 2], [1]);  sum_1 = None
        as_strided: "f32[2]" = torch.ops.aten.as_strided.default(broadcast_in_dim_1, [2], [1]);  broadcast_in_dim_1 = None
        transpose_3: "f32[2, 3]" = torch.ops.prims.transpose.default(transpose_2, [1, 0]);  transpose_2 = None
        return pytree.tree_unflatten([
            add,  # PlainAOTOutput(idx=0)
            transpose_3,  # GradAOTOutput(grad_of=ParamAOTInput(target='linear.weight'))
            as_strided,  # GradAOTOutput(grad_of=ParamAOTInput(target='linear.bias'))
            None,  # None
        ], self._out_spec)
)");
  expect_compiled_equals_eager(e);
}

TEST(TestAOTJointWithDescriptors, test_conv_bn_module) {
  Exported e = export_model("conv_bn", decomposed());
  for (const char* name : {"conv.weight", "conv.bias", "bn.weight", "bn.bias"})
    EXPECT_NE(std::find(e.joint.params_spec.begin(), e.joint.params_spec.end(), name), e.joint.params_spec.end())
        << name;
  for (const char* name : {"bn.running_mean", "bn.running_var", "bn.num_batches_tracked"})
    EXPECT_NE(std::find(e.joint.buffers_spec.begin(), e.joint.buffers_spec.end(), name), e.joint.buffers_spec.end())
        << name;
  // Upstream's inline text, in a file the CLI test compares `export --decompose` with too.
  EXPECT_EQ(printed(e.joint), read_file(AOTGRAD_TEST_DATA "/upstream_conv_bn_decomposed.txt"));
  expect_compiled_equals_eager(e, 1e-4);
}

// Upstream exports from the dynamo-captured graph; here from capture_forward's.
TEST(TestAOTJointWithDescriptors, test_module_with_kwargs) {
  models::Instance inst = models::instantiate(models::find_model("module_with_kwargs"));
  auto gm = exporting::capture_forward(*inst.module, inst.example.args, inst.example.kwargs);
  Exported e{std::move(inst), {}};
  e.joint = exporting::aot_export_joint_with_descriptors(*gm, e.inst.example.args, e.inst.example.kwargs, decomposed());
  EXPECT_EQ(without_blank_lines(printed(e.joint)), R"(class inner_f(torch.nn.Module):
    def forward(
        self,
        primals,
        tangents,
    ):
        primals_1: "f32[2, 3]"  # ParamAOTInput(target='linear.weight')
        primals_2: "f32[2]"  # ParamAOTInput(target='linear.bias')
        primals_3: "f32[4, 3]"  # PlainAOTInput(idx=0)
        primals_4: "f32[]"  # PlainAOTInput(idx=1)
        tangents_1: "f32[4, 2]"  # TangentAOTInput(output=PlainAOTOutput(idx=0))
        primals_1, primals_2, primals_3, primals_4, tangents_1, = fx_pytree.tree_flatten_spec([primals, tangents], self._in_spec)
        transpose: "f32[3, 2]" = torch.ops.prims.transpose.default(primals_1, [1, 0]);  primals_1 = None
        mm: "f32[4, 2]" = torch.ops.aten.mm.default(primals_3, transpose);  transpose = None
        mul: "f32[4, 2]" = torch.ops.prims.mul.default(mm, 1.0);  mm = None
        mul_1: "f32[2]" = torch.ops.prims.mul.default(primals_2, 1.0);  primals_2 = None
        broadcast_in_dim: "f32[4, 2]" = torch.ops.prims.broadcast_in_dim.default(mul_1, [4, 2], [1]);  mul_1 = None
        add: "f32[4, 2]" = torch.ops.prims.add.default(mul, broadcast_in_dim);  mul = broadcast_in_dim = None
        mul_2: "f32[4, 2]" = torch.ops.prims.mul.default(add, primals_4);  add = None
        mul_3: "f32[4, 2]" = torch.ops.prims.mul.default(tangents_1, primals_4);  tangents_1 = primals_4 = None
        transpose_1: "f32[2, 4]" = torch.ops.prims.transpose.default(mul_3, [1, 0])
        mm_1: "f32[2, 3]" = torch.ops.aten.mm.default(transpose_1, primals_3);  transpose_1 = primals_3 = None
        transpose_2: "f32[3, 2]" = torch.ops.prims.transpose.default(mm_1, [1, 0]);  mm_1 = None
        sum_1: "f32[2]" = torch.ops.prims.sum.default(mul_3, [0]);  mul_3 = None
        broadcast_in_dim_1: "f32[1, 2]" = torch.ops.prims.broadcast_in_dim.default(sum_1, [1, 2], [1]);  sum_1 = None
        as_strided: "f32[2]" = torch.ops.aten.as_strided.default(broadcast_in_dim_1, [2], [1]);  broadcast_in_dim_1 = None
        transpose_3: "f32[2, 3]" = torch.ops.prims.transpose.default(transpose_2, [1, 0]);  transpose_2 = None
        return pytree.tree_unflatten([
            mul_2,  # PlainAOTOutput(idx=0)
            transpose_3,  # GradAOTOutput(grad_of=ParamAOTInput(target='linear.weight'))
            as_strided,  # GradAOTOutput(grad_of=ParamAOTInput(target='linear.bias'))
            None,  # None
            None,  # None
        ], self._out_spec))");
  expect_compiled_equals_eager(e);
}

TEST(TestAOTJointWithDescriptors, test_multiple_outputs_module) {
  Exported e = export_model("multi_output", decomposed());
  EXPECT_EQ(printed(e.joint), R"(class inner_f(torch.nn.Module):
    def forward(
        self,
        primals,
        tangents,
    ):
        primals_1: "f32[2, 3]"  # ParamAOTInput(target='linear1.weight')
        primals_2: "f32[2]"  # ParamAOTInput(target='linear1.bias')
        primals_3: "f32[4, 3]"  # ParamAOTInput(target='linear2.weight')
        primals_4: "f32[4]"  # ParamAOTInput(target='linear2.bias')
        primals_5: "f32[4, 3]"  # PlainAOTInput(idx=0)
        tangents_1: "f32[4, 2]"  # TangentAOTInput(output=PlainAOTOutput(idx=0))
        tangents_2: "f32[4, 4]"  # TangentAOTInput(output=PlainAOTOutput(idx=1))
        primals_1, primals_2, primals_3, primals_4, primals_5, tangents_1, tangents_2, = fx_pytree.tree_flatten_spec([primals, tangents], self._in_spec)
        transpose: "f32[3, 2]" = torch.ops.prims.transpose.default(primals_1, [1, 0]);  primals_1 = None
        mm: "f32[4, 2]" = torch.ops.aten.mm.default(primals_5, transpose);  transpose = None
        mul: "f32[4, 2]" = torch.ops.prims.mul.default(mm, 1.0);  mm = None
        mul_1: "f32[2]" = torch.ops.prims.mul.default(primals_2, 1.0);  primals_2 = None
        broadcast_in_dim: "f32[4, 2]" = torch.ops.prims.broadcast_in_dim.default(mul_1, [4, 2], [1]);  mul_1 = None
        add: "f32[4, 2]" = torch.ops.prims.add.default(mul, broadcast_in_dim);  mul = broadcast_in_dim = None
        transpose_1: "f32[3, 4]" = torch.ops.prims.transpose.default(primals_3, [1, 0]);  primals_3 = None
        mm_1: "f32[4, 4]" = torch.ops.aten.mm.default(primals_5, transpose_1);  transpose_1 = None
        mul_2: "f32[4, 4]" = torch.ops.prims.mul.default(mm_1, 1.0);  mm_1 = None
        mul_3: "f32[4]" = torch.ops.prims.mul.default(primals_4, 1.0);  primals_4 = None
        broadcast_in_dim_1: "f32[4, 4]" = torch.ops.prims.broadcast_in_dim.default(mul_3, [4, 4], [1]);  mul_3 = None
        add_1: "f32[4, 4]" = torch.ops.prims.add.default(mul_2, broadcast_in_dim_1);  mul_2 = broadcast_in_dim_1 = None
        transpose_2: "f32[4, 4]" = torch.ops.prims.transpose.default(tangents_2, [1, 0])
        mm_2: "f32[4, 3]" = torch.ops.aten.mm.default(transpose_2, primals_5);  transpose_2 = None
        transpose_3: "f32[3, 4]" = torch.ops.prims.transpose.default(mm_2, [1, 0]);  mm_2 = None
        sum_1: "f32[4]" = torch.ops.prims.sum.default(tangents_2, [0]);  tangents_2 = None
        broadcast_in_dim_2: "f32[1, 4]" = torch.ops.prims.broadcast_in_dim.default(sum_1, [1, 4], [1]);  sum_1 = None
        as_strided: "f32[4]" = torch.ops.aten.as_strided.default(broadcast_in_dim_2, [4], [1]);  broadcast_in_dim_2 = None
        transpose_4: "f32[4, 3]" = torch.ops.prims.transpose.default(transpose_3, [1, 0]);  transpose_3 = None
        transpose_5: "f32[2, 4]" = torch.ops.prims.transpose.default(tangents_1, [1, 0])
        mm_3: "f32[2, 3]" = torch.ops.aten.mm.default(transpose_5, primals_5);  transpose_5 = primals_5 = None
        transpose_6: "f32[3, 2]" = torch.ops.prims.transpose.default(mm_3, [1, 0]);  mm_3 = None
        sum_2: "f32[2]" = torch.ops.prims.sum.default(tangents_1, [0]);  tangents_1 = None
        broadcast_in_dim_3: "f32[1, 2]" = torch.ops.prims.broadcast_in_dim.default(sum_2, [1, 2], [1]);  sum_2 = None
        as_strided_1: "f32[2]" = torch.ops.aten.as_strided.default(broadcast_in_dim_3, [2], [1]);  broadcast_in_dim_3 = None
        transpose_7: "f32[2, 3]" = torch.ops.prims.transpose.default(transpose_6, [1, 0]);  transpose_6 = None
        return pytree.tree_unflatten([
            add,  # PlainAOTOutput(idx=0)
            add_1,  # PlainAOTOutput(idx=1)
            transpose_7,  # GradAOTOutput(grad_of=ParamAOTInput(target='linear1.weight'))
            as_strided_1,  # GradAOTOutput(grad_of=ParamAOTInput(target='linear1.bias'))
            transpose_4,  # GradAOTOutput(grad_of=ParamAOTInput(target='linear2.weight'))
            as_strided,  # GradAOTOutput(grad_of=ParamAOTInput(target='linear2.bias'))
            None,  # None
        ], self._out_spec)
)");
  expect_compiled_equals_eager(e);
}

TEST(TestAOTJointWithDescriptors, test_in_out_specs) {
  Exported e = export_model("simple_linear", decomposed());
  // in_spec/out_spec are values here, never "None"; they describe ((x,), {}) and one leaf.
  EXPECT_EQ(e.joint.in_spec.str(),
            pytree::flatten(pytree::Value::tuple({pytree::Value::tuple(e.inst.example.args), pytree::Value::dict({})}))
                .second.str());
  EXPECT_EQ(e.joint.out_spec.num_leaves(), 1u);
  EXPECT_NE(std::find(e.joint.params_spec.begin(), e.joint.params_spec.end(), "linear.weight"),
            e.joint.params_spec.end());
  EXPECT_NE(std::find(e.joint.params_spec.begin(), e.joint.params_spec.end(), "linear.bias"),
            e.joint.params_spec.end());
  EXPECT_EQ(e.joint.buffers_spec.size(), 0u);  // no buffers in simple linear
  expect_compiled_equals_eager(e);
}

TEST(TestAOTJointWithDescriptors, test_fx_utils_simple_linear) {
  Exported e = export_model("simple_linear", decomposed());
  const graph::GraphModule& gm = *e.joint.graph_module;
  auto named_params = exporting::get_named_param_nodes(gm);
  ASSERT_EQ(named_params.size(), 2u);
  EXPECT_EQ(named_params[0].first, "linear.weight");
  EXPECT_EQ(named_params[1].first, "linear.bias");
  EXPECT_EQ(exporting::get_named_buffer_nodes(gm).size(), 0u);
  EXPECT_EQ(exporting::get_all_input_and_grad_nodes(gm).size(), 4u);  // 2 params + 1 input + 1 tangent
  auto param_grads = exporting::get_param_and_grad_nodes(gm);
  EXPECT_EQ(param_grads.size(), 2u);
  for (const auto& [param, grad] : param_grads) {
    EXPECT_EQ(param->meta.desc->kind(), Descriptor::Kind::ParamInput);
    EXPECT_NE(grad, nullptr);  // parameters have gradients
  }
  auto plain_input_grads = exporting::get_plain_input_and_grad_nodes(gm);
  ASSERT_EQ(plain_input_grads.size(), 1u);
  EXPECT_EQ(plain_input_grads[0].input->meta.desc->kind(), Descriptor::Kind::PlainInput);
  EXPECT_EQ(plain_input_grads[0].grad, nullptr);                          // the input needs no gradient
  EXPECT_EQ(exporting::get_all_output_and_tangent_nodes(gm).size(), 3u);  // 1 output + 2 grad outputs
  auto plain_output_tangents = exporting::get_plain_output_and_tangent_nodes(gm);
  ASSERT_EQ(plain_output_tangents.size(), 1u);
  EXPECT_NE(plain_output_tangents[0].output, nullptr);
  EXPECT_NE(plain_output_tangents[0].tangent, nullptr);
}

TEST(TestAOTJointWithDescriptors, test_fx_utils_conv_bn_module) {
  Exported e = export_model("conv_bn", decomposed());
  const graph::GraphModule& gm = *e.joint.graph_module;
  std::vector<std::string> params, buffers;
  for (const auto& [name, node] : exporting::get_named_param_nodes(gm)) params.push_back(name);
  for (const auto& [name, node] : exporting::get_named_buffer_nodes(gm)) buffers.push_back(name);
  EXPECT_EQ(params, (std::vector<std::string>{"conv.weight", "conv.bias", "bn.weight", "bn.bias"}));
  EXPECT_EQ(buffers, (std::vector<std::string>{"bn.running_mean", "bn.running_var", "bn.num_batches_tracked"}));
  auto all_inputs = exporting::get_all_input_and_grad_nodes(gm);
  EXPECT_EQ(all_inputs.size(), 9u);  // 4 params + 3 buffers + 1 input + 1 tangent
  int buffer_count = 0;
  for (const auto& [node, grad] : all_inputs)
    if (node->meta.desc->kind() == Descriptor::Kind::BufferInput) ++buffer_count;
  EXPECT_EQ(buffer_count, 3);
}

TEST(TestAOTJointWithDescriptors, test_fx_utils_multiple_outputs) {
  Exported e = export_model("multi_output", decomposed());
  const graph::GraphModule& gm = *e.joint.graph_module;
  EXPECT_EQ(exporting::get_all_output_and_tangent_nodes(gm).size(), 6u);  // 2 outputs + 4 grad outputs
  auto plain = exporting::get_plain_output_and_tangent_nodes(gm);
  EXPECT_EQ(plain.size(), 2u);
  for (const auto& [output, tangent] : plain) {
    EXPECT_NE(output, nullptr);
    EXPECT_NE(tangent, nullptr);  // each output has a tangent
  }
  auto param_grads = exporting::get_param_and_grad_nodes(gm);
  EXPECT_EQ(param_grads.size(), 4u);  // 2 weights + 2 biases
  for (const auto& [param, grad] : param_grads) EXPECT_NE(grad, nullptr);
}

TEST(TestAOTJointWithDescriptors, test_fx_utils_node_consistency) {
  Exported e = export_model("simple_linear", decomposed());
  const graph::GraphModule& gm = *e.joint.graph_module;
  auto named = exporting::get_named_param_nodes(gm);
  auto param_grads = exporting::get_param_and_grad_nodes(gm);
  auto lookup = [&](const std::string& fqn) -> graph::Node* {
    for (const auto& [name, node] : named)
      if (name == fqn) return node;
    return nullptr;
  };
  // get_param_nodes is get_named_param_nodes' nodes.
  EXPECT_EQ(param_grads.size(), named.size());
  for (const auto& [param, grad] : param_grads) EXPECT_EQ(param, lookup(param->meta.desc->target()));
  int param_count = 0;
  for (const auto& [input, grad] : exporting::get_all_input_and_grad_nodes(gm))
    if (input->meta.desc->kind() == Descriptor::Kind::ParamInput) {
      ++param_count;
      EXPECT_EQ(input, lookup(input->meta.desc->target()));
    }
  EXPECT_EQ(param_count, static_cast<int>(named.size()));
}

// Upstream wraps the compiled function in torch.compile before calling it; C++ has no
// second compiler to wrap it in, so the compiled function is called directly.
TEST(TestAOTJointWithDescriptors, test_export_and_compile) {
  models::Instance inst = models::instantiate(models::find_model("simple_linear"));
  auto joint = exporting::aot_export_joint_with_descriptors(*inst.module, inst.example.args);
  compile::CompiledFunction fn = compile::aot_compile_joint_with_descriptors(joint);
  Tensor out = fn.call_module(*inst.module, inst.example.args).tensor();
  autograd::backward(sum(out));
  EXPECT_TRUE(inst.module->named_parameters()[0].second.grad().defined());  // linear.weight.grad
}
