// Element-wise float loops for the embedding network's hot path (see CKernels.h). Written
// without branches (signs of activations are random, so branches mispredict half the time) and
// marked for vectorisation.
#include "CKernels.h"

void tripindex_rectify(float *values, size_t count) {
#pragma clang loop vectorize(enable)
  for (size_t i = 0; i < count; i++) values[i] = __builtin_fmaxf(values[i], 0.0f);
}

void tripindex_rectify_gradient(float *restrict gradient, const float *restrict input, size_t count) {
#pragma clang loop vectorize(enable)
  for (size_t i = 0; i < count; i++) gradient[i] *= (float)(input[i] > 0.0f);
}

void tripindex_accumulate(const float *restrict source, float *restrict destination, size_t count) {
#pragma clang loop vectorize(enable)
  for (size_t i = 0; i < count; i++) destination[i] += source[i];
}

typedef float tripindex_lanes __attribute__((ext_vector_type(8)));

void tripindex_adam_update(float *restrict parameters, const float *restrict gradients,
                           float *restrict first, float *restrict second, size_t count,
                           tripindex_adam_constants c) {
  // Eight lanes at a time with clang's vector extension (a plain loop stays scalar because
  // sqrtf may set errno), then the same arithmetic for the tail.
  size_t i = 0;
  for (; i + 8 <= count; i += 8) {
    tripindex_lanes p, g, m, v;
    __builtin_memcpy(&p, parameters + i, sizeof p);
    __builtin_memcpy(&g, gradients + i, sizeof g);
    __builtin_memcpy(&m, first + i, sizeof m);
    __builtin_memcpy(&v, second + i, sizeof v);
    g = g + c.weight_decay * p;
    m = c.beta1 * m + c.keep1 * g;
    v = c.beta2 * v + c.keep2 * g * g;
    p = p - c.step_size * m / (__builtin_elementwise_sqrt(v * c.inverse_correction2) + c.epsilon);
    __builtin_memcpy(first + i, &m, sizeof m);
    __builtin_memcpy(second + i, &v, sizeof v);
    __builtin_memcpy(parameters + i, &p, sizeof p);
  }
  for (; i < count; i++) {
    float gradient = gradients[i] + c.weight_decay * parameters[i];
    float m = c.beta1 * first[i] + c.keep1 * gradient;
    float v = c.beta2 * second[i] + c.keep2 * gradient * gradient;
    first[i] = m;
    second[i] = v;
    parameters[i] -= c.step_size * m / (__builtin_sqrtf(v * c.inverse_correction2) + c.epsilon);
  }
}

void tripindex_batchnorm_statistics(const float *restrict input, size_t rows, size_t features,
                                    float *restrict means, float *restrict variances) {
  for (size_t f = 0; f < features; f++) means[f] = variances[f] = 0.0f;
  for (size_t r = 0; r < rows; r++) {
    const float *restrict row = input + r * features;
#pragma clang loop vectorize(enable)
    for (size_t f = 0; f < features; f++) means[f] += row[f];
  }
  for (size_t f = 0; f < features; f++) means[f] /= (float)rows;
  for (size_t r = 0; r < rows; r++) {
    const float *restrict row = input + r * features;
#pragma clang loop vectorize(enable)
    for (size_t f = 0; f < features; f++) {
      float d = row[f] - means[f];
      variances[f] += d * d;
    }
  }
  for (size_t f = 0; f < features; f++) variances[f] /= (float)rows;
}

void tripindex_batchnorm_apply(const float *restrict input, size_t rows, size_t features,
                               const float *restrict means, const float *restrict inverse,
                               const float *restrict scale, const float *restrict shift,
                               float *restrict normalized, float *restrict output) {
  for (size_t r = 0; r < rows; r++) {
    const float *restrict x = input + r * features;
    float *restrict y = output + r * features;
    if (normalized) {
      float *restrict n = normalized + r * features;
#pragma clang loop vectorize(enable)
      for (size_t f = 0; f < features; f++) {
        float v = (x[f] - means[f]) * inverse[f];
        n[f] = v;
        y[f] = scale[f] * v + shift[f];
      }
    } else {
#pragma clang loop vectorize(enable)
      for (size_t f = 0; f < features; f++) y[f] = scale[f] * ((x[f] - means[f]) * inverse[f]) + shift[f];
    }
  }
}

void tripindex_batchnorm_gradient_sums(const float *restrict gradient,
                                       const float *restrict normalized, size_t rows,
                                       size_t features, float *restrict sums,
                                       float *restrict products) {
  for (size_t f = 0; f < features; f++) sums[f] = products[f] = 0.0f;
  for (size_t r = 0; r < rows; r++) {
    const float *restrict g = gradient + r * features;
    const float *restrict n = normalized + r * features;
#pragma clang loop vectorize(enable)
    for (size_t f = 0; f < features; f++) {
      sums[f] += g[f];
      products[f] += g[f] * n[f];
    }
  }
}

void tripindex_batchnorm_input_gradient(float *restrict gradient, const float *restrict normalized,
                                        size_t rows, size_t features, const float *restrict factors,
                                        const float *restrict sums,
                                        const float *restrict products) {
  float count = (float)rows;
  for (size_t r = 0; r < rows; r++) {
    float *restrict g = gradient + r * features;
    const float *restrict n = normalized + r * features;
#pragma clang loop vectorize(enable)
    for (size_t f = 0; f < features; f++)
      g[f] = factors[f] * (count * g[f] - sums[f] - n[f] * products[f]);
  }
}

/// Adds the look-ups of components [from, to) of one code to four running sums.
static inline void tripindex_code_sums(const unsigned char *code, const float *table, size_t from,
                                       size_t to, float *sums) {
  size_t i = from;
  for (; i + 4 <= to; i += 4) {
    sums[0] += table[(i + 0) * 256 + code[i + 0]];
    sums[1] += table[(i + 1) * 256 + code[i + 1]];
    sums[2] += table[(i + 2) * 256 + code[i + 2]];
    sums[3] += table[(i + 3) * 256 + code[i + 3]];
  }
  for (; i < to; i++) sums[0] += table[i * 256 + code[i]];
}

size_t tripindex_code_filter(const unsigned char *restrict entries, size_t count, size_t stride,
                             size_t dims, const float *restrict table,
                             const float *restrict residual, float threshold,
                             unsigned int *restrict kept, float *restrict bounds) {
  // Table look-ups do not vectorise on AVX2 without gathers; four independent sums per entry
  // keep the adds from waiting on each other. The first eight components decide most entries.
  size_t found = 0;
  size_t head = dims < 8 ? dims : 8;
  // The entries are one contiguous run, usually a part of an LMDB page that is not in the cache:
  // ask for all of its lines first, so their misses overlap instead of being met one by one
  // (the hardware prefetcher needs several misses in a row, and stops at the 4 KiB page edge).
  for (size_t offset = 0; offset < count * stride; offset += 64)
    __builtin_prefetch(entries + offset, 0, 3);
  // In runs of up to 256 entries, two passes with no branch on the data: whether an entry's
  // leading components rule it out is unpredictable, and a mispredicted branch per entry cost
  // more than its look-ups. The first pass sums every entry's leading components and keeps the
  // four partial sums of those not ruled out; the second adds the rest of their components to
  // the same sums, so the bounds are bit for bit those of a one-pass loop. (`!(x >= threshold)`,
  // not `x < threshold`, keeps what that loop kept.)
  enum { run = 256 };
  float lanes[run][4];
  unsigned int candidates[run];
  for (size_t start = 0; start < count; start += run) {
    size_t end = count - start < run ? count : start + run;
    size_t passed = 0;
    for (size_t e = start; e < end; e++) {
      const unsigned char *code = entries + e * stride;
      float sums[4] = {residual[code[dims]], 0, 0, 0};
      tripindex_code_sums(code, table, 0, head, sums);
      __builtin_memcpy(lanes[passed], sums, sizeof sums);
      candidates[passed] = (unsigned int)e;
      passed += !((sums[0] + sums[1]) + (sums[2] + sums[3]) >= threshold);
    }
    for (size_t j = 0; j < passed; j++) {
      const unsigned char *code = entries + candidates[j] * stride;
      float sums[4];
      __builtin_memcpy(sums, lanes[j], sizeof sums);
      tripindex_code_sums(code, table, head, dims, sums);
      float sum = (sums[0] + sums[1]) + (sums[2] + sums[3]);
      kept[found] = candidates[j];
      bounds[found] = sum;
      found += !(sum >= threshold);
    }
  }
  return found;
}

void tripindex_interval_edges_table(float value, const float *edges, float slack, float *out) {
#pragma clang loop vectorize(enable)
  for (int c = 0; c < 256; c++) {
    float lower = edges[c] - slack;
    float upper = edges[c + 1] + slack;
    float gap = __builtin_fmaxf(__builtin_fmaxf(lower - value, value - upper), 0.0f);
    out[c] = gap * gap;
  }
  float gap0 = __builtin_fmaxf(value - (edges[1] + slack), 0.0f);
  out[0] = gap0 * gap0;
  float gap255 = __builtin_fmaxf((edges[255] - slack) - value, 0.0f);
  out[255] = gap255 * gap255;
}

typedef float tripindex_lanes8 __attribute__((ext_vector_type(8)));

/// The Hadamard stages of span 1, 2 and 4 on eight values in place: at each, lane i takes
/// v[i] + v[i + s] where bit s of i is clear and v[i − s] − v[i] where it is set (the scalar
/// butterfly's a + b and a − b). Works on memory, so no vector crosses a call boundary.
static inline void tripindex_hadamard8(float *values) {
  tripindex_lanes8 v;
  __builtin_memcpy(&v, values, sizeof v);
  tripindex_lanes8 partner = __builtin_shufflevector(v, v, 1, 0, 3, 2, 5, 4, 7, 6);
  v = __builtin_shufflevector(v + partner, partner - v, 0, 9, 2, 11, 4, 13, 6, 15);
  partner = __builtin_shufflevector(v, v, 2, 3, 0, 1, 6, 7, 4, 5);
  v = __builtin_shufflevector(v + partner, partner - v, 0, 1, 10, 11, 4, 5, 14, 15);
  partner = __builtin_shufflevector(v, v, 4, 5, 6, 7, 0, 1, 2, 3);
  v = __builtin_shufflevector(v + partner, partner - v, 0, 1, 2, 3, 12, 13, 14, 15);
  __builtin_memcpy(values, &v, sizeof v);
}

/// The unnormalised fast Walsh–Hadamard transform of `count` values (a power of two) in place.
static void tripindex_hadamard(float *values, size_t count) {
  size_t span = 1;
  if (count >= 8) {
    // Spans 1, 2 and 4 stay within aligned groups of eight: each group takes all three in turn.
    for (size_t start = 0; start < count; start += 8) tripindex_hadamard8(values + start);
    span = 8;
  }
  for (; span < count; span *= 2) {
    for (size_t start = 0; start < count; start += 2 * span) {
      float *restrict low = values + start;
      float *restrict high = values + start + span;
      for (size_t i = 0; i < span; i++) {
        float a = low[i], b = high[i];
        low[i] = a + b;
        high[i] = a - b;
      }
    }
  }
}

void tripindex_crosspolytope_rotate(const float *restrict z, size_t dims, size_t padded,
                                    const float *restrict signs, float *restrict out) {
  for (size_t i = 0; i < padded; i++) out[i] = i < dims ? z[i] : 0.0f;
  for (int round = 0; round < 3; round++) {
    const float *restrict s = signs + round * padded;
    for (size_t i = 0; i < padded; i++) out[i] *= s[i];
    tripindex_hadamard(out, padded);
  }
}

// e^x for x ≤ 0, eight values in place (Cephes' single-precision polynomial: relative error
// about 2e-7, the order of expf's rounding); inputs below −87.3 give the smallest normal result.
// Works on memory rather than vector arguments, so no vector crosses a call boundary.
static inline __attribute__((always_inline)) void tripindex_exp_nonpositive8(float *values) {
  tripindex_lanes x;
  __builtin_memcpy(&x, values, sizeof x);
  const tripindex_lanes lowest = -87.3f;
  x = __builtin_elementwise_max(x, lowest);
  // Round to the nearest integer, ties to even, by adding and removing 1.5 · 2²³ (exact for
  // |v| < 2²², in the default rounding mode): the baseline x86-64 target has no rounding
  // instruction, so roundeven would be a library call per lane.
  const tripindex_lanes shifter = 12582912.0f;
  tripindex_lanes n = (x * 1.44269504088896341f + shifter) - shifter;
  tripindex_lanes r = x - n * 0.693359375f + n * 2.12194440e-4f;
  tripindex_lanes p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  typedef int tripindex_int_lanes __attribute__((ext_vector_type(8)));
  tripindex_int_lanes exponent = (__builtin_convertvector(n, tripindex_int_lanes) + 127) << 23;
  tripindex_lanes scale;
  __builtin_memcpy(&scale, &exponent, sizeof scale);
  p *= scale;
  __builtin_memcpy(values, &p, sizeof p);
}

float tripindex_softmax_cross_entropy(float *restrict logits, const float *restrict bias,
                                      const int64_t *restrict labels, size_t rows, size_t classes,
                                      float smoothing, float share, size_t *restrict wrong) {
  const float other = smoothing / (float)classes;
  const float on_label = 1.0f - smoothing + other;
  float total = 0;
  size_t mistakes = 0;
  for (size_t row = 0; row < rows; row++) {
    float *z = logits + row * classes;
    const int64_t label = labels[row];
    // Every pass runs in eight lanes: bias and maximum, exponentials and sums, gradient.
    tripindex_lanes largest_lanes = -__builtin_inff();
    size_t c = 0;
    for (; c + 8 <= classes; c += 8) {
      tripindex_lanes v, b;
      __builtin_memcpy(&v, z + c, sizeof v);
      __builtin_memcpy(&b, bias + c, sizeof b);
      v += b;
      __builtin_memcpy(z + c, &v, sizeof v);
      largest_lanes = __builtin_elementwise_max(largest_lanes, v);
    }
    float largest = __builtin_reduce_max(largest_lanes);
    for (; c < classes; c++) {
      z[c] += bias[c];
      if (z[c] > largest) largest = z[c];
    }
    // Ties go to the label (a first-index argmax differs only on exact ties).
    const float label_logit = z[label];
    if (label_logit < largest) mistakes++;
    // −Σ q log p = log Σ e^(z − max) − Σ q (z − max), since Σ q = 1.
    tripindex_lanes shift_lanes = 0, sum_lanes = 0;
    c = 0;
    for (; c + 8 <= classes; c += 8) {
      tripindex_lanes v;
      __builtin_memcpy(&v, z + c, sizeof v);
      v -= largest;
      shift_lanes += v;
      __builtin_memcpy(z + c, &v, sizeof v);
      tripindex_exp_nonpositive8(z + c);
      __builtin_memcpy(&v, z + c, sizeof v);
      sum_lanes += v;
    }
    float shift_sum = 0, sum = 0;
    for (int lane = 0; lane < 8; lane++) {
      shift_sum += shift_lanes[lane];
      sum += sum_lanes[lane];
    }
    if (c < classes) {
      float tail[8] = {-100, -100, -100, -100, -100, -100, -100, -100};
      for (size_t k = c; k < classes; k++) {
        z[k] -= largest;
        shift_sum += z[k];
        tail[k - c] = z[k];
      }
      tripindex_exp_nonpositive8(tail);
      for (size_t k = c; k < classes; k++) {
        z[k] = tail[k - c];
        sum += z[k];
      }
    }
    total += __builtin_logf(sum) - other * shift_sum - (on_label - other) * (label_logit - largest);
    const float inverse = 1.0f / sum;
    const tripindex_lanes scale = inverse * share, offset = other * share;
    c = 0;
    for (; c + 8 <= classes; c += 8) {
      tripindex_lanes v;
      __builtin_memcpy(&v, z + c, sizeof v);
      v = v * scale - offset;
      __builtin_memcpy(z + c, &v, sizeof v);
    }
    for (; c < classes; c++) z[c] = z[c] * inverse * share - other * share;
    z[label] -= (on_label - other) * share;
  }
  *wrong = mistakes;
  return total;
}
