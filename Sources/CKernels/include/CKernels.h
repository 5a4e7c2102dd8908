#ifndef TRIPINDEX_CKERNELS_H
#define TRIPINDEX_CKERNELS_H

// Tiny helpers Swift cannot express: a cache prefetch hint.

/// Asks the CPU to start loading the cache line at `address` (a hint; never faults).
static inline void tripindex_prefetch(const void *address) {
#if defined(__GNUC__) || defined(__clang__)
  __builtin_prefetch(address, 0, 3);
#endif
}

#endif
