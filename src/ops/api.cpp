// The typed tensor API: each function packs its arguments into IValues in schema
// order and calls the dispatcher. No computation happens here.
#include "aotgrad/ops.h"

#include "ops/dispatch.h"

namespace aotgrad {

using ops::OpId;

namespace {
Tensor c1(OpId id, Args a) {
  return ops::call1(id, std::move(a));
}
template <typename T>
IValue opt(const std::optional<T>& v) {
  return v ? IValue(*v) : IValue(None{});
}
IValue opt_tensor(const Tensor& t) {
  return t.defined() ? IValue(t) : IValue(None{});
}
Tensor2 two(const Outputs& o) {
  return {o[0].to_tensor(), o[1].to_tensor()};
}
Tensor3 three(const Outputs& o) {
  return {o[0].to_opt_tensor(), o[1].to_opt_tensor(), o[2].to_opt_tensor()};
}
}  // namespace

// ---- pointwise ----
Tensor neg(const Tensor& x) {
  return c1(OpId::neg, {x});
}
Tensor abs(const Tensor& x) {
  return c1(OpId::abs, {x});
}
Tensor sgn(const Tensor& x) {
  return c1(OpId::sgn, {x});
}
Tensor sign(const Tensor& x) {
  return c1(OpId::sign, {x});
}
Tensor exp(const Tensor& x) {
  return c1(OpId::exp, {x});
}
Tensor log(const Tensor& x) {
  return c1(OpId::log, {x});
}
Tensor sin(const Tensor& x) {
  return c1(OpId::sin, {x});
}
Tensor cos(const Tensor& x) {
  return c1(OpId::cos, {x});
}
Tensor tanh(const Tensor& x) {
  return c1(OpId::tanh, {x});
}
Tensor sigmoid(const Tensor& x) {
  return c1(OpId::sigmoid, {x});
}
Tensor sqrt(const Tensor& x) {
  return c1(OpId::sqrt, {x});
}
Tensor rsqrt(const Tensor& x) {
  return c1(OpId::rsqrt, {x});
}
Tensor erf(const Tensor& x) {
  return c1(OpId::erf, {x});
}
Tensor reciprocal(const Tensor& x) {
  return c1(OpId::reciprocal, {x});
}
Tensor relu(const Tensor& x) {
  return c1(OpId::relu, {x});
}
Tensor gelu(const Tensor& x, const std::string& approximate) {
  return c1(OpId::gelu, {x, approximate});
}
Tensor logical_not(const Tensor& x) {
  return c1(OpId::logical_not, {x});
}
Tensor threshold_backward(const Tensor& g, const Tensor& self, Scalar th) {
  return c1(OpId::threshold_backward, {g, self, th});
}
Tensor gelu_backward(const Tensor& g, const Tensor& self, const std::string& approximate) {
  return c1(OpId::gelu_backward, {g, self, approximate});
}
Tensor sigmoid_backward(const Tensor& g, const Tensor& out) {
  return c1(OpId::sigmoid_backward, {g, out});
}
Tensor tanh_backward(const Tensor& g, const Tensor& out) {
  return c1(OpId::tanh_backward, {g, out});
}

Tensor add(const Tensor& a, const Tensor& b, Scalar alpha) {
  return c1(OpId::add_Tensor, {a, b, alpha});
}
Tensor add(const Tensor& a, Scalar b, Scalar alpha) {
  return c1(OpId::add_Scalar, {a, b, alpha});
}
Tensor sub(const Tensor& a, const Tensor& b, Scalar alpha) {
  return c1(OpId::sub_Tensor, {a, b, alpha});
}
Tensor sub(const Tensor& a, Scalar b, Scalar alpha) {
  return c1(OpId::sub_Scalar, {a, b, alpha});
}
Tensor rsub(const Tensor& a, Scalar b, Scalar alpha) {
  return c1(OpId::rsub_Scalar, {a, b, alpha});
}
Tensor mul(const Tensor& a, const Tensor& b) {
  return c1(OpId::mul_Tensor, {a, b});
}
Tensor mul(const Tensor& a, Scalar b) {
  return c1(OpId::mul_Scalar, {a, b});
}
Tensor div(const Tensor& a, const Tensor& b) {
  return c1(OpId::div_Tensor, {a, b});
}
Tensor div(const Tensor& a, Scalar b) {
  return c1(OpId::div_Scalar, {a, b});
}
Tensor pow(const Tensor& a, Scalar e) {
  return c1(OpId::pow_Tensor_Scalar, {a, e});
}
Tensor pow(const Tensor& a, const Tensor& e) {
  return c1(OpId::pow_Tensor_Tensor, {a, e});
}
Tensor maximum(const Tensor& a, const Tensor& b) {
  return c1(OpId::maximum, {a, b});
}
Tensor minimum(const Tensor& a, const Tensor& b) {
  return c1(OpId::minimum, {a, b});
}
Tensor eq(const Tensor& a, const Tensor& b) {
  return c1(OpId::eq_Tensor, {a, b});
}
Tensor eq(const Tensor& a, Scalar b) {
  return c1(OpId::eq_Scalar, {a, b});
}
Tensor ne(const Tensor& a, const Tensor& b) {
  return c1(OpId::ne_Tensor, {a, b});
}
Tensor ne(const Tensor& a, Scalar b) {
  return c1(OpId::ne_Scalar, {a, b});
}
Tensor gt(const Tensor& a, const Tensor& b) {
  return c1(OpId::gt_Tensor, {a, b});
}
Tensor gt(const Tensor& a, Scalar b) {
  return c1(OpId::gt_Scalar, {a, b});
}
Tensor ge(const Tensor& a, const Tensor& b) {
  return c1(OpId::ge_Tensor, {a, b});
}
Tensor ge(const Tensor& a, Scalar b) {
  return c1(OpId::ge_Scalar, {a, b});
}
Tensor lt(const Tensor& a, const Tensor& b) {
  return c1(OpId::lt_Tensor, {a, b});
}
Tensor lt(const Tensor& a, Scalar b) {
  return c1(OpId::lt_Scalar, {a, b});
}
Tensor le(const Tensor& a, const Tensor& b) {
  return c1(OpId::le_Tensor, {a, b});
}
Tensor le(const Tensor& a, Scalar b) {
  return c1(OpId::le_Scalar, {a, b});
}
Tensor logical_and(const Tensor& a, const Tensor& b) {
  return c1(OpId::logical_and, {a, b});
}
Tensor where(const Tensor& c, const Tensor& a, const Tensor& b) {
  return c1(OpId::where_self, {c, a, b});
}
Tensor clamp(const Tensor& x, std::optional<Scalar> lo, std::optional<Scalar> hi) {
  return c1(OpId::clamp, {x, opt(lo), opt(hi)});
}
Tensor masked_fill(const Tensor& x, const Tensor& mask, Scalar v) {
  return c1(OpId::masked_fill_Scalar, {x, mask, v});
}

Tensor operator-(const Tensor& x) {
  return neg(x);
}
Tensor operator+(const Tensor& a, const Tensor& b) {
  return add(a, b);
}
Tensor operator-(const Tensor& a, const Tensor& b) {
  return sub(a, b);
}
Tensor operator*(const Tensor& a, const Tensor& b) {
  return mul(a, b);
}
Tensor operator/(const Tensor& a, const Tensor& b) {
  return div(a, b);
}
// Python evaluates `x + 1` as aten.add.Tensor(x, 1): the number travels as a wrapped
// number in the Tensor slot. The operators do the same so graphs print as PyTorch's do;
// the named functions (mul(x, 2.0)) keep ATen C++'s .Scalar overloads.
Tensor operator+(const Tensor& a, Scalar b) {
  return c1(OpId::add_Tensor, {a, b, 1});
}
Tensor operator-(const Tensor& a, Scalar b) {
  return c1(OpId::sub_Tensor, {a, b, 1});
}
Tensor operator*(const Tensor& a, Scalar b) {
  return c1(OpId::mul_Tensor, {a, b});
}
Tensor operator/(const Tensor& a, Scalar b) {
  return c1(OpId::div_Tensor, {a, b});
}
Tensor operator+(Scalar a, const Tensor& b) {
  return c1(OpId::add_Tensor, {b, a, 1});
}
Tensor operator-(Scalar a, const Tensor& b) {
  return rsub(b, a);
}
Tensor operator*(Scalar a, const Tensor& b) {
  return c1(OpId::mul_Tensor, {b, a});
}

// ---- reductions ----
Tensor sum(const Tensor& x, std::optional<DType> dtype) {
  return c1(OpId::sum, {x, opt(dtype)});
}
Tensor sum(const Tensor& x, const IntList& dims, bool keepdim, std::optional<DType> dtype) {
  return c1(OpId::sum_dim_IntList, {x, dims, keepdim, opt(dtype)});
}
Tensor mean(const Tensor& x) {
  return c1(OpId::mean, {x});
}
Tensor mean(const Tensor& x, const IntList& dims, bool keepdim) {
  return c1(OpId::mean_dim, {x, dims, keepdim});
}
Tensor var(const Tensor& x, std::optional<IntList> dims, std::optional<Scalar> correction, bool keepdim) {
  return c1(OpId::var_correction, {x, opt(dims), opt(correction), keepdim});
}
Tensor amax(const Tensor& x, const IntList& dims, bool keepdim) {
  return c1(OpId::amax, {x, dims, keepdim});
}
Tensor amin(const Tensor& x, const IntList& dims, bool keepdim) {
  return c1(OpId::amin, {x, dims, keepdim});
}
Tensor argmax(const Tensor& x, std::optional<int64_t> dim, bool keepdim) {
  return c1(OpId::argmax, {x, opt(dim), keepdim});
}
Tensor _softmax(const Tensor& x, int64_t dim, bool h) {
  return c1(OpId::_softmax, {x, dim, h});
}
Tensor _log_softmax(const Tensor& x, int64_t dim, bool h) {
  return c1(OpId::_log_softmax, {x, dim, h});
}
Tensor _softmax_backward_data(const Tensor& g, const Tensor& out, int64_t dim, DType dt) {
  return c1(OpId::_softmax_backward_data, {g, out, dim, dt});
}
Tensor _log_softmax_backward_data(const Tensor& g, const Tensor& out, int64_t dim, DType dt) {
  return c1(OpId::_log_softmax_backward_data, {g, out, dim, dt});
}
Tensor softmax(const Tensor& x, int64_t dim) {
  return c1(OpId::softmax_int, {x, dim});
}
Tensor log_softmax(const Tensor& x, int64_t dim) {
  return c1(OpId::log_softmax_int, {x, dim});
}

// ---- views ----
Tensor view(const Tensor& x, SizeList s) {
  return c1(OpId::view, {x, s});
}
Tensor _unsafe_view(const Tensor& x, SizeList s) {
  return c1(OpId::_unsafe_view, {x, s});
}
Tensor t(const Tensor& x) {
  return c1(OpId::t, {x});
}
Tensor transpose(const Tensor& x, int64_t a, int64_t b) {
  return c1(OpId::transpose_int, {x, a, b});
}
Tensor permute(const Tensor& x, const IntList& d) {
  return c1(OpId::permute, {x, d});
}
Tensor expand(const Tensor& x, SizeList s) {
  return c1(OpId::expand, {x, s});
}
Tensor unsqueeze(const Tensor& x, int64_t d) {
  return c1(OpId::unsqueeze, {x, d});
}
Tensor squeeze(const Tensor& x, int64_t d) {
  return c1(OpId::squeeze_dim, {x, d});
}
Tensor squeeze(const Tensor& x) {
  return c1(OpId::squeeze, {x});
}
Tensor slice(const Tensor& x, int64_t dim, std::optional<SymInt> start, std::optional<SymInt> end, int64_t step) {
  return c1(OpId::slice_Tensor, {x, dim, opt(start), opt(end), step});
}
Tensor select(const Tensor& x, int64_t dim, int64_t i) {
  return c1(OpId::select_int, {x, dim, i});
}
Tensor as_strided_scatter(const Tensor& x, const Tensor& src, const IntList& s, const IntList& st,
                          std::optional<int64_t> off) {
  return c1(OpId::as_strided_scatter, {x, src, s, st, opt(off)});
}
Tensor as_strided(const Tensor& x, const IntList& s, const IntList& st, std::optional<int64_t> off) {
  return c1(OpId::as_strided, {x, s, st, opt(off)});
}
Tensor alias(const Tensor& x) {
  return c1(OpId::alias, {x});
}
Tensor detach(const Tensor& x) {
  return c1(OpId::detach, {x});
}
TensorList split(const Tensor& x, int64_t size, int64_t dim) {
  return ops::call(OpId::split_Tensor, {x, size, dim})[0].to_tensor_list();
}
TensorList split_with_sizes(const Tensor& x, const IntList& sizes, int64_t dim) {
  return ops::call(OpId::split_with_sizes, {x, sizes, dim})[0].to_tensor_list();
}
Tensor reshape(const Tensor& x, SizeList s) {
  return c1(OpId::reshape, {x, s});
}
Tensor narrow(const Tensor& x, int64_t dim, int64_t start, int64_t len) {
  return c1(OpId::narrow, {x, dim, start, len});
}
TensorList chunk(const Tensor& x, int64_t chunks, int64_t dim) {
  return ops::call(OpId::chunk, {x, chunks, dim})[0].to_tensor_list();
}
Tensor flatten(const Tensor& x, int64_t s, int64_t e) {
  return c1(OpId::flatten_using_ints, {x, s, e});
}
Tensor contiguous(const Tensor& x) {
  return c1(OpId::contiguous, {x});
}

// ---- copies, joins, factories ----
Tensor clone(const Tensor& x) {
  return c1(OpId::clone, {x});
}
Tensor to(const Tensor& x, DType dtype) {
  return c1(OpId::_to_copy, {x, dtype});
}
Tensor cat(const TensorList& ts, int64_t dim) {
  return c1(OpId::cat, {ts, dim});
}
Tensor stack(const TensorList& ts, int64_t dim) {
  return c1(OpId::stack, {ts, dim});
}
Tensor slice_backward(const Tensor& g, SizeList s, int64_t dim, SymInt start, SymInt end, int64_t step) {
  return c1(OpId::slice_backward, {g, s, dim, start, end, step});
}
Tensor select_backward(const Tensor& g, SizeList s, int64_t dim, int64_t index) {
  return c1(OpId::select_backward, {g, s, dim, index});
}
Tensor new_zeros(const Tensor& like, SizeList s, std::optional<DType> dt) {
  return c1(OpId::new_zeros, {like, s, opt(dt)});
}
Tensor new_empty(const Tensor& like, SizeList s, std::optional<DType> dt) {
  return c1(OpId::new_empty, {like, s, opt(dt)});
}
Tensor zeros_like(const Tensor& x, std::optional<DType> dt) {
  return c1(OpId::zeros_like, {x, opt(dt)});
}
Tensor ones_like(const Tensor& x, std::optional<DType> dt) {
  return c1(OpId::ones_like, {x, opt(dt)});
}
Tensor full(SizeList s, Scalar v, DType dt) {
  return c1(OpId::full, {s, v, dt});
}
Tensor zeros(SizeList s, DType dt) {
  return full(s, Scalar(int64_t{0}), dt);
}
Tensor ones(SizeList s, DType dt) {
  return full(s, Scalar(int64_t{1}), dt);
}
Tensor scalar_tensor(Scalar v, DType dt) {
  return c1(OpId::scalar_tensor, {v, dt});
}
Tensor triu(const Tensor& x, int64_t d) {
  return c1(OpId::triu, {x, d});
}

// ---- in place ----
Tensor copy_(const Tensor& self, const Tensor& src) {
  return c1(OpId::copy_, {self, src});
}
Tensor add_(const Tensor& self, const Tensor& o, Scalar alpha) {
  return c1(OpId::add__Tensor, {self, o, alpha});
}
Tensor add_(const Tensor& self, Scalar o, Scalar alpha) {
  return c1(OpId::add__Tensor, {self, o, alpha});
}
Tensor mul_(const Tensor& self, const Tensor& o) {
  return c1(OpId::mul__Tensor, {self, o});
}
Tensor fill_(const Tensor& self, Scalar v) {
  return c1(OpId::fill__Scalar, {self, v});
}
Tensor zero_(const Tensor& self) {
  return c1(OpId::zero_, {self});
}
Tensor index_put_(const Tensor& self, const TensorList& idx, const Tensor& v, bool acc) {
  return c1(OpId::index_put_, {self, idx, v, acc});
}

// ---- matrix multiply ----
Tensor mm(const Tensor& a, const Tensor& b) {
  return c1(OpId::mm, {a, b});
}
Tensor addmm(const Tensor& bias, const Tensor& a, const Tensor& b, Scalar beta, Scalar alpha) {
  return c1(OpId::addmm, {bias, a, b, beta, alpha});
}
Tensor bmm(const Tensor& a, const Tensor& b) {
  return c1(OpId::bmm, {a, b});
}
Tensor matmul(const Tensor& a, const Tensor& b) {
  return c1(OpId::matmul, {a, b});
}
Tensor linear(const Tensor& x, const Tensor& w, const Tensor& b) {
  return c1(OpId::linear, {x, w, opt_tensor(b)});
}

// ---- convolution ----
Tensor convolution(const Tensor& input, const Tensor& weight, const Tensor& bias, const IntList& stride,
                   const IntList& padding, const IntList& dilation, bool transposed, const IntList& output_padding,
                   int64_t groups) {
  return c1(OpId::convolution,
            {input, weight, opt_tensor(bias), stride, padding, dilation, transposed, output_padding, groups});
}
Tensor3 convolution_backward(const Tensor& g, const Tensor& input, const Tensor& weight,
                             std::optional<IntList> bias_sizes, const IntList& stride, const IntList& padding,
                             const IntList& dilation, bool transposed, const IntList& output_padding, int64_t groups,
                             const BoolList& mask) {
  return three(ops::call(OpId::convolution_backward, {g, input, weight, opt(bias_sizes), stride, padding, dilation,
                                                      transposed, output_padding, groups, mask}));
}
Tensor conv2d(const Tensor& input, const Tensor& weight, const Tensor& bias, IntList stride, IntList padding,
              IntList dilation, int64_t groups) {
  return convolution(input, weight, bias, stride, padding, dilation, false, {0, 0}, groups);
}

// ---- normalisation ----
Tensor5 _native_batch_norm_legit_functional(const Tensor& input, const Tensor& w, const Tensor& b, const Tensor& rm,
                                            const Tensor& rv, bool training, double momentum, double eps) {
  Outputs o = ops::call(OpId::_native_batch_norm_legit_functional,
                        {input, opt_tensor(w), opt_tensor(b), rm, rv, training, momentum, eps});
  return {o[0].to_tensor(), o[1].to_tensor(), o[2].to_tensor(), o[3].to_tensor(), o[4].to_tensor()};
}
Tensor3 _native_batch_norm_legit_no_training(const Tensor& input, const Tensor& w, const Tensor& b, const Tensor& rm,
                                             const Tensor& rv, double momentum, double eps) {
  return three(ops::call(OpId::_native_batch_norm_legit_no_training,
                         {input, opt_tensor(w), opt_tensor(b), rm, rv, momentum, eps}));
}
Tensor3 native_batch_norm_backward(const Tensor& g, const Tensor& input, const Tensor& w, const Tensor& rm,
                                   const Tensor& rv, const Tensor& sm, const Tensor& si, bool train, double eps,
                                   const BoolList& mask) {
  return three(ops::call(OpId::native_batch_norm_backward, {g, input, opt_tensor(w), opt_tensor(rm), opt_tensor(rv),
                                                            opt_tensor(sm), opt_tensor(si), train, eps, mask}));
}
Tensor3 native_layer_norm(const Tensor& input, const IntList& shape, const Tensor& w, const Tensor& b, double eps) {
  return three(ops::call(OpId::native_layer_norm, {input, shape, opt_tensor(w), opt_tensor(b), eps}));
}
Tensor3 native_layer_norm_backward(const Tensor& g, const Tensor& input, const IntList& shape, const Tensor& mean,
                                   const Tensor& rstd, const Tensor& w, const Tensor& b, const BoolList& mask) {
  return three(
      ops::call(OpId::native_layer_norm_backward, {g, input, shape, mean, rstd, opt_tensor(w), opt_tensor(b), mask}));
}

// ---- pooling ----
Tensor2 max_pool2d_with_indices(const Tensor& x, const IntList& k, const IntList& s, const IntList& p, const IntList& d,
                                bool ceil) {
  return two(ops::call(OpId::max_pool2d_with_indices, {x, k, s, p, d, ceil}));
}
Tensor max_pool2d_with_indices_backward(const Tensor& g, const Tensor& x, const IntList& k, const IntList& s,
                                        const IntList& p, const IntList& d, bool ceil, const Tensor& idx) {
  return c1(OpId::max_pool2d_with_indices_backward, {g, x, k, s, p, d, ceil, idx});
}
Tensor avg_pool2d(const Tensor& x, const IntList& k, const IntList& s, const IntList& p, bool ceil, bool cip) {
  return c1(OpId::avg_pool2d, {x, k, s, p, ceil, cip});
}
Tensor avg_pool2d_backward(const Tensor& g, const Tensor& x, const IntList& k, const IntList& s, const IntList& p,
                           bool ceil, bool cip) {
  return c1(OpId::avg_pool2d_backward, {g, x, k, s, p, ceil, cip, None{}});
}
Tensor _adaptive_avg_pool2d(const Tensor& x, const IntList& os) {
  return c1(OpId::_adaptive_avg_pool2d, {x, os});
}
Tensor _adaptive_avg_pool2d_backward(const Tensor& g, const Tensor& x) {
  return c1(OpId::_adaptive_avg_pool2d_backward, {g, x});
}

// ---- losses ----
Tensor2 nll_loss_forward(const Tensor& x, const Tensor& target, const Tensor& w, int64_t red, int64_t ignore) {
  return two(ops::call(OpId::nll_loss_forward, {x, target, opt_tensor(w), red, ignore}));
}
Tensor nll_loss_backward(const Tensor& g, const Tensor& x, const Tensor& target, const Tensor& w, int64_t red,
                         int64_t ignore, const Tensor& tw) {
  return c1(OpId::nll_loss_backward, {g, x, target, opt_tensor(w), red, ignore, tw});
}
Tensor mse_loss(const Tensor& x, const Tensor& target, int64_t red) {
  return c1(OpId::mse_loss, {x, target, red});
}
Tensor mse_loss_backward(const Tensor& g, const Tensor& x, const Tensor& target, int64_t red) {
  return c1(OpId::mse_loss_backward, {g, x, target, red});
}
Tensor cross_entropy(const Tensor& logits, const Tensor& target, int64_t red, int64_t ignore) {
  return c1(OpId::cross_entropy_loss, {logits, target, None{}, red, ignore});
}

// ---- indexing ----
Tensor index(const Tensor& x, const TensorList& idx) {
  return c1(OpId::index_Tensor, {x, idx});
}
Tensor index_put(const Tensor& x, const TensorList& idx, const Tensor& v, bool acc) {
  return c1(OpId::index_put, {x, idx, v, acc});
}
Tensor embedding(const Tensor& w, const Tensor& idx, int64_t pad) {
  return c1(OpId::embedding, {w, idx, pad});
}
Tensor embedding_dense_backward(const Tensor& g, const Tensor& idx, int64_t n, int64_t pad, bool scale) {
  return c1(OpId::embedding_dense_backward, {g, idx, n, pad, scale});
}

Tensor all_reduce(const Tensor& x, const std::string& reduce_op, const std::string& group_name) {
  return c1(OpId::c10d_all_reduce, {x, reduce_op, group_name});
}
Tensor all_gather_into_tensor(const Tensor& x, int64_t group_size, const std::string& group_name) {
  return c1(OpId::c10d_all_gather_into_tensor, {x, group_size, group_name});
}
Tensor reduce_scatter_tensor(const Tensor& x, const std::string& reduce_op, int64_t group_size,
                             const std::string& group_name) {
  return c1(OpId::c10d_reduce_scatter_tensor, {x, reduce_op, group_size, group_name});
}
Tensor wait_tensor(const Tensor& x) {
  return c1(OpId::c10d_wait_tensor, {x});
}

}  // namespace aotgrad
