#include "data/digits.h"

#include <zlib.h>

#include <algorithm>
#include <random>
#include <sstream>
#include <vector>

#include "aotgrad/ops.h"
#include "support/error.h"

namespace aotgrad::data {

Dataset load_digits(const std::string& path) {
  gzFile f = gzopen(path.c_str(), "rb");
  AG_CHECK(f != nullptr, "digits: cannot open data file '{}'", path);
  std::vector<float> pixels;
  std::vector<int64_t> labels;
  char buf[4096];
  int line = 0;
  while (gzgets(f, buf, sizeof buf) != nullptr) {
    ++line;
    std::string s(buf);
    while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
    if (s.find_first_not_of(' ') == std::string::npos) continue;
    std::stringstream ss(s);
    std::string cell;
    std::vector<double> row;
    while (std::getline(ss, cell, ',')) {
      try {
        row.push_back(std::stod(cell));
      } catch (...) {
        gzclose(f);
        AG_FAIL("digits: '{}' line {}: '{}' is not a number", path, line, cell);
      }
    }
    if (row.size() != 65) {
      gzclose(f);
      AG_FAIL("digits: '{}' line {}: expected 65 values (64 pixels and a label), but got {}", path, line, row.size());
    }
    for (int i = 0; i < 64; ++i) pixels.push_back(static_cast<float>(row[i] / 16.0));
    labels.push_back(static_cast<int64_t>(row[64]));
  }
  int err = 0;
  const char* msg = gzerror(f, &err);
  gzclose(f);
  AG_CHECK(err == Z_OK || err == Z_STREAM_END, "digits: '{}' is not a readable gzip file ({})", path, msg);
  AG_CHECK(!labels.empty(), "digits: '{}' holds no rows", path);
  const auto n = static_cast<int64_t>(labels.size());
  return {Tensor::from_vector<float>(pixels, {n, 64}), Tensor::from_vector<int64_t>(labels, {n})};
}

std::pair<Dataset, Dataset> split(const Dataset& all, double test_fraction, uint64_t seed) {
  const int64_t n = all.labels.numel();
  std::vector<int64_t> order(n);
  for (int64_t i = 0; i < n; ++i) order[i] = i;
  std::mt19937_64 rng(seed);
  std::shuffle(order.begin(), order.end(), rng);
  const int64_t n_test = static_cast<int64_t>(static_cast<double>(n) * test_fraction);
  auto take = [&](int64_t from, int64_t to_) {
    std::vector<int64_t> ids(order.begin() + from, order.begin() + to_);
    Tensor idx = Tensor::from_vector<int64_t>(ids, {to_ - from});
    return Dataset{index(all.images, {idx}), index(all.labels, {idx})};
  };
  return {take(n_test, n), take(0, n_test)};
}

}  // namespace aotgrad::data
