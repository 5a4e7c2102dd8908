#ifndef TRIPINDEX_CKERNELS_H
#define TRIPINDEX_CKERNELS_H

// Tiny helpers Swift cannot express well: a cache prefetch hint, and element-wise loops over
// non-aliasing float buffers (`restrict`) that C compilers vectorise reliably.

#include <stddef.h>
#include <stdint.h>

/// Asks the CPU to start loading the cache line at `address` (a hint; never faults).
static inline void tripindex_prefetch(const void *address) {
#if defined(__GNUC__) || defined(__clang__)
  __builtin_prefetch(address, 0, 3);
#endif
}

/// ReLU in place: negative values become 0.
void tripindex_rectify(float *values, size_t count);

/// ReLU backward in place: gradient[i] = 0 where input[i] <= 0.
void tripindex_rectify_gradient(float *restrict gradient, const float *restrict input, size_t count);

/// destination[i] += source[i].
void tripindex_accumulate(const float *restrict source, float *restrict destination, size_t count);

/// The per-step constants of an Adam update.
typedef struct {
  float beta1, beta2, keep1, keep2, weight_decay, step_size, inverse_correction2, epsilon;
} tripindex_adam_constants;

/// One Adam step over `count` parameters: g += λ·p; m = β1·m + (1−β1)·g; v = β2·v + (1−β2)·g²;
/// p −= step · m / (√(v / (1 − β2^t)) + ε).
void tripindex_adam_update(float *restrict parameters, const float *restrict gradients,
                           float *restrict first, float *restrict second, size_t count,
                           tripindex_adam_constants constants);

/// BatchNorm batch statistics of a row-major `rows × features` matrix: per-feature means and
/// (biased) variances, two passes.
void tripindex_batchnorm_statistics(const float *restrict input, size_t rows, size_t features,
                                    float *restrict means, float *restrict variances);

/// BatchNorm output: y = scale · (x − mean) · inverse + shift, row by row; the normalised values
/// are kept in `normalized` unless it is NULL.
void tripindex_batchnorm_apply(const float *restrict input, size_t rows, size_t features,
                               const float *restrict means, const float *restrict inverse,
                               const float *restrict scale, const float *restrict shift,
                               float *restrict normalized, float *restrict output);

/// BatchNorm backward sums: Σ_rows ∂y and Σ_rows ∂y · x̂ per feature.
void tripindex_batchnorm_gradient_sums(const float *restrict gradient,
                                       const float *restrict normalized, size_t rows,
                                       size_t features, float *restrict sums,
                                       float *restrict products);

/// BatchNorm input gradient in place: ∂x = factor · (n · ∂y − Σ∂y − x̂ · Σ∂y·x̂).
void tripindex_batchnorm_input_gradient(float *restrict gradient, const float *restrict normalized,
                                        size_t rows, size_t features, const float *restrict factors,
                                        const float *restrict sums,
                                        const float *restrict products);


/// Lower bounds of packed LSH table entries (``CompactCoder`` in LSHIndex), kept only where they
/// fall below a threshold: entry `e` starts at `entries + e * stride` with `dims` code bytes, then
/// one residual-norm byte; its bound is `residual[code_r] + Σ_i table[i * 256 + code_i]`, where
/// `table` holds `dims * 256` squared per-component bounds of the query and `residual` 256
/// squared residual-norm bounds. An entry is dropped as soon as its partial sum reaches
/// `threshold` (the leading components carry the most variance, so most are dropped early).
/// Writes the kept entries' indices to `kept` and bounds to `bounds`; returns how many.
size_t tripindex_code_filter(const unsigned char *restrict entries, size_t count, size_t stride,
                             size_t dims, const float *restrict table,
                             const float *restrict residual, float threshold,
                             unsigned int *restrict kept, float *restrict bounds);

/// Squared distances from `value` to each of 256 intervals `[edges[c] − slack,
/// edges[c + 1] + slack]` (code 0 open below, code 255 open above), into `out`.
void tripindex_interval_edges_table(float value, const float *edges, float slack, float *out);

/// A cross-polytope block's rotation: `z`'s first `dims` values padded with zeros to `padded` (a
/// power of two, at least 2, and at least `dims`) into `out`, then three rounds of multiplying by
/// random signs (`signs + round * padded`) and an unnormalised fast Walsh–Hadamard transform
/// (stages of span 1, 2, 4, …; each pair becomes a + b, a − b). Every value is the same, bit for
/// bit, as that scalar loop's: the vector lanes do the same additions and subtractions.
void tripindex_crosspolytope_rotate(const float *restrict z, size_t dims, size_t padded,
                                    const float *restrict signs, float *restrict out);

/// CRC32C (Castagnoli) of `count` bytes, continuing from `crc` (0 to start): the hardware
/// instruction where the CPU has SSE4.2, a table otherwise.
uint32_t tripindex_crc32c(uint32_t crc, const void *data, size_t count);

/// The same CRC32C computed with tables only (to test the hardware path against).
uint32_t tripindex_crc32c_portable(uint32_t crc, const void *data, size_t count);

/// Softmax cross-entropy of `rows` rows of `classes` logits (bias added here) against `labels`,
/// with label smoothing `smoothing`: returns the summed loss, writes (p − q) · `share` over the
/// logits (the gradient of `share` × the loss), and counts rows whose largest logit is not the
/// label in `wrong`. Exponentials in eight lanes (relative error about 2e-7).
float tripindex_softmax_cross_entropy(float *logits, const float *bias, const int64_t *labels,
                                      size_t rows, size_t classes, float smoothing, float share,
                                      size_t *wrong);

#endif
