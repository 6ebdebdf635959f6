// Window parameters shared by the pooling and convolution shape rules and kernels.
#pragma once

#include <string_view>

#include "aotgrad/ivalue.h"

namespace aotgrad::ops {

/// A 2-d pooling window; stride defaults to the kernel size.
struct PoolParams {
  int64_t kh, kw, sh, sw, ph, pw, dh = 1, dw = 1;
  bool ceil = false;
};

/// Reads and checks kernel_size, stride, padding and (optional) dilation.
PoolParams pool_params(const IValue& k, const IValue& s, const IValue& p, const IValue* d, bool ceil,
                       std::string_view op);
/// A 2-d convolution's stride, padding or dilation list: one value stands for both
/// dims; anything but one or two values is a user error naming `op` and `arg`.
IntList window_pair(const IValue& v, std::string_view op, std::string_view arg);
/// Output spatial size of a convolution or pooling window.
int64_t conv_out_size(int64_t in, int64_t k, int64_t stride, int64_t pad, int64_t dil, bool ceil);

}  // namespace aotgrad::ops
