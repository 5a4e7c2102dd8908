// The HDF5 calls made, in plain C types. libhdf5 is loaded on first use
// (tripindex_h5_load), never linked: it pulls in some thirty libraries (curl, Kerberos, TLS)
// that would double the start-up time of every command, HDF5 or not.
#ifndef CHDF5_H
#define CHDF5_H

#include <stddef.h>

/// An HDF5 object handle (`hid_t`, 64-bit since HDF5 1.10).
typedef long long tripindex_h5_id;

/// Loads libhdf5 and resolves the functions below. Returns 0 on success; otherwise -1 and a
/// reason in `message`. Call once, before anything else (the Swift wrapper does, under its lock).
int tripindex_h5_load(char *message, size_t capacity);

/// 1 when `path` is an HDF5 file, 0 when it is not, negative when it cannot be read.
int tripindex_h5_is_hdf5(const char *path);

/// Opens a file read-only; negative on failure.
tripindex_h5_id tripindex_h5_open_file(const char *path);

/// Closes a file.
void tripindex_h5_close_file(tripindex_h5_id file);

/// 1 when `name` is a dataset of `file`, 0 when there is nothing of that name, 2 when it is
/// something else (a group), negative on failure.
int tripindex_h5_dataset_kind(tripindex_h5_id file, const char *name);

/// The file's top-level names, separated by '\n', into `out` (at most `capacity` - 1 bytes);
/// the number of bytes written, or negative on failure.
int tripindex_h5_top_level_names(tripindex_h5_id file, char *out, size_t capacity);

/// Opens a dataset with a chunk cache of `cache_bytes`; negative on failure.
tripindex_h5_id tripindex_h5_open_dataset(tripindex_h5_id file, const char *name,
                                          size_t cache_bytes);

/// Closes a dataset.
void tripindex_h5_close_dataset(tripindex_h5_id dataset);

/// The dataset's rank, its first `capacity` extents into `extents`; negative on failure.
int tripindex_h5_dataset_shape(tripindex_h5_id dataset, unsigned long long *extents,
                               int capacity);

/// The element type: 1 integer, 2 floating point, 3 string, 0 other, negative on failure; its
/// size in bytes and (integers) whether it is signed.
int tripindex_h5_dataset_type(tripindex_h5_id dataset, size_t *size, int *is_signed);

/// The memory types rows are read as.
typedef enum {
  tripindex_h5_float32,
  tripindex_h5_float64,
  tripindex_h5_int64
} tripindex_h5_memory;

/// Reads rows [first, first + rows) of a 2-D dataset of `columns` columns into `out`, converted
/// to `memory`; negative on failure.
int tripindex_h5_read_rows(tripindex_h5_id dataset, unsigned long long first,
                           unsigned long long rows, unsigned long long columns,
                           tripindex_h5_memory memory, void *out);

/// Reads the string attribute `name` of the file's root into `out` (at most `capacity` - 1
/// bytes and a terminating zero). Its length; -1 when there is no such attribute, -2 when it
/// is not a string, -3 when it cannot be read.
long tripindex_h5_string_attribute(tripindex_h5_id file, const char *name, char *out,
                                   size_t capacity);

#endif
