// The tensor API: one typed function per op of the op table (src/ops/op_table.def).
//
// Every function packs its arguments and goes through the dispatcher, so eager
// execution, autograd and tracing all see the same calls. Derivative formulas and
// decompositions are written with these functions. Names and argument order follow
// PyTorch's ATen (torch.ops.aten.*), with a few Python-level conveniences
// (operators, reshape, softmax, cross_entropy) that decompose into table ops.
#pragma once

#include <optional>
#include <tuple>

#include "aotgrad/ivalue.h"
#include "aotgrad/tensor.h"

namespace aotgrad {

using Tensor2 = std::tuple<Tensor, Tensor>;
using Tensor3 = std::tuple<Tensor, Tensor, Tensor>;
using Tensor5 = std::tuple<Tensor, Tensor, Tensor, Tensor, Tensor>;

// ---- pointwise ----
Tensor neg(const Tensor& x);
Tensor abs(const Tensor& x);
Tensor sgn(const Tensor& x);
Tensor sign(const Tensor& x);
Tensor exp(const Tensor& x);
Tensor log(const Tensor& x);
Tensor sin(const Tensor& x);
Tensor cos(const Tensor& x);
Tensor tanh(const Tensor& x);
Tensor sigmoid(const Tensor& x);
Tensor sqrt(const Tensor& x);
Tensor rsqrt(const Tensor& x);
Tensor erf(const Tensor& x);
Tensor reciprocal(const Tensor& x);
Tensor relu(const Tensor& x);
Tensor gelu(const Tensor& x, const std::string& approximate = "none");
Tensor logical_not(const Tensor& x);
Tensor threshold_backward(const Tensor& grad, const Tensor& self, Scalar threshold);
Tensor gelu_backward(const Tensor& grad, const Tensor& self, const std::string& approximate = "none");
Tensor sigmoid_backward(const Tensor& grad, const Tensor& output);
Tensor tanh_backward(const Tensor& grad, const Tensor& output);

Tensor add(const Tensor& a, const Tensor& b, Scalar alpha = 1);
Tensor add(const Tensor& a, Scalar b, Scalar alpha = 1);
Tensor sub(const Tensor& a, const Tensor& b, Scalar alpha = 1);
Tensor sub(const Tensor& a, Scalar b, Scalar alpha = 1);
/// b - alpha * a
Tensor rsub(const Tensor& a, Scalar b, Scalar alpha = 1);
Tensor mul(const Tensor& a, const Tensor& b);
Tensor mul(const Tensor& a, Scalar b);
Tensor div(const Tensor& a, const Tensor& b);
Tensor div(const Tensor& a, Scalar b);
Tensor pow(const Tensor& a, Scalar exponent);
Tensor pow(const Tensor& a, const Tensor& exponent);
Tensor maximum(const Tensor& a, const Tensor& b);
Tensor minimum(const Tensor& a, const Tensor& b);
Tensor eq(const Tensor& a, const Tensor& b);
Tensor eq(const Tensor& a, Scalar b);
Tensor ne(const Tensor& a, const Tensor& b);
Tensor ne(const Tensor& a, Scalar b);
Tensor gt(const Tensor& a, const Tensor& b);
Tensor gt(const Tensor& a, Scalar b);
Tensor ge(const Tensor& a, const Tensor& b);
Tensor ge(const Tensor& a, Scalar b);
Tensor lt(const Tensor& a, const Tensor& b);
Tensor lt(const Tensor& a, Scalar b);
Tensor le(const Tensor& a, const Tensor& b);
Tensor le(const Tensor& a, Scalar b);
Tensor logical_and(const Tensor& a, const Tensor& b);
Tensor where(const Tensor& condition, const Tensor& a, const Tensor& b);
Tensor clamp(const Tensor& x, std::optional<Scalar> min, std::optional<Scalar> max);
Tensor masked_fill(const Tensor& x, const Tensor& mask, Scalar value);

Tensor operator-(const Tensor& x);
Tensor operator+(const Tensor& a, const Tensor& b);
Tensor operator-(const Tensor& a, const Tensor& b);
Tensor operator*(const Tensor& a, const Tensor& b);
Tensor operator/(const Tensor& a, const Tensor& b);
Tensor operator+(const Tensor& a, Scalar b);
Tensor operator-(const Tensor& a, Scalar b);
Tensor operator*(const Tensor& a, Scalar b);
Tensor operator/(const Tensor& a, Scalar b);
Tensor operator+(Scalar a, const Tensor& b);
Tensor operator-(Scalar a, const Tensor& b);
Tensor operator*(Scalar a, const Tensor& b);

// ---- reductions ----
Tensor sum(const Tensor& x, std::optional<DType> dtype = std::nullopt);
Tensor sum(const Tensor& x, const IntList& dims, bool keepdim = false, std::optional<DType> dtype = std::nullopt);
Tensor mean(const Tensor& x);
Tensor mean(const Tensor& x, const IntList& dims, bool keepdim = false);
/// correction 1 = unbiased (the default), 0 = biased. No dims: all of them.
Tensor var(const Tensor& x, std::optional<IntList> dims = std::nullopt, std::optional<Scalar> correction = std::nullopt,
           bool keepdim = false);
Tensor amax(const Tensor& x, const IntList& dims = {}, bool keepdim = false);
Tensor amin(const Tensor& x, const IntList& dims = {}, bool keepdim = false);
Tensor argmax(const Tensor& x, std::optional<int64_t> dim = std::nullopt, bool keepdim = false);
Tensor _softmax(const Tensor& x, int64_t dim, bool half_to_float = false);
Tensor _log_softmax(const Tensor& x, int64_t dim, bool half_to_float = false);
Tensor _softmax_backward_data(const Tensor& grad, const Tensor& output, int64_t dim, DType input_dtype);
Tensor _log_softmax_backward_data(const Tensor& grad, const Tensor& output, int64_t dim, DType input_dtype);
Tensor softmax(const Tensor& x, int64_t dim);
Tensor log_softmax(const Tensor& x, int64_t dim);

// ---- views ----
Tensor view(const Tensor& x, SizeList sizes);
Tensor _unsafe_view(const Tensor& x, SizeList sizes);
Tensor t(const Tensor& x);
Tensor transpose(const Tensor& x, int64_t dim0, int64_t dim1);
Tensor permute(const Tensor& x, const IntList& dims);
Tensor expand(const Tensor& x, SizeList sizes);
Tensor unsqueeze(const Tensor& x, int64_t dim);
Tensor squeeze(const Tensor& x, int64_t dim);
Tensor squeeze(const Tensor& x);
Tensor slice(const Tensor& x, int64_t dim = 0, std::optional<SymInt> start = std::nullopt,
             std::optional<SymInt> end = std::nullopt, int64_t step = 1);
Tensor select(const Tensor& x, int64_t dim, int64_t index);
Tensor as_strided(const Tensor& x, const IntList& sizes, const IntList& strides,
                  std::optional<int64_t> storage_offset = std::nullopt);
/// x with the window as_strided(x, sizes, strides, offset) replaced by src; the offset
/// counts from x's first element, x taken as contiguous.
Tensor as_strided_scatter(const Tensor& x, const Tensor& src, const IntList& sizes, const IntList& strides,
                          std::optional<int64_t> storage_offset = std::nullopt);
Tensor alias(const Tensor& x);
/// aten.detach, recorded as an op when traced (Tensor::detach() only drops history).
Tensor detach(const Tensor& x);
TensorList split(const Tensor& x, int64_t split_size, int64_t dim = 0);
TensorList split_with_sizes(const Tensor& x, const IntList& sizes, int64_t dim = 0);

// ---- functional collectives (PyTorch's _c10d_functional; docs/DISTRIBUTED.md) ----
/// Starts reducing x across the ranks ("sum" or "avg"); read the result through wait_tensor.
Tensor all_reduce(const Tensor& x, const std::string& reduce_op, const std::string& group_name = "0");
/// Starts gathering every rank's x into one tensor, rank r's rows at [r*n, (r+1)*n)
/// of dim 0 (group_size = the number of ranks); read it through wait_tensor.
Tensor all_gather_into_tensor(const Tensor& x, int64_t group_size, const std::string& group_name = "0");
/// Starts reducing x across the ranks ("sum" or "avg") and leaving rank r the r-th of
/// group_size equal parts of dim 0; read it through wait_tensor.
Tensor reduce_scatter_tensor(const Tensor& x, const std::string& reduce_op, int64_t group_size,
                             const std::string& group_name = "0");
/// The finished result of a collective (blocks until it is done).
Tensor wait_tensor(const Tensor& x);
Tensor reshape(const Tensor& x, SizeList sizes);
Tensor narrow(const Tensor& x, int64_t dim, int64_t start, int64_t length);
TensorList chunk(const Tensor& x, int64_t chunks, int64_t dim = 0);
Tensor flatten(const Tensor& x, int64_t start_dim = 0, int64_t end_dim = -1);
Tensor contiguous(const Tensor& x);

// ---- copies, joins, factories ----
Tensor clone(const Tensor& x);
/// A copy converted to `dtype` (aten::_to_copy).
Tensor to(const Tensor& x, DType dtype);
Tensor cat(const TensorList& tensors, int64_t dim = 0);
Tensor stack(const TensorList& tensors, int64_t dim = 0);
Tensor slice_backward(const Tensor& grad, SizeList input_sizes, int64_t dim, SymInt start, SymInt end, int64_t step);
Tensor select_backward(const Tensor& grad, SizeList input_sizes, int64_t dim, int64_t index);
Tensor new_zeros(const Tensor& like, SizeList sizes, std::optional<DType> dtype = std::nullopt);
Tensor new_empty(const Tensor& like, SizeList sizes, std::optional<DType> dtype = std::nullopt);
Tensor zeros_like(const Tensor& x, std::optional<DType> dtype = std::nullopt);
Tensor ones_like(const Tensor& x, std::optional<DType> dtype = std::nullopt);
Tensor full(SizeList sizes, Scalar value, DType dtype = DType::Float32);
Tensor zeros(SizeList sizes, DType dtype = DType::Float32);
Tensor ones(SizeList sizes, DType dtype = DType::Float32);
Tensor scalar_tensor(Scalar value, DType dtype = DType::Float32);
Tensor triu(const Tensor& x, int64_t diagonal = 0);

// ---- in place (return self) ----
Tensor copy_(const Tensor& self, const Tensor& src);
Tensor add_(const Tensor& self, const Tensor& other, Scalar alpha = 1);
/// self += other as Python writes it (aten.add_.Tensor with a wrapped number).
Tensor add_(const Tensor& self, Scalar other, Scalar alpha = 1);
Tensor mul_(const Tensor& self, const Tensor& other);
Tensor fill_(const Tensor& self, Scalar value);
Tensor zero_(const Tensor& self);
/// `indices` entries may be undefined tensors, standing for ':' (None).
Tensor index_put_(const Tensor& self, const TensorList& indices, const Tensor& values, bool accumulate = false);

// ---- matrix multiply ----
Tensor mm(const Tensor& a, const Tensor& b);
Tensor addmm(const Tensor& bias, const Tensor& a, const Tensor& b, Scalar beta = 1, Scalar alpha = 1);
Tensor bmm(const Tensor& a, const Tensor& b);
Tensor matmul(const Tensor& a, const Tensor& b);
Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias = Tensor());

// ---- convolution ----
Tensor convolution(const Tensor& input, const Tensor& weight, const Tensor& bias, const IntList& stride,
                   const IntList& padding, const IntList& dilation, bool transposed, const IntList& output_padding,
                   int64_t groups);
Tensor3 convolution_backward(const Tensor& grad, const Tensor& input, const Tensor& weight,
                             std::optional<IntList> bias_sizes, const IntList& stride, const IntList& padding,
                             const IntList& dilation, bool transposed, const IntList& output_padding, int64_t groups,
                             const BoolList& output_mask);
Tensor conv2d(const Tensor& input, const Tensor& weight, const Tensor& bias = Tensor(), IntList stride = {1, 1},
              IntList padding = {0, 0}, IntList dilation = {1, 1}, int64_t groups = 1);

// ---- normalisation ----
/// Returns (output, save_mean, save_rstd, new_running_mean, new_running_var).
Tensor5 _native_batch_norm_legit_functional(const Tensor& input, const Tensor& weight, const Tensor& bias,
                                            const Tensor& running_mean, const Tensor& running_var, bool training,
                                            double momentum, double eps);
Tensor3 _native_batch_norm_legit_no_training(const Tensor& input, const Tensor& weight, const Tensor& bias,
                                             const Tensor& running_mean, const Tensor& running_var, double momentum,
                                             double eps);
Tensor3 native_batch_norm_backward(const Tensor& grad, const Tensor& input, const Tensor& weight,
                                   const Tensor& running_mean, const Tensor& running_var, const Tensor& save_mean,
                                   const Tensor& save_invstd, bool train, double eps, const BoolList& output_mask);
Tensor3 native_layer_norm(const Tensor& input, const IntList& normalized_shape, const Tensor& weight,
                          const Tensor& bias, double eps);
Tensor3 native_layer_norm_backward(const Tensor& grad, const Tensor& input, const IntList& normalized_shape,
                                   const Tensor& mean, const Tensor& rstd, const Tensor& weight, const Tensor& bias,
                                   const BoolList& output_mask);

// ---- pooling ----
Tensor2 max_pool2d_with_indices(const Tensor& x, const IntList& kernel, const IntList& stride = {},
                                const IntList& padding = {0, 0}, const IntList& dilation = {1, 1},
                                bool ceil_mode = false);
Tensor max_pool2d_with_indices_backward(const Tensor& grad, const Tensor& x, const IntList& kernel,
                                        const IntList& stride, const IntList& padding, const IntList& dilation,
                                        bool ceil_mode, const Tensor& indices);
Tensor avg_pool2d(const Tensor& x, const IntList& kernel, const IntList& stride = {}, const IntList& padding = {0, 0},
                  bool ceil_mode = false, bool count_include_pad = true);
Tensor avg_pool2d_backward(const Tensor& grad, const Tensor& x, const IntList& kernel, const IntList& stride,
                           const IntList& padding, bool ceil_mode, bool count_include_pad);
Tensor _adaptive_avg_pool2d(const Tensor& x, const IntList& output_size);
Tensor _adaptive_avg_pool2d_backward(const Tensor& grad, const Tensor& x);

// ---- losses (reduction: 0 none, 1 mean, 2 sum) ----
Tensor2 nll_loss_forward(const Tensor& x, const Tensor& target, const Tensor& weight, int64_t reduction,
                         int64_t ignore_index);
Tensor nll_loss_backward(const Tensor& grad, const Tensor& x, const Tensor& target, const Tensor& weight,
                         int64_t reduction, int64_t ignore_index, const Tensor& total_weight);
Tensor mse_loss(const Tensor& x, const Tensor& target, int64_t reduction = 1);
Tensor mse_loss_backward(const Tensor& grad, const Tensor& x, const Tensor& target, int64_t reduction);
Tensor cross_entropy(const Tensor& logits, const Tensor& target, int64_t reduction = 1, int64_t ignore_index = -100);

// ---- indexing ----
Tensor index(const Tensor& x, const TensorList& indices);
Tensor index_put(const Tensor& x, const TensorList& indices, const Tensor& values, bool accumulate = false);
Tensor embedding(const Tensor& weight, const Tensor& indices, int64_t padding_idx = -1);
Tensor embedding_dense_backward(const Tensor& grad, const Tensor& indices, int64_t num_weights, int64_t padding_idx,
                                bool scale_grad_by_freq);

}  // namespace aotgrad
