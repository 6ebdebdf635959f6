// In-place writes into views (Note [In-place writes into views]).
#include <gtest/gtest.h>

#include "aotgrad/autograd.h"
#include "aotgrad/error.h"
#include "aotgrad/ops.h"

using namespace aotgrad;

TEST(InplaceView, IndexPutIntoViewRoutesGradientToValues) {
  // buf = zeros(5, 3); buf[:, :][idx] = x; out = buf[:-1] * w  =>  dx[i] = w[idx[i]]
  Tensor x = Tensor::from_vector<double>({1, 2, 3, 4, 5, 6}, {2, 3});
  x.set_requires_grad();
  Tensor buf = new_zeros(x, {5, 3});
  Tensor idx = Tensor::from_vector<int64_t>({3, 1}, {2});
  index_put_(slice(buf, 1, 0, 3), {idx}, x);
  EXPECT_TRUE(buf.requires_grad());
  Tensor w = Tensor::from_vector<double>({1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}, {4, 3});
  Tensor out = sum(mul(slice(buf, 0, 0, -1), w));
  TensorList g = autograd::grad({out}, {x});
  EXPECT_EQ(g[0].to_vector<double>(), (std::vector<double>{10, 11, 12, 4, 5, 6}));
}

TEST(InplaceView, AddIntoViewKeepsGradientOfTheBase) {
  // y = a * 1; y[1:] += b; loss = sum(y * c)  => da = c, db = c[1:]
  Tensor a = Tensor::from_vector<double>({1, 2, 3}, {3});
  Tensor b = Tensor::from_vector<double>({5, 7}, {2});
  a.set_requires_grad();
  b.set_requires_grad();
  Tensor y = mul(a, Tensor::scalar<double>(1.0));
  add_(slice(y, 0, 1, 3), b);
  Tensor c = Tensor::from_vector<double>({2, 3, 4}, {3});
  TensorList g = autograd::grad({sum(mul(y, c))}, {a, b});
  EXPECT_EQ(y.to_vector<double>(), (std::vector<double>{1, 7, 10}));
  EXPECT_EQ(g[0].to_vector<double>(), (std::vector<double>{2, 3, 4}));
  EXPECT_EQ(g[1].to_vector<double>(), (std::vector<double>{3, 4}));
}

TEST(InplaceView, WriteIntoViewOfLeafRequiringGradIsAnError) {
  Tensor a = Tensor::from_vector<double>({1, 2, 3}, {3});
  a.set_requires_grad();
  try {
    Tensor v = slice(a, 0, 0, 2);
    add_(v, Tensor::from_vector<double>({1, 1}, {2}));
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("a view of a leaf tensor that requires grad"), std::string::npos);
  }
}
