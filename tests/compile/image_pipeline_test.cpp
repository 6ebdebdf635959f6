// Images through two kernels (Note [Images through two kernels] in
// compile/image_pipeline.cpp): a convolution (its ReLU as an epilogue) whose output
// only a values-alone max pool reads runs with the pool as one instruction, image by
// image, and computes what the two ops do over the whole batch, bit for bit, at 1 and
// 2 threads, run after run, for batches that split evenly and unevenly. Where the
// pool's indices are read, the convolution's output is read elsewhere or returned, or
// the batch is one image, or the option is off, the two stay apart.
#include <gtest/gtest.h>

#include <functional>
#include <string>
#include <tuple>
#include <vector>

#include "aotgrad/compile.h"
#include "aotgrad/ops.h"
#include "aotgrad/random.h"
#include "aotgrad/trace.h"
#include "compile/program.h"
#include "compile/program_outputs.h"
#include "support/parallel.h"

namespace aotgrad {
namespace {

using Fn = testing::TracedFn;

Tensor conv(const Tensor& x, const Tensor& w, const Tensor& b) {
  return convolution(x, w, b, {2, 2}, {0, 0}, {1, 1}, false, {0, 0}, 1);
}
Tensor pool(const Tensor& x) {
  return std::get<0>(max_pool2d_with_indices(x, {3, 3}, {2, 2}));
}

std::unique_ptr<compile::Program> build(const Fn& fn, const TensorList& inputs, bool pipelines = true) {
  compile::CompileOptions options;
  options.pipeline_images = pipelines;
  return compile::Program::build(*trace::make_fx(fn, inputs), options);
}

TensorList first_layer(int64_t images) {
  return {randn({images, 3, 33, 33}), randn({16, 3, 3, 3}), randn({16})};
}

TEST(ImagePipeline, AConvolutionAndItsPoolRunImageByImage) {
  const Fn fn = [](const TensorList& in) { return TensorList{pool(relu(conv(in[0], in[1], in[2])))}; };
  const int threads_before = num_threads();
  for (int threads : {1, 2})
    for (int64_t images : {2, 5}) {
      SCOPED_TRACE(::testing::Message() << threads << " threads, " << images << " images");
      set_num_threads(threads);
      const TensorList inputs = first_layer(images);
      const auto p = build(fn, inputs);
      EXPECT_EQ(p->stats().image_pipelines, 1);
      ASSERT_EQ(p->instructions().size(), 1u) << p->print();
      EXPECT_EQ(p->instructions()[0].label,
                "images[fused[convolution, relu; epilogue]; aten.max_pool2d_with_indices.default]");
      p->verify();
      testing::expect_program_gives(*p, fn, inputs);
    }
  set_num_threads(threads_before);
}

TEST(ImagePipeline, TheTwoStayApartWhereTheyMust) {
  const std::vector<std::pair<std::string, Fn>> apart{
      {"the pool's indices are returned",
       [](const TensorList& in) {
         auto [values, indices] = max_pool2d_with_indices(conv(in[0], in[1], in[2]), {3, 3}, {2, 2});
         return TensorList{values, indices};
       }},
      {"the convolution's output is returned too",
       [](const TensorList& in) {
         const Tensor y = conv(in[0], in[1], in[2]);
         return TensorList{pool(y), y};
       }},
      {"another op reads the convolution's output",
       [](const TensorList& in) {
         const Tensor y = conv(in[0], in[1], in[2]);
         return TensorList{pool(y), sum(y)};
       }},
  };
  const TensorList inputs = first_layer(3);
  for (const auto& [why, fn] : apart) {
    const auto p = build(fn, inputs);
    EXPECT_EQ(p->stats().image_pipelines, 0) << why;
    testing::expect_program_gives(*p, fn, inputs);
  }
  const Fn fn = [](const TensorList& in) { return TensorList{pool(conv(in[0], in[1], in[2]))}; };
  EXPECT_EQ(build(fn, first_layer(1))->stats().image_pipelines, 0) << "one image";
  EXPECT_EQ(build(fn, inputs, false)->stats().image_pipelines, 0) << "with pipeline_images off";
}

}  // namespace
}  // namespace aotgrad
