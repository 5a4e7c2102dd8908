// libhdf5 through dlopen: the headers give the types and constants, every call goes through a
// pointer resolved by dlsym on first use, so the tool starts without loading libhdf5 and the
// thirty libraries it depends on. Nothing here may name an HDF5 function or global directly
// (the link would then need -lhdf5): use the p_ pointers and the g_ globals.
#include "chdf5.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if __has_include(<hdf5/serial/hdf5.h>)
#include <hdf5/serial/hdf5.h>
#define TRIPINDEX_HAVE_HDF5 1
#elif __has_include(<hdf5.h>)
#include <hdf5.h>
#define TRIPINDEX_HAVE_HDF5 1
#else
#define TRIPINDEX_HAVE_HDF5 0
#endif

#if TRIPINDEX_HAVE_HDF5

#define TRIPINDEX_STRING(x) #x
#define TRIPINDEX_SYMBOL(x) TRIPINDEX_STRING(x)

// Every function used, by its API name (macros such as H5Literate → H5Literate2 resolve to the
// symbol the headers mean).
#define TRIPINDEX_H5_FUNCTIONS(X)                                                              \
  X(H5open)                                                                                    \
  X(H5get_libversion)                                                                          \
  X(H5Eset_auto2)                                                                              \
  X(H5Fis_hdf5)                                                                                \
  X(H5Fopen)                                                                                   \
  X(H5Fclose)                                                                                  \
  X(H5Lexists)                                                                                 \
  X(H5Literate)                                                                                \
  X(H5Oopen)                                                                                   \
  X(H5Oclose)                                                                                  \
  X(H5Iget_type)                                                                               \
  X(H5Pcreate)                                                                                 \
  X(H5Pset_chunk_cache)                                                                        \
  X(H5Pclose)                                                                                  \
  X(H5Dopen2)                                                                                  \
  X(H5Dclose)                                                                                  \
  X(H5Dget_space)                                                                              \
  X(H5Dget_type)                                                                               \
  X(H5Dread)                                                                                   \
  X(H5Sget_simple_extent_ndims)                                                                \
  X(H5Sget_simple_extent_dims)                                                                 \
  X(H5Sget_simple_extent_npoints)                                                              \
  X(H5Sselect_hyperslab)                                                                       \
  X(H5Screate_simple)                                                                          \
  X(H5Sclose)                                                                                  \
  X(H5Tget_class)                                                                              \
  X(H5Tget_size)                                                                               \
  X(H5Tget_sign)                                                                               \
  X(H5Tcopy)                                                                                   \
  X(H5Tclose)                                                                                  \
  X(H5Tis_variable_str)                                                                        \
  X(H5Tset_size)                                                                               \
  X(H5Tset_cset)                                                                               \
  X(H5Tget_cset)                                                                               \
  X(H5Tset_strpad)                                                                             \
  X(H5Aexists)                                                                                 \
  X(H5Aopen)                                                                                   \
  X(H5Aget_type)                                                                               \
  X(H5Aget_space)                                                                              \
  X(H5Aread)                                                                                   \
  X(H5Aclose)                                                                                  \
  X(H5free_memory)

#define TRIPINDEX_DECLARE(f) static __typeof__(f) *p_##f;
TRIPINDEX_H5_FUNCTIONS(TRIPINDEX_DECLARE)

// The library's predefined types and property-list classes (globals, valid after H5open).
static hid_t g_native_float, g_native_double, g_native_int64, g_c_string, g_dataset_access;

/// Shared-object names to try, newest layouts last; TRIPINDEX_HDF5_LIBRARY overrides them.
static const char *const library_names[] = {
    "libhdf5_serial.so.103", "libhdf5.so.103", "libhdf5_serial.so.200", "libhdf5.so.200",
    "libhdf5_serial.so.310", "libhdf5.so.310", "libhdf5_serial.so",     "libhdf5.so",
    "libhdf5.dylib"};

static int load_global(void *library, const char *name, hid_t *out, char *message,
                       size_t capacity) {
  hid_t *address = (hid_t *)dlsym(library, name);
  if (address == NULL) {
    snprintf(message, capacity, "the HDF5 library has no symbol %s", name);
    return -1;
  }
  *out = *address;
  return 0;
}

int tripindex_h5_load(char *message, size_t capacity) {
  const char *chosen = getenv("TRIPINDEX_HDF5_LIBRARY");
  void *library = NULL;
  if (chosen != NULL && chosen[0] != 0) {
    library = dlopen(chosen, RTLD_NOW | RTLD_LOCAL);
  } else {
    for (size_t i = 0; library == NULL && i < sizeof library_names / sizeof *library_names; i++) {
      chosen = library_names[i];
      library = dlopen(chosen, RTLD_NOW | RTLD_LOCAL);
    }
  }
  if (library == NULL) {
    snprintf(message, capacity,
             "reading HDF5 files needs the HDF5 library, which is not installed (on Debian and "
             "Ubuntu: apt-get install libhdf5-dev; or set TRIPINDEX_HDF5_LIBRARY to its path)");
    return -1;
  }
#define TRIPINDEX_RESOLVE(f)                                                                   \
  p_##f = (__typeof__(f) *)dlsym(library, TRIPINDEX_SYMBOL(f));                                \
  if (p_##f == NULL) {                                                                         \
    snprintf(message, capacity, "%s has no function %s", chosen, TRIPINDEX_SYMBOL(f));         \
    return -1;                                                                                 \
  }
  TRIPINDEX_H5_FUNCTIONS(TRIPINDEX_RESOLVE)
  unsigned major = 0, minor = 0, release = 0;
  if (p_H5open() < 0 || p_H5get_libversion(&major, &minor, &release) < 0) {
    snprintf(message, capacity, "%s cannot be initialised", chosen);
    return -1;
  }
  if (major != H5_VERS_MAJOR || minor != H5_VERS_MINOR) {
    snprintf(message, capacity,
             "%s is HDF5 %u.%u.%u; this build uses the headers of %d.%d (install the "
             "matching library, or set TRIPINDEX_HDF5_LIBRARY)",
             chosen, major, minor, release, H5_VERS_MAJOR, H5_VERS_MINOR);
    return -1;
  }
  if (load_global(library, "H5T_NATIVE_FLOAT_g", &g_native_float, message, capacity) < 0 ||
      load_global(library, "H5T_NATIVE_DOUBLE_g", &g_native_double, message, capacity) < 0 ||
      load_global(library, "H5T_NATIVE_INT64_g", &g_native_int64, message, capacity) < 0 ||
      load_global(library, "H5T_C_S1_g", &g_c_string, message, capacity) < 0 ||
      load_global(library, "H5P_CLS_DATASET_ACCESS_ID_g", &g_dataset_access, message,
                  capacity) < 0)
    return -1;
  // Errors are reported by the caller.
  p_H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
  return 0;
}

int tripindex_h5_is_hdf5(const char *path) { return (int)p_H5Fis_hdf5(path); }

tripindex_h5_id tripindex_h5_open_file(const char *path) {
  // H5F_ACC_RDONLY is 0 behind calls to H5check and H5open, which would need the link.
  return p_H5Fopen(path, 0x0000u, H5P_DEFAULT);
}

void tripindex_h5_close_file(tripindex_h5_id file) { p_H5Fclose(file); }

int tripindex_h5_dataset_kind(tripindex_h5_id file, const char *name) {
  htri_t exists = p_H5Lexists(file, name, H5P_DEFAULT);
  if (exists <= 0) return exists < 0 ? -1 : 0;
  hid_t object = p_H5Oopen(file, name, H5P_DEFAULT);
  if (object < 0) return -1;
  H5I_type_t type = p_H5Iget_type(object);
  p_H5Oclose(object);
  return type == H5I_DATASET ? 1 : 2;
}

/// Appends one name to the buffer described by `data` (start, end); stops when it is full.
static herr_t append_name(hid_t group, const char *name, const void *info, void *data) {
  (void)group;
  (void)info;
  char **cursor = (char **)data;
  size_t used = strlen(cursor[0]);
  size_t capacity = (size_t)(cursor[1] - cursor[0]);
  size_t length = strlen(name);
  if (used + length + 2 > capacity) return 1;
  if (used > 0) cursor[0][used++] = '\n';
  memcpy(cursor[0] + used, name, length + 1);
  return 0;
}

int tripindex_h5_top_level_names(tripindex_h5_id file, char *out, size_t capacity) {
  if (capacity == 0) return -1;
  out[0] = 0;
  char *cursor[2] = {out, out + capacity};
  hsize_t position = 0;
  // The callback ignores the link information, whose layout differs between HDF5 versions.
  if (p_H5Literate(file, H5_INDEX_NAME, H5_ITER_INC, &position, (void *)append_name, cursor) <
      0)
    return -1;
  return (int)strlen(out);
}

tripindex_h5_id tripindex_h5_open_dataset(tripindex_h5_id file, const char *name,
                                          size_t cache_bytes) {
  hid_t access = p_H5Pcreate(g_dataset_access);
  if (access < 0) return access;
  p_H5Pset_chunk_cache(access, 12421, cache_bytes, 1.0);
  hid_t dataset = p_H5Dopen2(file, name, access);
  p_H5Pclose(access);
  return dataset;
}

void tripindex_h5_close_dataset(tripindex_h5_id dataset) { p_H5Dclose(dataset); }

int tripindex_h5_dataset_shape(tripindex_h5_id dataset, unsigned long long *extents,
                               int capacity) {
  hid_t space = p_H5Dget_space(dataset);
  if (space < 0) return -1;
  int rank = p_H5Sget_simple_extent_ndims(space);
  if (rank >= 0 && rank <= capacity) {
    hsize_t dims[H5S_MAX_RANK];
    p_H5Sget_simple_extent_dims(space, dims, NULL);
    for (int i = 0; i < rank; i++) extents[i] = (unsigned long long)dims[i];
  }
  p_H5Sclose(space);
  return rank;
}

int tripindex_h5_dataset_type(tripindex_h5_id dataset, size_t *size, int *is_signed) {
  hid_t type = p_H5Dget_type(dataset);
  if (type < 0) return -1;
  H5T_class_t type_class = p_H5Tget_class(type);
  *size = p_H5Tget_size(type);
  *is_signed = type_class == H5T_INTEGER ? (p_H5Tget_sign(type) == H5T_SGN_2) : 1;
  p_H5Tclose(type);
  switch (type_class) {
  case H5T_INTEGER: return 1;
  case H5T_FLOAT: return 2;
  case H5T_STRING: return 3;
  default: return 0;
  }
}

int tripindex_h5_read_rows(tripindex_h5_id dataset, unsigned long long first,
                           unsigned long long rows, unsigned long long columns,
                           tripindex_h5_memory memory, void *out) {
  hid_t type = memory == tripindex_h5_float32   ? g_native_float
               : memory == tripindex_h5_float64 ? g_native_double
                                                : g_native_int64;
  hid_t file_space = p_H5Dget_space(dataset);
  if (file_space < 0) return -1;
  hsize_t start[2] = {first, 0};
  hsize_t count[2] = {rows, columns};
  herr_t status = p_H5Sselect_hyperslab(file_space, H5S_SELECT_SET, start, NULL, count, NULL);
  hid_t memory_space = status < 0 ? -1 : p_H5Screate_simple(2, count, NULL);
  if (memory_space >= 0) {
    status = p_H5Dread(dataset, type, memory_space, file_space, H5P_DEFAULT, out);
    p_H5Sclose(memory_space);
  } else {
    status = -1;
  }
  p_H5Sclose(file_space);
  return status < 0 ? -1 : 0;
}

/// Copies at most capacity - 1 bytes of `value` and a terminating zero; the length copied.
static long copy_string(const char *value, char *out, size_t capacity) {
  size_t length = strlen(value);
  if (length >= capacity) length = capacity - 1;
  memcpy(out, value, length);
  out[length] = 0;
  return (long)length;
}

long tripindex_h5_string_attribute(tripindex_h5_id file, const char *name, char *out,
                                   size_t capacity) {
  if (capacity == 0) return -3;
  out[0] = 0;
  htri_t exists = p_H5Aexists(file, name);
  if (exists <= 0) return exists == 0 ? -1 : -3;
  hid_t attribute = p_H5Aopen(file, name, H5P_DEFAULT);
  if (attribute < 0) return -3;
  hid_t type = p_H5Aget_type(attribute);
  long result = -3;
  if (type >= 0 && p_H5Tget_class(type) != H5T_STRING) {
    result = -2;
  } else if (type >= 0) {
    hid_t space = p_H5Aget_space(attribute);
    hssize_t points = space >= 0 ? p_H5Sget_simple_extent_npoints(space) : -1;
    if (points == 1) {
      hid_t memory_type = p_H5Tcopy(g_c_string);
      if (p_H5Tis_variable_str(type) > 0) {
        p_H5Tset_size(memory_type, H5T_VARIABLE);
        p_H5Tset_cset(memory_type, p_H5Tget_cset(type));
        char *value = NULL;
        if (p_H5Aread(attribute, memory_type, &value) >= 0 && value != NULL) {
          result = copy_string(value, out, capacity);
          p_H5free_memory(value);
        }
      } else {
        size_t size = p_H5Tget_size(type);
        p_H5Tset_size(memory_type, size + 1);
        p_H5Tset_strpad(memory_type, H5T_STR_NULLTERM);
        char *value = (char *)calloc(size + 1, 1);
        if (value != NULL && p_H5Aread(attribute, memory_type, value) >= 0)
          result = copy_string(value, out, capacity);
        free(value);
      }
      p_H5Tclose(memory_type);
    }
    if (space >= 0) p_H5Sclose(space);
  }
  if (type >= 0) p_H5Tclose(type);
  p_H5Aclose(attribute);
  return result;
}

#else  // built without the HDF5 headers: every file is refused with the reason.

int tripindex_h5_load(char *message, size_t capacity) {
  snprintf(message, capacity,
           "this build was made without the HDF5 headers (install libhdf5-dev and build "
           "again to read HDF5 files)");
  return -1;
}
int tripindex_h5_is_hdf5(const char *path) { (void)path; return -1; }
tripindex_h5_id tripindex_h5_open_file(const char *path) { (void)path; return -1; }
void tripindex_h5_close_file(tripindex_h5_id file) { (void)file; }
int tripindex_h5_dataset_kind(tripindex_h5_id file, const char *name) {
  (void)file; (void)name; return -1;
}
int tripindex_h5_top_level_names(tripindex_h5_id file, char *out, size_t capacity) {
  (void)file; (void)out; (void)capacity; return -1;
}
tripindex_h5_id tripindex_h5_open_dataset(tripindex_h5_id file, const char *name,
                                          size_t cache_bytes) {
  (void)file; (void)name; (void)cache_bytes; return -1;
}
void tripindex_h5_close_dataset(tripindex_h5_id dataset) { (void)dataset; }
int tripindex_h5_dataset_shape(tripindex_h5_id dataset, unsigned long long *extents,
                               int capacity) {
  (void)dataset; (void)extents; (void)capacity; return -1;
}
int tripindex_h5_dataset_type(tripindex_h5_id dataset, size_t *size, int *is_signed) {
  (void)dataset; (void)size; (void)is_signed; return -1;
}
int tripindex_h5_read_rows(tripindex_h5_id dataset, unsigned long long first,
                           unsigned long long rows, unsigned long long columns,
                           tripindex_h5_memory memory, void *out) {
  (void)dataset; (void)first; (void)rows; (void)columns; (void)memory; (void)out; return -1;
}
long tripindex_h5_string_attribute(tripindex_h5_id file, const char *name, char *out,
                                   size_t capacity) {
  (void)file; (void)name; (void)out; (void)capacity; return -3;
}

#endif
