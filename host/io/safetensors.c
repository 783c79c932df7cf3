/* Strict safetensors reader and atomic writer; format in models.md §7.9. */
#define _POSIX_C_SOURCE 200809L

#include "io/safetensors.h"

#include <cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/status.h"

/* The data is stored little-endian and copied byte for byte into floats. */
#if defined(__BYTE_ORDER__) && defined(__ORDER_LITTLE_ENDIAN__)
_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "safetensors I/O assumes a little-endian host");
#endif

/* The reference reader's cap on the header length. */
#define CS_ST_HEADER_CAP ((uint64_t)100 * 1000 * 1000)
/* Largest integer a double (cJSON's number type) holds exactly. */
#define CS_ST_MAX_JSON_INT 9007199254740992.0

static int host_is_little_endian(void) {
    const uint16_t one = 1;
    unsigned char b;
    memcpy(&b, &one, 1);
    return b == 1;
}

static const struct {
    const char *name;
    size_t size;
} dtype_table[CS_ST_DTYPE_COUNT] = {
    [CS_ST_BOOL] = {"BOOL", 1},       [CS_ST_U8] = {"U8", 1},    [CS_ST_I8] = {"I8", 1},
    [CS_ST_I16] = {"I16", 2},         [CS_ST_U16] = {"U16", 2},  [CS_ST_F16] = {"F16", 2},
    [CS_ST_BF16] = {"BF16", 2},       [CS_ST_I32] = {"I32", 4},  [CS_ST_U32] = {"U32", 4},
    [CS_ST_F32] = {"F32", 4},         [CS_ST_F64] = {"F64", 8},  [CS_ST_I64] = {"I64", 8},
    [CS_ST_U64] = {"U64", 8},         [CS_ST_F8_E5M2] = {"F8_E5M2", 1},
    [CS_ST_F8_E4M3] = {"F8_E4M3", 1},
};

const char *cs_st_dtype_name(cs_st_dtype dtype) {
    if ((int)dtype < 0 || dtype >= CS_ST_DTYPE_COUNT) return NULL;
    return dtype_table[dtype].name;
}

size_t cs_st_dtype_size(cs_st_dtype dtype) {
    if ((int)dtype < 0 || dtype >= CS_ST_DTYPE_COUNT) return 0;
    return dtype_table[dtype].size;
}

static int dtype_from_name(const char *s, cs_st_dtype *out) {
    for (int i = 0; i < CS_ST_DTYPE_COUNT; ++i) {
        if (strcmp(s, dtype_table[i].name) == 0) {
            *out = (cs_st_dtype)i;
            return 1;
        }
    }
    return 0;
}

struct cs_safetensors {
    char *path;
    uint8_t *file; /* the whole file */
    size_t file_size;
    const uint8_t *buffer; /* data buffer: file + 8 + header length */
    size_t buffer_size;
    int n_tensors;
    cs_st_tensor *tensors; /* header order */
    int *by_name;          /* indices into tensors, sorted by name */
    int n_meta;
    char **meta_keys, **meta_values;
};

/* ------------------------------------------------------------------ reading */

static cuseg_status read_whole_file(const char *path, uint8_t **out, size_t *size) {
    *out = NULL;
    *size = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return cs_error(CUSEG_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fileno(f), &sb) != 0) {
        int e = errno;
        fclose(f);
        return cs_error(CUSEG_ERR_IO, "%s: cannot stat: %s", path, strerror(e));
    }
    if (!S_ISREG(sb.st_mode)) {
        fclose(f);
        return cs_error(CUSEG_ERR_IO, "%s: not a regular file", path);
    }
    size_t n = (size_t)sb.st_size;
    uint8_t *buf;
    cuseg_status s = cs_alloc((void **)&buf, n, path);
    if (s != CUSEG_OK) {
        fclose(f);
        return s;
    }
    size_t got = fread(buf, 1, n, f);
    int read_failed = ferror(f);
    int e = errno;
    fclose(f);
    if (got != n) {
        free(buf);
        if (read_failed) return cs_error(CUSEG_ERR_IO, "%s: read failed: %s", path, strerror(e));
        return cs_error(CUSEG_ERR_IO, "%s: file shrank while reading (%zu of %zu bytes)", path, got, n);
    }
    *out = buf;
    *size = n;
    return CUSEG_OK;
}

/* Strict UTF-8 (no overlongs, surrogates or code points above U+10FFFF) and
 * no control characters other than tab/LF/CR: JSON allows them nowhere else,
 * and cJSON would otherwise treat them as whitespace. Returns the offset of
 * the first bad byte, or len when all is well. */
static size_t first_bad_utf8(const uint8_t *s, size_t len) {
    size_t i = 0;
    while (i < len) {
        uint8_t c = s[i];
        if (c < 0x80) {
            if (c < 0x20 && c != '\t' && c != '\n' && c != '\r') return i;
            ++i;
            continue;
        }
        size_t extra;
        uint32_t cp, min;
        if ((c & 0xE0) == 0xC0) { extra = 1; cp = c & 0x1F; min = 0x80; }
        else if ((c & 0xF0) == 0xE0) { extra = 2; cp = c & 0x0F; min = 0x800; }
        else if ((c & 0xF8) == 0xF0) { extra = 3; cp = c & 0x07; min = 0x10000; }
        else return i;
        if (len - i <= extra) return i;
        for (size_t k = 1; k <= extra; ++k) {
            if ((s[i + k] & 0xC0) != 0x80) return i;
            cp = (cp << 6) | (s[i + k] & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return i;
        i += extra + 1;
    }
    return len;
}

/* A JSON number that is a non-negative integer a double represents exactly. */
static int json_uint(const cJSON *item, uint64_t *out) {
    if (!cJSON_IsNumber(item)) return 0;
    double d = item->valuedouble;
    if (!(d >= 0.0) || d > CS_ST_MAX_JSON_INT || d != floor(d)) return 0;
    *out = (uint64_t)d;
    return 1;
}

static int cmp_tensor_by_name(const void *a, const void *b, const cs_st_tensor *t) {
    return strcmp(t[*(const int *)a].name, t[*(const int *)b].name);
}

/* qsort has no context argument in C11; sort small index arrays with a
 * merge sort of our own instead of relying on qsort_r. */
typedef int (*cs_idx_cmp)(const void *, const void *, const cs_st_tensor *);

static void merge_sort_idx(int *a, int *tmp, int n, cs_idx_cmp cmp, const cs_st_tensor *t) {
    if (n < 2) return;
    int h = n / 2;
    merge_sort_idx(a, tmp, h, cmp, t);
    merge_sort_idx(a + h, tmp, n - h, cmp, t);
    int i = 0, j = h, k = 0;
    while (i < h && j < n) tmp[k++] = cmp(&a[j], &a[i], t) < 0 ? a[j++] : a[i++];
    while (i < h) tmp[k++] = a[i++];
    while (j < n) tmp[k++] = a[j++];
    memcpy(a, tmp, (size_t)n * sizeof *a);
}

static int cmp_tensor_by_offsets(const void *a, const void *b, const cs_st_tensor *t) {
    const cs_st_tensor *x = &t[*(const int *)a], *y = &t[*(const int *)b];
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end) return x->end < y->end ? -1 : 1;
    return 0;
}

/* "[2,3]" into buf (truncated if long). */
static const char *format_shape(const cs_st_tensor *t, char *buf, size_t cap) {
    size_t n = 0;
    n += (size_t)snprintf(buf + n, cap - n, "[");
    for (int i = 0; i < t->ndim && n < cap; ++i)
        n += (size_t)snprintf(buf + n, cap - n, "%s%" PRId64, i ? "," : "", t->shape[i]);
    if (n < cap) snprintf(buf + n, cap - n, "]");
    return buf;
}

static cuseg_status parse_metadata(cs_safetensors *st, const cJSON *meta) {
    const char *path = st->path;
    if (!cJSON_IsObject(meta))
        return cs_error(CUSEG_ERR_FORMAT, "%s: __metadata__ must be an object of strings", path);
    int n = cJSON_GetArraySize(meta);
    CS_CHECK(cs_calloc((void **)&st->meta_keys, (size_t)n * sizeof(char *), "safetensors metadata"));
    CS_CHECK(cs_calloc((void **)&st->meta_values, (size_t)n * sizeof(char *), "safetensors metadata"));
    const cJSON *kv;
    cJSON_ArrayForEach(kv, meta) {
        if (!cJSON_IsString(kv))
            return cs_error(CUSEG_ERR_FORMAT, "%s: __metadata__ value of '%s' is not a string", path,
                            kv->string);
        for (int i = 0; i < st->n_meta; ++i)
            if (strcmp(st->meta_keys[i], kv->string) == 0)
                return cs_error(CUSEG_ERR_FORMAT, "%s: __metadata__ key '%s' appears twice", path,
                                kv->string);
        char *k = cs_strdup(kv->string), *v = cs_strdup(kv->valuestring);
        st->meta_keys[st->n_meta] = k;
        st->meta_values[st->n_meta] = v;
        st->n_meta++;
        if (!k || !v) return cs_error(CUSEG_ERR_OUT_OF_MEMORY, "%s: cannot copy metadata", path);
    }
    return CUSEG_OK;
}

/* Validates one header entry into *t (name already set). */
static cuseg_status parse_tensor(cs_safetensors *st, const cJSON *entry, cs_st_tensor *t) {
    const char *path = st->path, *name = t->name;
    if (!cJSON_IsObject(entry))
        return cs_error(CUSEG_ERR_FORMAT, "%s: tensor '%s': entry is not an object", path, name);
    const cJSON *dtype = cJSON_GetObjectItemCaseSensitive(entry, "dtype");
    const cJSON *shape = cJSON_GetObjectItemCaseSensitive(entry, "shape");
    const cJSON *offs = cJSON_GetObjectItemCaseSensitive(entry, "data_offsets");
    if (!dtype) return cs_error(CUSEG_ERR_FORMAT, "%s: tensor '%s': missing \"dtype\"", path, name);
    if (!shape) return cs_error(CUSEG_ERR_FORMAT, "%s: tensor '%s': missing \"shape\"", path, name);
    if (!offs) return cs_error(CUSEG_ERR_FORMAT, "%s: tensor '%s': missing \"data_offsets\"", path, name);
    if (!cJSON_IsString(dtype))
        return cs_error(CUSEG_ERR_FORMAT, "%s: tensor '%s': \"dtype\" is not a string", path, name);
    if (!dtype_from_name(dtype->valuestring, &t->dtype))
        return cs_error(CUSEG_ERR_FORMAT, "%s: tensor '%s': unknown dtype \"%s\"", path, name,
                        dtype->valuestring);
    if (!cJSON_IsArray(shape))
        return cs_error(CUSEG_ERR_FORMAT, "%s: tensor '%s': \"shape\" is not an array", path, name);

    int ndim = cJSON_GetArraySize(shape);
    int64_t *dims;
    CS_CHECK(cs_calloc((void **)&dims, (size_t)ndim * sizeof *dims, "safetensors shape"));
    t->shape = dims;
    t->ndim = ndim;
    uint64_t numel = 1;
    int overflow = 0, d = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, shape) {
        uint64_t v;
        if (!json_uint(it, &v))
            return cs_error(CUSEG_ERR_FORMAT,
                            "%s: tensor '%s': shape[%d] is not an integer in [0, 2^53]", path, name, d);
        dims[d++] = (int64_t)v;
        /* Like the reference: the running product must not overflow, even if
         * a later dimension is 0. */
        if (v != 0 && numel > UINT64_MAX / v) overflow = 1;
        else numel *= v;
    }
    size_t esize = dtype_table[t->dtype].size;
    if (overflow || numel > UINT64_MAX / esize || numel * esize > SIZE_MAX)
        return cs_error(CUSEG_ERR_FORMAT, "%s: tensor '%s': shape product overflows", path, name);
    t->numel = numel;

    uint64_t begin, end;
    if (!cJSON_IsArray(offs) || cJSON_GetArraySize(offs) != 2 || !json_uint(offs->child, &begin) ||
        !json_uint(offs->child->next, &end) || begin > end)
        return cs_error(CUSEG_ERR_FORMAT,
                        "%s: tensor '%s': \"data_offsets\" must be [begin, end] with 0 <= begin <= end <= 2^53",
                        path, name);
    t->begin = begin;
    t->end = end;
    if (end > st->buffer_size)
        return cs_error(CUSEG_ERR_FORMAT,
                        "%s: tensor '%s': data_offsets [%" PRIu64 ", %" PRIu64
                        "] go beyond the data buffer of %zu bytes (file truncated?)",
                        path, name, begin, end, st->buffer_size);
    uint64_t need = numel * esize;
    if (end - begin != need) {
        char sbuf[128];
        return cs_error(CUSEG_ERR_FORMAT,
                        "%s: tensor '%s': shape %s %s needs %" PRIu64 " bytes, offsets give %" PRIu64,
                        path, name, format_shape(t, sbuf, sizeof sbuf), dtype_table[t->dtype].name,
                        need, end - begin);
    }
    t->data = st->buffer + begin;
    t->nbytes = (size_t)need;
    return CUSEG_OK;
}

/* Sorted by offsets, the ranges must tile [0, buffer_size) exactly. */
static cuseg_status check_tiling(cs_safetensors *st) {
    int n = st->n_tensors;
    int *idx = NULL, *tmp = NULL;
    cuseg_status s = cs_alloc((void **)&idx, (size_t)n * sizeof *idx, "safetensors index");
    if (s == CUSEG_OK) s = cs_alloc((void **)&tmp, (size_t)n * sizeof *tmp, "safetensors index");
    if (s != CUSEG_OK) {
        free(idx);
        return s;
    }
    for (int i = 0; i < n; ++i) idx[i] = i;
    merge_sort_idx(idx, tmp, n, cmp_tensor_by_offsets, st->tensors);
    uint64_t pos = 0;
    const char *prev = NULL;
    for (int i = 0; i < n && s == CUSEG_OK; ++i) {
        const cs_st_tensor *t = &st->tensors[idx[i]];
        if (t->begin < pos)
            s = cs_error(CUSEG_ERR_FORMAT,
                         "%s: tensor '%s': data_offsets [%" PRIu64 ", %" PRIu64
                         "] overlap tensor '%s' (which ends at %" PRIu64 ")",
                         st->path, t->name, t->begin, t->end, prev, pos);
        else if (t->begin > pos)
            s = cs_error(CUSEG_ERR_FORMAT,
                         "%s: gap in the data buffer: bytes [%" PRIu64 ", %" PRIu64
                         ") before tensor '%s' belong to no tensor",
                         st->path, pos, t->begin, t->name);
        pos = t->end;
        prev = t->name;
    }
    if (s == CUSEG_OK && pos != st->buffer_size)
        s = cs_error(CUSEG_ERR_FORMAT,
                     "%s: gap in the data buffer: bytes [%" PRIu64 ", %zu) at its end belong to no tensor",
                     st->path, pos, st->buffer_size);
    free(idx);
    free(tmp);
    return s;
}

static cuseg_status parse_header(cs_safetensors *st, const char *json, size_t len) {
    const char *path = st->path;
    if (len == 0 || json[0] != '{')
        return cs_error(CUSEG_ERR_FORMAT, "%s: header does not start with '{'", path);
    size_t bad = first_bad_utf8((const uint8_t *)json, len);
    if (bad != len)
        return cs_error(CUSEG_ERR_FORMAT,
                        "%s: header is not valid UTF-8 JSON text (bad byte 0x%02x at header offset %zu)",
                        path, (unsigned)(uint8_t)json[bad], bad);
    /* cJSON wants the terminating NUL inside the length it is given. */
    char *text;
    CS_CHECK(cs_alloc((void **)&text, len + 1, "safetensors header"));
    memcpy(text, json, len);
    text[len] = '\0';
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(text, len + 1, &end, 1);
    cuseg_status s = CUSEG_OK;
    if (!root) {
        size_t at = end && end >= text && end <= text + len ? (size_t)(end - text) : 0;
        s = cs_error(CUSEG_ERR_FORMAT, "%s: header is not valid JSON (error near header offset %zu)",
                     path, at);
    } else if (!cJSON_IsObject(root)) {
        s = cs_error(CUSEG_ERR_FORMAT, "%s: header is not a JSON object", path);
    }

    int n_entries = root ? cJSON_GetArraySize(root) : 0;
    if (s == CUSEG_OK)
        s = cs_calloc((void **)&st->tensors, (size_t)n_entries * sizeof *st->tensors,
                      "safetensors tensors");
    int seen_meta = 0;
    const cJSON *entry = root && s == CUSEG_OK ? root->child : NULL;
    for (; entry && s == CUSEG_OK; entry = entry->next) {
        if (strcmp(entry->string, "__metadata__") == 0) {
            if (seen_meta) s = cs_error(CUSEG_ERR_FORMAT, "%s: __metadata__ appears twice", path);
            else s = parse_metadata(st, entry);
            seen_meta = 1;
            continue;
        }
        cs_st_tensor *t = &st->tensors[st->n_tensors++];
        char *name = cs_strdup(entry->string);
        t->name = name;
        if (!name) s = cs_error(CUSEG_ERR_OUT_OF_MEMORY, "%s: cannot copy a tensor name", path);
        else s = parse_tensor(st, entry, t);
    }
    cJSON_Delete(root);
    free(text);
    CS_CHECK(s);

    /* Name index; duplicates sit next to each other once sorted. */
    int n = st->n_tensors, *tmp;
    CS_CHECK(cs_alloc((void **)&st->by_name, (size_t)n * sizeof *st->by_name, "safetensors index"));
    CS_CHECK(cs_alloc((void **)&tmp, (size_t)n * sizeof *tmp, "safetensors index"));
    for (int i = 0; i < n; ++i) st->by_name[i] = i;
    merge_sort_idx(st->by_name, tmp, n, cmp_tensor_by_name, st->tensors);
    free(tmp);
    for (int i = 1; i < n; ++i) {
        const char *a = st->tensors[st->by_name[i - 1]].name, *b = st->tensors[st->by_name[i]].name;
        if (strcmp(a, b) == 0)
            return cs_error(CUSEG_ERR_FORMAT, "%s: tensor '%s' appears twice in the header", path, a);
    }
    return check_tiling(st);
}

cuseg_status cs_safetensors_open(const char *path, cs_safetensors **out) {
    CS_CHECK_ARG(out != NULL, "cs_safetensors_open: out is NULL");
    *out = NULL;
    CS_CHECK_ARG(path != NULL, "cs_safetensors_open: path is NULL");
    if (!host_is_little_endian())
        return cs_error(CUSEG_ERR_UNSUPPORTED, "safetensors needs a little-endian host");

    cs_safetensors *st;
    CS_CHECK(cs_calloc((void **)&st, sizeof *st, "safetensors"));
    st->path = cs_strdup(path);
    cuseg_status s = st->path ? CUSEG_OK : cs_error(CUSEG_ERR_OUT_OF_MEMORY, "cannot copy a path");
    if (s == CUSEG_OK) s = read_whole_file(path, &st->file, &st->file_size);
    if (s == CUSEG_OK && st->file_size < 8)
        s = cs_error(CUSEG_ERR_FORMAT,
                     "%s: file is %zu bytes, shorter than the 8-byte header length (not a safetensors file?)",
                     path, st->file_size);
    if (s == CUSEG_OK) {
        uint64_t n = 0;
        for (int i = 7; i >= 0; --i) n = (n << 8) | st->file[i];
        if (n == 0)
            s = cs_error(CUSEG_ERR_FORMAT, "%s: header length is 0", path);
        else if (n > CS_ST_HEADER_CAP)
            s = cs_error(CUSEG_ERR_FORMAT,
                         "%s: header length %" PRIu64 " exceeds the 100 MB cap (not a safetensors file?)",
                         path, n);
        else if (n > st->file_size - 8)
            s = cs_error(CUSEG_ERR_FORMAT,
                         "%s: header length %" PRIu64 " is beyond the end of the %zu-byte file (truncated?)",
                         path, n, st->file_size);
        else {
            st->buffer = st->file + 8 + n;
            st->buffer_size = st->file_size - 8 - (size_t)n;
            s = parse_header(st, (const char *)st->file + 8, (size_t)n);
        }
    }
    if (s != CUSEG_OK) {
        cs_safetensors_close(st);
        return s;
    }
    *out = st;
    return CUSEG_OK;
}

void cs_safetensors_close(cs_safetensors *st) {
    if (!st) return;
    for (int i = 0; i < st->n_tensors; ++i) {
        free((void *)st->tensors[i].name);
        free((void *)st->tensors[i].shape);
    }
    free(st->tensors);
    free(st->by_name);
    for (int i = 0; i < st->n_meta; ++i) {
        free(st->meta_keys[i]);
        free(st->meta_values[i]);
    }
    free(st->meta_keys);
    free(st->meta_values);
    free(st->file);
    free(st->path);
    free(st);
}

int cs_safetensors_count(const cs_safetensors *st) { return st ? st->n_tensors : 0; }

const cs_st_tensor *cs_safetensors_at(const cs_safetensors *st, int index) {
    if (!st || index < 0 || index >= st->n_tensors) return NULL;
    return &st->tensors[index];
}

const cs_st_tensor *cs_safetensors_find(const cs_safetensors *st, const char *name) {
    if (!st || !name) return NULL;
    int lo = 0, hi = st->n_tensors - 1;
    while (lo <= hi) {
        int mid = lo + (hi - lo) / 2;
        const cs_st_tensor *t = &st->tensors[st->by_name[mid]];
        int c = strcmp(name, t->name);
        if (c == 0) return t;
        if (c < 0) hi = mid - 1;
        else lo = mid + 1;
    }
    return NULL;
}

const char *cs_safetensors_metadata(const cs_safetensors *st, const char *key) {
    if (!st || !key) return NULL;
    for (int i = 0; i < st->n_meta; ++i)
        if (strcmp(st->meta_keys[i], key) == 0) return st->meta_values[i];
    return NULL;
}

int cs_safetensors_metadata_count(const cs_safetensors *st) { return st ? st->n_meta : 0; }

int cs_safetensors_metadata_at(const cs_safetensors *st, int index, const char **key,
                               const char **value) {
    if (!st || index < 0 || index >= st->n_meta) return 0;
    if (key) *key = st->meta_keys[index];
    if (value) *value = st->meta_values[index];
    return 1;
}

/* IEEE 754 binary16 -> binary32, exact (subnormals, infinities, NaN payloads). */
static float half_to_float(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1Fu, mant = h & 0x3FFu, bits;
    if (exp == 0x1F) {
        bits = sign | 0x7F800000u | (mant << 13);
    } else if (exp != 0) {
        bits = sign | ((exp + 112u) << 23) | (mant << 13);
    } else if (mant == 0) {
        bits = sign;
    } else {
        /* Subnormal: normalise the mantissa; value = mant * 2^-24. */
        int e = -1;
        do {
            mant <<= 1;
            ++e;
        } while (!(mant & 0x400u));
        bits = sign | ((uint32_t)(112 - e) << 23) | ((mant & 0x3FFu) << 13);
    }
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

cuseg_status cs_safetensors_read_f32(const cs_safetensors *st, const char *name, float *dst,
                                     size_t count) {
    CS_CHECK_ARG(st && name, "cs_safetensors_read_f32: NULL argument");
    const cs_st_tensor *t = cs_safetensors_find(st, name);
    if (!t) return cs_error(CUSEG_ERR_NOT_FOUND, "%s: no tensor '%s'", st->path, name);
    if (t->numel != count)
        return cs_error(CUSEG_ERR_SHAPE, "%s: tensor '%s' has %" PRIu64 " elements, the caller expects %zu",
                        st->path, name, t->numel, count);
    CS_CHECK_ARG(dst || count == 0, "cs_safetensors_read_f32: dst is NULL");
    const uint8_t *src = t->data;
    switch (t->dtype) {
    case CS_ST_F32:
        if (count) memcpy(dst, src, count * sizeof(float));
        break;
    case CS_ST_F16:
        for (size_t i = 0; i < count; ++i)
            dst[i] = half_to_float((uint16_t)(src[2 * i] | (src[2 * i + 1] << 8)));
        break;
    case CS_ST_BF16:
        for (size_t i = 0; i < count; ++i) {
            uint32_t bits = ((uint32_t)src[2 * i] << 16) | ((uint32_t)src[2 * i + 1] << 24);
            memcpy(&dst[i], &bits, sizeof bits);
        }
        break;
    default:
        return cs_error(CUSEG_ERR_UNSUPPORTED,
                        "%s: tensor '%s' has dtype %s; only F32, F16 and BF16 convert to float",
                        st->path, name, dtype_table[t->dtype].name);
    }
    return CUSEG_OK;
}

/* ------------------------------------------------------------------ writing */

static cJSON *json_uint_raw(uint64_t v) {
    /* Raw text: cJSON would print integers >= 1e15 in exponent form. */
    char buf[32];
    snprintf(buf, sizeof buf, "%" PRIu64, v);
    return cJSON_CreateRaw(buf);
}

static cuseg_status validate_inputs(const cs_st_tensor_in *tensors, int n, const char *const *meta_kv,
                                    const char *path, uint64_t *nbytes) {
    CS_CHECK_ARG(n >= 0 && (n == 0 || tensors), "%s: bad tensor list (n = %d)", path, n);
    for (int i = 0; i < n; ++i) {
        const cs_st_tensor_in *t = &tensors[i];
        CS_CHECK_ARG(t->name && t->name[0], "%s: tensor #%d has no name", path, i);
        CS_CHECK_ARG(strcmp(t->name, "__metadata__") != 0, "%s: '__metadata__' is not a tensor name", path);
        for (int j = 0; j < i; ++j)
            CS_CHECK_ARG(strcmp(tensors[j].name, t->name) != 0, "%s: tensor '%s' given twice", path, t->name);
        CS_CHECK_ARG(cs_st_dtype_size(t->dtype) != 0, "%s: tensor '%s': invalid dtype %d", path, t->name,
                     (int)t->dtype);
        CS_CHECK_ARG(t->ndim >= 0 && t->ndim <= CS_ST_MAX_DIMS, "%s: tensor '%s': ndim %d not in [0, %d]",
                     path, t->name, t->ndim, CS_ST_MAX_DIMS);
        uint64_t numel = 1;
        for (int d = 0; d < t->ndim; ++d) {
            CS_CHECK_ARG(t->dims[d] >= 0 && (double)t->dims[d] <= CS_ST_MAX_JSON_INT,
                         "%s: tensor '%s': dims[%d] = %" PRId64 " is invalid", path, t->name, d, t->dims[d]);
            uint64_t v = (uint64_t)t->dims[d];
            CS_CHECK_ARG(v == 0 || numel <= UINT64_MAX / v, "%s: tensor '%s': shape product overflows", path,
                         t->name);
            numel *= v;
        }
        uint64_t size = cs_st_dtype_size(t->dtype);
        CS_CHECK_ARG(numel <= (SIZE_MAX - nbytes[i]) / size, "%s: tensor '%s': too large", path, t->name);
        nbytes[i + 1] = nbytes[i] + numel * size;
        CS_CHECK_ARG(t->data || numel == 0, "%s: tensor '%s': data is NULL", path, t->name);
    }
    if (meta_kv) {
        for (int i = 0; meta_kv[i]; i += 2) {
            CS_CHECK_ARG(meta_kv[i + 1], "%s: metadata key '%s' has no value", path, meta_kv[i]);
            for (int j = 0; j < i; j += 2)
                CS_CHECK_ARG(strcmp(meta_kv[i], meta_kv[j]) != 0, "%s: metadata key '%s' given twice", path,
                             meta_kv[i]);
        }
    }
    return CUSEG_OK;
}

/* The compact JSON header, or NULL with the error set. */
static char *build_header(const cs_st_tensor_in *tensors, int n, const char *const *meta_kv,
                          const uint64_t *offsets, const char *path) {
    cJSON *root = cJSON_CreateObject();
    int ok = root != NULL;
    if (ok && meta_kv && meta_kv[0]) {
        cJSON *meta = cJSON_AddObjectToObject(root, "__metadata__");
        ok = meta != NULL;
        for (int i = 0; ok && meta_kv[i]; i += 2)
            ok = cJSON_AddStringToObject(meta, meta_kv[i], meta_kv[i + 1]) != NULL;
    }
    for (int i = 0; ok && i < n; ++i) {
        const cs_st_tensor_in *t = &tensors[i];
        cJSON *e = cJSON_AddObjectToObject(root, t->name);
        cJSON *shape = e ? cJSON_CreateArray() : NULL;
        cJSON *offs = shape ? cJSON_CreateArray() : NULL;
        ok = e && shape && offs && cJSON_AddStringToObject(e, "dtype", cs_st_dtype_name(t->dtype));
        if (shape) cJSON_AddItemToObject(e, "shape", shape);
        if (offs) cJSON_AddItemToObject(e, "data_offsets", offs);
        for (int d = 0; ok && d < t->ndim; ++d) {
            cJSON *v = json_uint_raw((uint64_t)t->dims[d]);
            ok = v != NULL;
            if (v) cJSON_AddItemToArray(shape, v);
        }
        for (int k = 0; ok && k < 2; ++k) {
            cJSON *v = json_uint_raw(offsets[i + k]);
            ok = v != NULL;
            if (v) cJSON_AddItemToArray(offs, v);
        }
    }
    char *text = ok ? cJSON_PrintUnformatted(root) : NULL;
    cJSON_Delete(root);
    if (!text) cs_error(CUSEG_ERR_OUT_OF_MEMORY, "%s: cannot build the safetensors header", path);
    return text;
}

static int write_all(FILE *f, const void *p, size_t n) { return n == 0 || fwrite(p, 1, n, f) == n; }

cuseg_status cs_safetensors_write(const char *path, const cs_st_tensor_in *tensors, int n,
                                  const char *const *meta_kv) {
    CS_CHECK_ARG(path && path[0], "cs_safetensors_write: path is NULL or empty");
    if (!host_is_little_endian())
        return cs_error(CUSEG_ERR_UNSUPPORTED, "safetensors needs a little-endian host");
    uint64_t *offsets;
    CS_CHECK_ARG(n >= 0, "%s: bad tensor count %d", path, n);
    CS_CHECK(cs_calloc((void **)&offsets, ((size_t)n + 1) * sizeof *offsets, "safetensors offsets"));
    cuseg_status s = validate_inputs(tensors, n, meta_kv, path, offsets);
    char *header = s == CUSEG_OK ? build_header(tensors, n, meta_kv, offsets, path) : NULL;
    if (s == CUSEG_OK && !header) s = CUSEG_ERR_OUT_OF_MEMORY;
    char *tmp = NULL;
    if (s == CUSEG_OK) {
        size_t cap = strlen(path) + 32;
        s = cs_alloc((void **)&tmp, cap, "temporary path");
        if (s == CUSEG_OK) snprintf(tmp, cap, "%s.tmp.%ld", path, (long)getpid());
    }
    FILE *f = NULL;
    if (s == CUSEG_OK) {
        f = fopen(tmp, "wb");
        if (!f) s = cs_error(CUSEG_ERR_IO, "%s: cannot create %s: %s", path, tmp, strerror(errno));
    }
    if (s == CUSEG_OK) {
        size_t hlen = strlen(header);
        size_t padded = (hlen + 7) / 8 * 8; /* data starts 8-byte aligned, as the reference pads */
        uint8_t len_le[8];
        for (int i = 0; i < 8; ++i) len_le[i] = (uint8_t)((uint64_t)padded >> (8 * i));
        int ok = write_all(f, len_le, 8) && write_all(f, header, hlen);
        for (size_t i = hlen; ok && i < padded; ++i) ok = fputc(' ', f) != EOF;
        for (int i = 0; ok && i < n; ++i)
            ok = write_all(f, tensors[i].data, (size_t)(offsets[i + 1] - offsets[i]));
        if (ok) ok = fflush(f) == 0 && fsync(fileno(f)) == 0;
        if (!ok) s = cs_error(CUSEG_ERR_IO, "%s: writing %s failed: %s", path, tmp, strerror(errno));
        if (fclose(f) != 0 && s == CUSEG_OK)
            s = cs_error(CUSEG_ERR_IO, "%s: closing %s failed: %s", path, tmp, strerror(errno));
        if (s == CUSEG_OK && rename(tmp, path) != 0)
            s = cs_error(CUSEG_ERR_IO, "%s: cannot rename %s over it: %s", path, tmp, strerror(errno));
        if (s != CUSEG_OK) remove(tmp);
    }
    free(tmp);
    cJSON_free(header);
    free(offsets);
    return s;
}
