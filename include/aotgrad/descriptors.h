// Descriptors: what each input and output of a joint graph means (SPEC.md §6).
//
// Immutable values with ==, hashing and PyTorch's printed form
// ("ParamAOTInput(target='linear.weight')"). Nested descriptors (the output a
// tangent belongs to, the input a gradient is of) are shared, never copied deeply.
// They live in the graph IR: placeholders carry one in meta["desc"], the output
// node one per returned value, and the verifier checks them.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

namespace aotgrad {

class Descriptor {
 public:
  enum class Kind : uint8_t {
    // inputs
    PlainInput,          // PlainAOTInput(idx=N): the N-th flattened user input
    ParamInput,          // ParamAOTInput(target='fqn')
    BufferInput,         // BufferAOTInput(target='fqn')
    TangentInput,        // TangentAOTInput(output=<output>)
    ViewBaseInput,       // ViewBaseAOTInput(base_of=<input>)
    SyntheticBaseInput,  // SyntheticBaseAOTInput(base_of=<input>)
    ForwardTokenInput,   // ForwardTokenAOTInput(idx=N)
    BackwardTokenInput,  // BackwardTokenAOTInput(idx=N)
    DummyInput,          // DummyAOTInput(idx=N)
    // inputs of a whole training step (aotgrad's own; docs/DESCRIPTORS.md)
    OptimizerStateInput,  // OptimizerStateAOTInput(param=ParamAOTInput(target='fqn'), state='exp_avg')
    HyperparamInput,      // HyperparamAOTInput(name='lr'): a scalar a schedule may change
    // input of a partitioned backward graph (aotgrad's own; PyTorch's has no descriptor)
    SavedForBackwardsInput,  // SavedForBackwardsAOTInput(idx=N): the forward's N-th saved value
    // outputs
    PlainOutput,              // PlainAOTOutput(idx=N)
    GradOutput,               // GradAOTOutput(grad_of=<input>)
    InputMutationOutput,      // InputMutationAOTOutput(mutated_input=<input>)
    IntermediateBaseOutput,   // IntermediateBaseAOTOutput(base_of=<output>)
    MetadataMutationOutput,   // MetadataMutationAOTOutput(idx=N)
    ForwardTokenOutput,       // ForwardTokenAOTOutput(idx=N)
    BackwardTokenOutput,      // BackwardTokenAOTOutput(idx=N)
    DummyOutput,              // DummyAOTOutput(idx=N)
    SavedForBackwardsOutput,  // SavedForBackwardsAOTOutput(idx=N): a partitioned forward's N-th saved value
  };

  static Descriptor plain_input(int64_t idx) { return {Kind::PlainInput, idx, {}, nullptr}; }
  static Descriptor param(std::string fqn) { return {Kind::ParamInput, 0, std::move(fqn), nullptr}; }
  static Descriptor buffer(std::string fqn) { return {Kind::BufferInput, 0, std::move(fqn), nullptr}; }
  static Descriptor tangent(const Descriptor& output);
  static Descriptor plain_output(int64_t idx) { return {Kind::PlainOutput, idx, {}, nullptr}; }
  static Descriptor grad(const Descriptor& input);
  static Descriptor input_mutation(const Descriptor& input);
  /// One piece of an optimizer's state for a parameter (`state`: "exp_avg", "step", …).
  static Descriptor optimizer_state(const Descriptor& param, std::string state);
  static Descriptor hyperparam(std::string name) { return {Kind::HyperparamInput, 0, std::move(name), nullptr}; }
  static Descriptor saved_for_backwards_output(int64_t idx) {
    return {Kind::SavedForBackwardsOutput, idx, {}, nullptr};
  }
  static Descriptor saved_for_backwards_input(int64_t idx) { return {Kind::SavedForBackwardsInput, idx, {}, nullptr}; }
  /// Kinds with an index (plain, token, dummy, metadata mutation, saved for backwards).
  static Descriptor indexed(Kind kind, int64_t idx);
  /// Kinds wrapping another descriptor (tangent, grad, mutation, view/synthetic/intermediate base).
  static Descriptor wrapping(Kind kind, const Descriptor& inner);
  /// Kinds with a target or a name (param, buffer, hyperparameter).
  static Descriptor targeted(Kind kind, std::string fqn);

  Kind kind() const { return kind_; }
  bool is_input() const { return kind_ <= Kind::SavedForBackwardsInput; }
  bool is_output() const { return !is_input(); }
  /// A gradient or a tangent can refer to it (SPEC.md §6).
  bool is_differentiable() const;
  int64_t idx() const { return idx_; }
  /// The FQN of a param/buffer, a hyperparameter's name, an optimizer state's key.
  const std::string& target() const { return target_; }
  /// The wrapped descriptor; throws for kinds that wrap none.
  const Descriptor& inner() const;
  bool has_inner() const { return inner_ != nullptr; }

  /// PyTorch's dataclass repr.
  std::string str() const;
  /// The class name alone ("PlainAOTInput").
  static const char* kind_name(Kind kind);
  static std::optional<Kind> kind_from_name(const std::string& name);
  /// Parses str()'s form back; throws a user error naming the text on failure.
  static Descriptor parse(const std::string& text);

  bool operator==(const Descriptor& o) const;
  bool operator!=(const Descriptor& o) const { return !(*this == o); }
  size_t hash() const;

 private:
  Descriptor(Kind k, int64_t idx, std::string target, std::shared_ptr<const Descriptor> inner)
      : kind_(k), idx_(idx), target_(std::move(target)), inner_(std::move(inner)) {}
  Kind kind_;
  int64_t idx_;
  std::string target_;
  std::shared_ptr<const Descriptor> inner_;
};

}  // namespace aotgrad

template <>
struct std::hash<aotgrad::Descriptor> {
  size_t operator()(const aotgrad::Descriptor& d) const { return d.hash(); }
};
