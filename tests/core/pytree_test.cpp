#include <gtest/gtest.h>

#include "aotgrad/error.h"
#include "aotgrad/pytree.h"

using namespace aotgrad;
using namespace aotgrad::pytree;

TEST(Pytree, FlattenUnflattenRoundTrip) {
  Value v = Value::tuple({Value::list({Value(IValue(int64_t{1})), Value(Tensor::zeros({2}))}),
                          Value::dict({{"scale", Value(IValue(2.0))}, {"none", Value()}})});
  auto [leaves, spec] = flatten(v);
  ASSERT_EQ(leaves.size(), 4u);
  EXPECT_EQ(spec.str(),
            "TreeSpec(tuple, None, [TreeSpec(list, None, [*, *]), TreeSpec(dict, ['scale', 'none'], [*, *])])");
  Value back = unflatten(leaves, spec);
  EXPECT_EQ(back[1].at("scale").leaf().to_double(), 2.0);
  EXPECT_EQ(back[0][1].tensor().sizes(), (Shape{2}));
  EXPECT_THROW(unflatten({leaves[0]}, spec), Error);
}
