// Thin wrappers over the HDF5 C library for what tripindex reads: datasets of rows and string
// attributes. HDF5's property-list and type constants are macros Swift cannot import, so the
// calls that need them live here.
#include <hdf5.h>
#include <stdlib.h>
#include <string.h>

/// Turns off HDF5's own error printing (tripindex reports errors itself).
static inline void tripindex_h5_silence(void) { H5Eset_auto2(H5E_DEFAULT, NULL, NULL); }

/// 1 when `path` is an HDF5 file, 0 when it is not, negative when it cannot be read.
static inline int tripindex_h5_is_hdf5(const char *path) { return (int)H5Fis_hdf5(path); }

/// Opens a file read-only; negative on failure.
static inline hid_t tripindex_h5_open_file(const char *path) {
  return H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
}

static inline void tripindex_h5_close_file(hid_t file) { H5Fclose(file); }

/// 1 when `name` is a dataset of `file`, 0 when there is nothing of that name, 2 when there is
/// something else (a group), negative on failure.
static inline int tripindex_h5_dataset_kind(hid_t file, const char *name) {
  htri_t exists = H5Lexists(file, name, H5P_DEFAULT);
  if (exists <= 0) return exists < 0 ? -1 : 0;
  hid_t object = H5Oopen(file, name, H5P_DEFAULT);
  if (object < 0) return -1;
  H5I_type_t type = H5Iget_type(object);
  H5Oclose(object);
  return type == H5I_DATASET ? 1 : 2;
}

/// The names of the file's top-level links, separated by '\n', into `out` (truncated to
/// `capacity` - 1 bytes); the number of bytes written, or negative on failure.
static inline herr_t tripindex_h5_append_name(hid_t group, const char *name, const H5L_info_t *info,
                                       void *data) {
  (void)group;
  (void)info;
  char **cursor = (char **)data;
  char *out = cursor[0];
  size_t used = strlen(out);
  size_t capacity = (size_t)(cursor[1] - cursor[0]);
  size_t length = strlen(name);
  if (used + length + 2 > capacity) return 1;
  if (used > 0) out[used++] = '\n';
  memcpy(out + used, name, length + 1);
  return 0;
}

static inline int tripindex_h5_top_level_names(hid_t file, char *out, size_t capacity) {
  if (capacity == 0) return -1;
  out[0] = 0;
  char *cursor[2] = {out, out + capacity};
  hsize_t position = 0;
  if (H5Literate(file, H5_INDEX_NAME, H5_ITER_INC, &position, tripindex_h5_append_name,
                 cursor) < 0)
    return -1;
  return (int)strlen(out);
}

/// Opens a dataset with a chunk cache of `cacheBytes` (so that reading rows of a dataset
/// chunked by columns does not decompress each chunk again per batch); negative on failure.
static inline hid_t tripindex_h5_open_dataset(hid_t file, const char *name, size_t cacheBytes) {
  hid_t access = H5Pcreate(H5P_DATASET_ACCESS);
  if (access < 0) return access;
  H5Pset_chunk_cache(access, 12421, cacheBytes, 1.0);
  hid_t dataset = H5Dopen2(file, name, access);
  H5Pclose(access);
  return dataset;
}

static inline void tripindex_h5_close_dataset(hid_t dataset) { H5Dclose(dataset); }

/// The dataset's rank (up to `capacity` extents into `extents`); negative on failure.
static inline int tripindex_h5_dataset_shape(hid_t dataset, hsize_t *extents, int capacity) {
  hid_t space = H5Dget_space(dataset);
  if (space < 0) return -1;
  int rank = H5Sget_simple_extent_ndims(space);
  if (rank >= 0 && rank <= capacity) H5Sget_simple_extent_dims(space, extents, NULL);
  H5Sclose(space);
  return rank;
}

/// The dataset's element type: 1 integer, 2 floating point, 3 string, 0 anything else,
/// negative on failure; its size in bytes and (integers) whether it is signed.
static inline int tripindex_h5_dataset_type(hid_t dataset, size_t *size, int *isSigned) {
  hid_t type = H5Dget_type(dataset);
  if (type < 0) return -1;
  H5T_class_t typeClass = H5Tget_class(type);
  *size = H5Tget_size(type);
  *isSigned = typeClass == H5T_INTEGER ? (H5Tget_sign(type) == H5T_SGN_2) : 1;
  H5Tclose(type);
  switch (typeClass) {
  case H5T_INTEGER: return 1;
  case H5T_FLOAT: return 2;
  case H5T_STRING: return 3;
  default: return 0;
  }
}

/// The memory types rows are read as.
typedef enum { tripindex_h5_float32, tripindex_h5_float64, tripindex_h5_int64 } tripindex_h5_memory;

/// Reads rows [first, first + rows) of a 2-D dataset with `columns` columns into `out`,
/// converted to `memory`; negative on failure.
static inline herr_t tripindex_h5_read_rows(hid_t dataset, hsize_t first, hsize_t rows,
                                            hsize_t columns, tripindex_h5_memory memory,
                                            void *out) {
  hid_t type = memory == tripindex_h5_float32   ? H5T_NATIVE_FLOAT
               : memory == tripindex_h5_float64 ? H5T_NATIVE_DOUBLE
                                                : H5T_NATIVE_INT64;
  hid_t fileSpace = H5Dget_space(dataset);
  if (fileSpace < 0) return -1;
  hsize_t start[2] = {first, 0};
  hsize_t count[2] = {rows, columns};
  herr_t status = H5Sselect_hyperslab(fileSpace, H5S_SELECT_SET, start, NULL, count, NULL);
  hid_t memorySpace = status < 0 ? -1 : H5Screate_simple(2, count, NULL);
  if (memorySpace >= 0) {
    status = H5Dread(dataset, type, memorySpace, fileSpace, H5P_DEFAULT, out);
    H5Sclose(memorySpace);
  } else {
    status = -1;
  }
  H5Sclose(fileSpace);
  return status;
}

/// Reads the string attribute `name` of the file's root into `out` (at most `capacity` - 1
/// bytes and a terminating zero). Returns its length, -1 when there is no such attribute, -2
/// when it is not a string, -3 when it cannot be read.
static inline long tripindex_h5_string_attribute(hid_t file, const char *name, char *out,
                                                 size_t capacity) {
  if (capacity == 0) return -3;
  out[0] = 0;
  htri_t exists = H5Aexists(file, name);
  if (exists <= 0) return exists == 0 ? -1 : -3;
  hid_t attribute = H5Aopen(file, name, H5P_DEFAULT);
  if (attribute < 0) return -3;
  hid_t type = H5Aget_type(attribute);
  long result = -3;
  if (type >= 0 && H5Tget_class(type) != H5T_STRING) {
    result = -2;
  } else if (type >= 0) {
    hid_t space = H5Aget_space(attribute);
    hssize_t points = space >= 0 ? H5Sget_simple_extent_npoints(space) : -1;
    if (points == 1) {
      hid_t memoryType = H5Tcopy(H5T_C_S1);
      if (H5Tis_variable_str(type) > 0) {
        H5Tset_size(memoryType, H5T_VARIABLE);
        H5Tset_cset(memoryType, H5Tget_cset(type));
        char *value = NULL;
        if (H5Aread(attribute, memoryType, &value) >= 0 && value != NULL) {
          size_t length = strlen(value);
          if (length >= capacity) length = capacity - 1;
          memcpy(out, value, length);
          out[length] = 0;
          result = (long)length;
          H5free_memory(value);
        }
      } else {
        size_t size = H5Tget_size(type);
        H5Tset_size(memoryType, size + 1);
        H5Tset_strpad(memoryType, H5T_STR_NULLTERM);
        char *value = (char *)calloc(size + 1, 1);
        if (value != NULL && H5Aread(attribute, memoryType, value) >= 0) {
          size_t length = strlen(value);
          if (length >= capacity) length = capacity - 1;
          memcpy(out, value, length);
          out[length] = 0;
          result = (long)length;
        }
        free(value);
      }
      H5Tclose(memoryType);
    }
    if (space >= 0) H5Sclose(space);
  }
  if (type >= 0) H5Tclose(type);
  H5Aclose(attribute);
  return result;
}
