#include <gtest/gtest.h>

#include "aotgrad/ops.h"
#include "aotgrad/tensor.h"

using namespace aotgrad;

TEST(Tensor, ViewsShareStorage) {
  Tensor x = Tensor::from_vector<float>({1, 2, 3, 4, 5, 6}, {2, 3});
  Tensor y = t(x);
  EXPECT_EQ(y.sizes(), (Shape{3, 2}));
  EXPECT_FALSE(y.is_contiguous());
  EXPECT_EQ(y.to_vector<float>(), (std::vector<float>{1, 4, 2, 5, 3, 6}));
  fill_(x, 7);
  EXPECT_EQ(y.to_vector<float>()[3], 7);
}
