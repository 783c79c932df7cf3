/* Strict safetensors reader and atomic writer (models.md §7.9).
 *
 * File layout: u64 little-endian header length N, N bytes of UTF-8 JSON
 * (an object: tensor name -> {"dtype","shape","data_offsets"}, plus an
 * optional "__metadata__" string -> string map), then the data buffer.
 * data_offsets are [begin, end) relative to the start of the data buffer.
 *
 * The reader loads the whole file and rejects anything the reference
 * implementation would reject (and a little more: duplicate names, non-UTF-8
 * headers), with messages that name the file and the tensor. */
#ifndef CS_IO_SAFETENSORS_H
#define CS_IO_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "cuseg.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum cs_st_dtype {
    CS_ST_BOOL,
    CS_ST_U8,
    CS_ST_I8,
    CS_ST_I16,
    CS_ST_U16,
    CS_ST_F16,
    CS_ST_BF16,
    CS_ST_I32,
    CS_ST_U32,
    CS_ST_F32,
    CS_ST_F64,
    CS_ST_I64,
    CS_ST_U64,
    CS_ST_F8_E5M2,
    CS_ST_F8_E4M3,
    CS_ST_DTYPE_COUNT
} cs_st_dtype;

/* "F32", "BF16", ...; NULL for an invalid value. */
const char *cs_st_dtype_name(cs_st_dtype dtype);
/* Bytes per element; 0 for an invalid value. */
size_t cs_st_dtype_size(cs_st_dtype dtype);

/* One tensor of an open file. Read-only; owned by the cs_safetensors. */
typedef struct cs_st_tensor {
    const char *name;
    cs_st_dtype dtype;
    int ndim;              /* 0 for a scalar */
    const int64_t *shape;  /* ndim entries, C order */
    uint64_t numel;        /* product of shape (1 for a scalar) */
    uint64_t begin, end;   /* data_offsets as in the file */
    const void *data;      /* numel * dtype size bytes; NOT necessarily aligned */
    size_t nbytes;
} cs_st_tensor;

typedef struct cs_safetensors cs_safetensors;

/* Reads and validates the whole file. CUSEG_ERR_IO if it cannot be read,
 * CUSEG_ERR_FORMAT for any violation of the format. */
cuseg_status cs_safetensors_open(const char *path, cs_safetensors **out);
void cs_safetensors_close(cs_safetensors *st);

/* Tensors in header order. */
int cs_safetensors_count(const cs_safetensors *st);
const cs_st_tensor *cs_safetensors_at(const cs_safetensors *st, int index);
/* NULL if there is no tensor of that name. */
const cs_st_tensor *cs_safetensors_find(const cs_safetensors *st, const char *name);

/* __metadata__: value of `key`, or NULL if absent. */
const char *cs_safetensors_metadata(const cs_safetensors *st, const char *key);
int cs_safetensors_metadata_count(const cs_safetensors *st);
/* Key and value of entry `index` (header order); returns 0 when out of range. */
int cs_safetensors_metadata_at(const cs_safetensors *st, int index, const char **key,
                               const char **value);

/* Converts tensor `name` (F32, F16 or BF16) to float. `count` must equal its
 * element count. CUSEG_ERR_NOT_FOUND if absent, CUSEG_ERR_SHAPE on a count
 * mismatch, CUSEG_ERR_UNSUPPORTED for other dtypes. */
cuseg_status cs_safetensors_read_f32(const cs_safetensors *st, const char *name, float *dst,
                                     size_t count);

#define CS_ST_MAX_DIMS 8

typedef struct cs_st_tensor_in {
    const char *name;
    cs_st_dtype dtype;
    int ndim;
    int64_t dims[CS_ST_MAX_DIMS];
    const void *data; /* product(dims) * dtype size bytes, little-endian */
} cs_st_tensor_in;

/* Writes `n` tensors, contiguous in the given order, and the metadata
 * `meta_kv` = {key, value, key, value, ..., NULL} (may be NULL). The header is
 * space-padded to a multiple of 8 bytes as the reference writer does.
 * Atomic: writes "<path>.tmp.<pid>", fsyncs it, then renames it over `path`;
 * on failure the temporary is removed and an existing `path` is untouched. */
cuseg_status cs_safetensors_write(const char *path, const cs_st_tensor_in *tensors, int n,
                                  const char *const *meta_kv);

#ifdef __cplusplus
}
#endif

#endif
