// The UCI handwritten-digits data set (data/digits.csv.gz): 8x8 images, labels 0..9.
#pragma once

#include <string>

#include "aotgrad/tensor.h"

namespace aotgrad::data {

struct Dataset {
  Tensor images;  // f32 [n, 64], pixels scaled to [0, 1]
  Tensor labels;  // i64 [n]
};

/// Reads a gzip-compressed CSV of 64 pixels (0..16) and a label per row.
/// Throws a one-line error naming the file and line on a missing or malformed file.
Dataset load_digits(const std::string& path);

/// Splits rows into train/test (test_fraction of them) after a seeded shuffle.
std::pair<Dataset, Dataset> split(const Dataset& all, double test_fraction, uint64_t seed);

}  // namespace aotgrad::data
