#include "io/image.h"

#include <errno.h>
#include <png.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jpeglib.h>

#include "core/fs.h"
#include "core/status.h"

/* Decoders refuse images above this many pixels (a corrupt header can claim
 * gigapixels; large real images go through tiling, not one buffer). */
#define MAX_PIXELS ((size_t)1 << 28)
#define MAX_FILE_BYTES ((size_t)1 << 30)

void cs_image_free(cs_image *img) {
    if (!img) return;
    free(img->data);
    img->data = NULL;
}

/* ---------------------------------------------------------------- PNG */

typedef struct png_source {
    const unsigned char *p;
    size_t size, pos;
    char message[256];
    jmp_buf jump;
} png_source;

static void png_on_error(png_structp png, png_const_charp msg) {
    png_source *src = png_get_error_ptr(png);
    snprintf(src->message, sizeof src->message, "%s", msg);
    longjmp(src->jump, 1);
}

static void png_on_warning(png_structp png, png_const_charp msg) {
    (void)png;
    (void)msg; /* benign (e.g. unknown chunks); real damage raises an error */
}

static void png_read_mem(png_structp png, png_bytep out, png_size_t n) {
    png_source *src = png_get_io_ptr(png);
    if (n > src->size - src->pos) png_error(png, "file is truncated");
    memcpy(out, src->p + src->pos, n);
    src->pos += n;
}

static cuseg_status decode_png(const unsigned char *bytes, size_t size, const char *what,
                               cs_image_mode mode, cs_image *out) {
    png_source src;
    memset(&src, 0, sizeof src);
    src.p = bytes;
    src.size = size;
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &src, png_on_error, png_on_warning);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!info) {
        png_destroy_read_struct(&png, NULL, NULL);
        return cs_error(CUSEG_ERR_OUT_OF_MEMORY, "%s: cannot allocate a PNG decoder", what);
    }
    /* volatile: modified between setjmp and a possible longjmp. */
    unsigned char *volatile data = NULL;
    png_bytep *volatile rows = NULL;
    volatile cuseg_status status = CUSEG_OK;
    if (setjmp(src.jump)) {
        free(data);
        free(rows);
        png_destroy_read_struct(&png, &info, NULL);
        if (status != CUSEG_OK) return status;
        return cs_error(CUSEG_ERR_FORMAT, "%s: corrupt or truncated PNG: %s", what, src.message);
    }
    png_set_read_fn(png, &src, png_read_mem);
    png_set_user_limits(png, 1u << 20, 1u << 20);
    png_read_info(png, info);
    png_uint_32 w = png_get_image_width(png, info), h = png_get_image_height(png, info);
    const int color = png_get_color_type(png, info), depth = png_get_bit_depth(png, info);
    if ((size_t)w * h > MAX_PIXELS) {
        status = cs_error(CUSEG_ERR_UNSUPPORTED, "%s: %ux%u pixels is more than cuseg decodes at once (%zu)",
                          what, (unsigned)w, (unsigned)h, MAX_PIXELS);
        png_error(png, "too large");
    }
    int channels, out_depth = 8;
    if (mode == CS_IMAGE_LABEL) {
        if (color != PNG_COLOR_TYPE_GRAY && color != PNG_COLOR_TYPE_PALETTE) {
            status = cs_error(CUSEG_ERR_FORMAT,
                              "%s: a label PNG must be gray or palette (one value per pixel), this one "
                              "has %d channels",
                              what, png_get_channels(png, info));
            png_error(png, "not a label");
        }
        if (depth < 8) png_set_packing(png); /* indices stay indices */
        if (depth == 16) {
            out_depth = 16;
            png_set_swap(png); /* PNG is big-endian */
        }
        channels = 1;
    } else {
        if (color == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
        if (color == PNG_COLOR_TYPE_GRAY && depth < 8) png_set_expand_gray_1_2_4_to_8(png);
        if (depth == 16) png_set_strip_16(png);
        if (color & PNG_COLOR_MASK_ALPHA) png_set_strip_alpha(png);
        const int is_gray = !(color & PNG_COLOR_MASK_COLOR) && color != PNG_COLOR_TYPE_PALETTE;
        if (mode == CS_IMAGE_RGB && is_gray) png_set_gray_to_rgb(png);
        /* Colour to gray is done by to_gray() below, the same for PNG and JPEG. */
        channels = mode == CS_IMAGE_RGB || !is_gray ? 3 : 1;
    }
    png_set_interlace_handling(png);
    png_read_update_info(png, info);
    const size_t row_bytes = png_get_rowbytes(png, info);
    if (row_bytes != (size_t)w * channels * (out_depth / 8)) {
        status = cs_error(CUSEG_ERR_INTERNAL, "%s: unexpected PNG row size %zu", what, row_bytes);
        png_error(png, "row size");
    }
    data = malloc(row_bytes * h);
    rows = malloc(sizeof(png_bytep) * h);
    if (!data || !rows) {
        status = cs_error(CUSEG_ERR_OUT_OF_MEMORY, "%s: cannot allocate %zu bytes", what, row_bytes * h);
        png_error(png, "out of memory");
    }
    for (png_uint_32 y = 0; y < h; ++y) rows[y] = data + (size_t)y * row_bytes;
    png_read_image(png, rows);
    png_read_end(png, NULL);
    free(rows);
    png_destroy_read_struct(&png, &info, NULL);
    *out = (cs_image){(int)h, (int)w, channels, out_depth, data};
    return CUSEG_OK;
}

/* ---------------------------------------------------------------- JPEG */

typedef struct jpeg_errors {
    struct jpeg_error_mgr mgr;
    jmp_buf jump;
    char message[JMSG_LENGTH_MAX];
    int warnings;
} jpeg_errors;

static void jpeg_on_error(j_common_ptr cinfo) {
    jpeg_errors *e = (jpeg_errors *)cinfo->err;
    cinfo->err->format_message(cinfo, e->message);
    longjmp(e->jump, 1);
}

/* libjpeg reports damaged data (e.g. "Premature end of JPEG file") as a
 * warning and fills the rest with gray; cuseg treats it as an error. */
static void jpeg_on_message(j_common_ptr cinfo, int level) {
    jpeg_errors *e = (jpeg_errors *)cinfo->err;
    if (level < 0 && e->warnings++ == 0) cinfo->err->format_message(cinfo, e->message);
}

static cuseg_status decode_jpeg(const unsigned char *bytes, size_t size, const char *what,
                                cs_image_mode mode, cs_image *out) {
    if (mode == CS_IMAGE_LABEL)
        return cs_error(CUSEG_ERR_FORMAT, "%s: labels must be PNG (JPEG is lossy and mixes class values)", what);
    struct jpeg_decompress_struct cinfo;
    jpeg_errors err;
    memset(&err, 0, sizeof err);
    cinfo.err = jpeg_std_error(&err.mgr);
    err.mgr.error_exit = jpeg_on_error;
    err.mgr.emit_message = jpeg_on_message;
    unsigned char *volatile data = NULL;
    volatile cuseg_status status = CUSEG_OK;
    if (setjmp(err.jump)) {
        jpeg_destroy_decompress(&cinfo);
        free(data);
        if (status != CUSEG_OK) return status;
        return cs_error(CUSEG_ERR_FORMAT, "%s: corrupt JPEG: %s", what, err.message);
    }
    jpeg_create_decompress(&cinfo);
    jpeg_mem_src(&cinfo, bytes, (unsigned long)size);
    jpeg_read_header(&cinfo, TRUE);
    cinfo.out_color_space = JCS_RGB; /* gray is made by to_gray(), as for PNG */
    jpeg_start_decompress(&cinfo);
    const size_t w = cinfo.output_width, h = cinfo.output_height, c = (size_t)cinfo.output_components;
    if (w * h > MAX_PIXELS) {
        status = cs_error(CUSEG_ERR_UNSUPPORTED, "%s: %zux%zu pixels is more than cuseg decodes at once", what, w, h);
        longjmp(err.jump, 1);
    }
    data = malloc(w * h * c);
    if (!data) {
        status = cs_error(CUSEG_ERR_OUT_OF_MEMORY, "%s: cannot allocate %zu bytes", what, w * h * c);
        longjmp(err.jump, 1);
    }
    while (cinfo.output_scanline < cinfo.output_height) {
        JSAMPROW row = data + (size_t)cinfo.output_scanline * w * c;
        jpeg_read_scanlines(&cinfo, &row, 1);
    }
    jpeg_finish_decompress(&cinfo);
    jpeg_destroy_decompress(&cinfo);
    if (err.warnings) {
        free(data);
        return cs_error(CUSEG_ERR_FORMAT, "%s: corrupt or truncated JPEG: %s", what, err.message);
    }
    *out = (cs_image){(int)h, (int)w, (int)c, 8, data};
    return CUSEG_OK;
}

/* ---------------------------------------------------------------- entry points */

/* RGB to luma with ITU-R BT.601 weights in 16-bit fixed point, rounded: the
 * formula of Pillow's convert("L"), so results match the Python tools users
 * compare against, for PNG and JPEG alike. Shrinks the buffer in place. */
static void to_gray(cs_image *img) {
    unsigned char *p = img->data;
    const size_t n = (size_t)img->h * img->w;
    for (size_t i = 0; i < n; ++i)
        p[i] = (unsigned char)((p[3 * i] * 19595u + p[3 * i + 1] * 38470u + p[3 * i + 2] * 7471u + 0x8000u) >> 16);
    img->c = 1;
}

cuseg_status cs_image_decode(const void *bytes, size_t size, const char *what, cs_image_mode mode,
                             cs_image *out) {
    CS_CHECK_ARG(out && (bytes || size == 0), "cs_image_decode: NULL argument");
    memset(out, 0, sizeof *out);
    const unsigned char *b = bytes;
    static const unsigned char png_sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    if (size == 0) return cs_error(CUSEG_ERR_FORMAT, "%s: empty file", what);
    cuseg_status st;
    if (size >= 8 && memcmp(b, png_sig, 8) == 0)
        st = decode_png(b, size, what, mode, out);
    else if (size >= 3 && b[0] == 0xff && b[1] == 0xd8 && b[2] == 0xff)
        st = decode_jpeg(b, size, what, mode == CS_IMAGE_GRAY ? CS_IMAGE_RGB : mode, out);
    else
        return cs_error(CUSEG_ERR_FORMAT, "%s: not a PNG or JPEG file (unrecognised signature)", what);
    if (st == CUSEG_OK && mode == CS_IMAGE_GRAY && out->c == 3) to_gray(out);
    return st;
}

cuseg_status cs_image_read(const char *path, cs_image_mode mode, cs_image *out) {
    CS_CHECK_ARG(path && out, "cs_image_read: NULL argument");
    memset(out, 0, sizeof *out);
    FILE *f = fopen(path, "rb");
    if (!f) return cs_error(CUSEG_ERR_IO, "%s: %s", path, strerror(errno));
    unsigned char *buf = NULL;
    size_t size = 0, cap = 0;
    cuseg_status st = CUSEG_OK;
    for (;;) {
        if (size == cap) {
            cap = cap ? cap * 2 : 1 << 16;
            if (cap > MAX_FILE_BYTES) {
                st = cs_error(CUSEG_ERR_UNSUPPORTED, "%s: larger than %zu bytes", path, MAX_FILE_BYTES);
                break;
            }
            unsigned char *p = realloc(buf, cap);
            if (!p) {
                st = cs_error(CUSEG_ERR_OUT_OF_MEMORY, "%s: cannot allocate %zu bytes", path, cap);
                break;
            }
            buf = p;
        }
        size_t n = fread(buf + size, 1, cap - size, f);
        size += n;
        if (n == 0) {
            if (ferror(f)) st = cs_error(CUSEG_ERR_IO, "%s: read error: %s", path, strerror(errno));
            break;
        }
    }
    fclose(f);
    if (st == CUSEG_OK) st = cs_image_decode(buf, size, path, mode, out);
    free(buf);
    return st;
}

/* ---------------------------------------------------------------- PNG writing */

typedef struct png_sink {
    unsigned char *data;
    size_t size, cap;
    char message[256];
    jmp_buf jump;
} png_sink;

static void png_write_error(png_structp png, png_const_charp msg) {
    png_sink *s = png_get_error_ptr(png);
    snprintf(s->message, sizeof s->message, "%s", msg);
    longjmp(s->jump, 1);
}

static void png_write_mem(png_structp png, png_bytep bytes, png_size_t n) {
    png_sink *s = png_get_io_ptr(png);
    if (n > s->cap - s->size) {
        size_t cap = s->cap ? s->cap : 4096;
        while (cap - s->size < n) cap *= 2;
        unsigned char *p = realloc(s->data, cap);
        if (!p) png_error(png, "out of memory");
        s->data = p;
        s->cap = cap;
    }
    memcpy(s->data + s->size, bytes, n);
    s->size += n;
}

static void png_flush_mem(png_structp png) { (void)png; }

cuseg_status cs_png_encode(const void *data, int h, int w, int c, int bit_depth, const uint8_t *palette,
                           int compression, unsigned char **out, size_t *size) {
    CS_CHECK_ARG(data && out && size, "cs_png_encode: NULL argument");
    CS_CHECK_ARG(h > 0 && w > 0 && (c == 1 || c == 3 || c == 4) && (bit_depth == 8 || bit_depth == 16) &&
                     (!palette || (c == 1 && bit_depth == 8)) && compression >= -1 && compression <= 9,
                 "PNG: unsupported layout %dx%dx%d, %d bit%s, compression %d", h, w, c, bit_depth,
                 palette ? ", palette" : "", compression);
    *out = NULL;
    *size = 0;
    png_sink sink;
    memset(&sink, 0, sizeof sink);
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &sink, png_write_error, png_on_warning);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!info || setjmp(sink.jump)) {
        png_destroy_write_struct(&png, &info);
        free(sink.data);
        return cs_error(info ? CUSEG_ERR_IO : CUSEG_ERR_OUT_OF_MEMORY, "cannot encode PNG: %s",
                        info ? sink.message : "out of memory");
    }
    png_set_write_fn(png, &sink, png_write_mem, png_flush_mem);
    const int color = palette ? PNG_COLOR_TYPE_PALETTE
                      : c == 1  ? PNG_COLOR_TYPE_GRAY
                      : c == 3  ? PNG_COLOR_TYPE_RGB
                                : PNG_COLOR_TYPE_RGB_ALPHA;
    png_set_IHDR(png, info, (png_uint_32)w, (png_uint_32)h, bit_depth, color, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    if (compression >= 0) png_set_compression_level(png, compression);
    if (palette) {
        png_color pal[256];
        for (int i = 0; i < 256; ++i) pal[i] = (png_color){palette[3 * i], palette[3 * i + 1], palette[3 * i + 2]};
        png_set_PLTE(png, info, pal, 256);
    }
    png_write_info(png, info);
    if (bit_depth == 16) {
        const uint16_t probe = 1;
        if (*(const unsigned char *)&probe == 1) png_set_swap(png); /* PNG stores big-endian */
    }
    const size_t row_bytes = (size_t)w * c * (bit_depth / 8);
    for (int y = 0; y < h; ++y) png_write_row(png, (png_const_bytep)data + (size_t)y * row_bytes);
    png_write_end(png, info);
    png_destroy_write_struct(&png, &info);
    *out = sink.data;
    *size = sink.size;
    return CUSEG_OK;
}

cuseg_status cs_png_write(const char *path, const void *data, int h, int w, int c, int bit_depth,
                          const uint8_t *palette) {
    CS_CHECK_ARG(path, "cs_png_write: NULL path");
    unsigned char *bytes = NULL;
    size_t size = 0;
    cuseg_status st = cs_png_encode(data, h, w, c, bit_depth, palette, -1, &bytes, &size);
    if (st != CUSEG_OK) return cs_error_context(st, "%s", path);
    st = cs_write_file_atomic(path, bytes, size);
    free(bytes);
    return st;
}
