// CRC32C (Castagnoli), the checksum of the store's blocks: the SSE4.2 `crc32` instruction where
// the CPU has it (three independent streams would be faster still; one stream already runs at
// several GB/s), a table otherwise. Both give the standard CRC32C (check value of "123456789" is
// 0xE3069283).
#include "CKernels.h"
#include <string.h>

static uint32_t crc32c_table[8][256];
static int crc32c_table_ready = 0;

static void crc32c_build_table(void) {
  for (uint32_t n = 0; n < 256; n++) {
    uint32_t crc = n;
    for (int bit = 0; bit < 8; bit++) crc = (crc >> 1) ^ (0x82F63B78u & (0u - (crc & 1u)));
    crc32c_table[0][n] = crc;
  }
  for (uint32_t n = 0; n < 256; n++) {
    uint32_t crc = crc32c_table[0][n];
    for (int k = 1; k < 8; k++) {
      crc = crc32c_table[0][crc & 0xFF] ^ (crc >> 8);
      crc32c_table[k][n] = crc;
    }
  }
  __atomic_store_n(&crc32c_table_ready, 1, __ATOMIC_RELEASE);
}

static uint32_t crc32c_software(uint32_t crc, const unsigned char *bytes, size_t count) {
  if (!__atomic_load_n(&crc32c_table_ready, __ATOMIC_ACQUIRE)) crc32c_build_table();
  while (count >= 8) {
    uint64_t word;
    memcpy(&word, bytes, 8);
    word ^= crc;
    crc = crc32c_table[7][word & 0xFF] ^ crc32c_table[6][(word >> 8) & 0xFF] ^
          crc32c_table[5][(word >> 16) & 0xFF] ^ crc32c_table[4][(word >> 24) & 0xFF] ^
          crc32c_table[3][(word >> 32) & 0xFF] ^ crc32c_table[2][(word >> 40) & 0xFF] ^
          crc32c_table[1][(word >> 48) & 0xFF] ^ crc32c_table[0][word >> 56];
    bytes += 8;
    count -= 8;
  }
  while (count--) crc = crc32c_table[0][(crc ^ *bytes++) & 0xFF] ^ (crc >> 8);
  return crc;
}

#if defined(__x86_64__)
__attribute__((target("sse4.2")))
static uint32_t crc32c_hardware(uint32_t crc, const unsigned char *bytes, size_t count) {
  uint64_t wide = crc;
  while (count >= 8) {
    uint64_t word;
    memcpy(&word, bytes, 8);
    wide = __builtin_ia32_crc32di(wide, word);
    bytes += 8;
    count -= 8;
  }
  uint32_t narrow = (uint32_t)wide;
  while (count--) narrow = __builtin_ia32_crc32qi(narrow, *bytes++);
  return narrow;
}
#endif

uint32_t tripindex_crc32c(uint32_t crc, const void *data, size_t count) {
  const unsigned char *bytes = (const unsigned char *)data;
  crc = ~crc;
#if defined(__x86_64__)
  if (__builtin_cpu_supports("sse4.2")) return ~crc32c_hardware(crc, bytes, count);
#endif
  return ~crc32c_software(crc, bytes, count);
}

uint32_t tripindex_crc32c_portable(uint32_t crc, const void *data, size_t count) {
  return ~crc32c_software(~crc, (const unsigned char *)data, count);
}
