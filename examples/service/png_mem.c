#include "png_mem.h"

#include <png.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct mem_sink {
    unsigned char *data;
    size_t size, cap;
    char message[200];
    jmp_buf jump;
} mem_sink;

static void on_error(png_structp png, png_const_charp msg) {
    mem_sink *s = png_get_error_ptr(png);
    snprintf(s->message, sizeof s->message, "%s", msg);
    longjmp(s->jump, 1);
}

static void on_warning(png_structp png, png_const_charp msg) {
    (void)png;
    (void)msg;
}

static void on_write(png_structp png, png_bytep bytes, png_size_t n) {
    mem_sink *s = png_get_io_ptr(png);
    if (s->size + n > s->cap) {
        size_t cap = s->cap ? s->cap : 4096;
        while (cap < s->size + n) cap *= 2;
        unsigned char *p = realloc(s->data, cap);
        if (!p) png_error(png, "out of memory");
        s->data = p;
        s->cap = cap;
    }
    memcpy(s->data + s->size, bytes, n);
    s->size += n;
}

static void on_flush(png_structp png) { (void)png; }

int svc_png_encode_gray(const void *pixels, int h, int w, int bit_depth, unsigned char **out, size_t *size,
                        char *err, size_t err_size) {
    mem_sink sink;
    memset(&sink, 0, sizeof sink);
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &sink, on_error, on_warning);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!png || !info) {
        png_destroy_write_struct(&png, NULL);
        snprintf(err, err_size, "out of memory");
        return -1;
    }
    if (setjmp(sink.jump)) {
        png_destroy_write_struct(&png, &info);
        free(sink.data);
        snprintf(err, err_size, "PNG encoding failed: %s", sink.message);
        return -1;
    }
    png_set_write_fn(png, &sink, on_write, on_flush);
    png_set_IHDR(png, info, (png_uint_32)w, (png_uint_32)h, bit_depth, PNG_COLOR_TYPE_GRAY, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    /* Class maps are flat regions: fast compression loses little. */
    png_set_compression_level(png, 1);
    png_write_info(png, info);
    if (bit_depth == 16) {
        const uint16_t probe = 1;
        if (*(const unsigned char *)&probe == 1) png_set_swap(png); /* PNG stores big-endian */
    }
    const size_t row = (size_t)w * (size_t)(bit_depth / 8);
    for (int y = 0; y < h; ++y) png_write_row(png, (png_const_bytep)pixels + (size_t)y * row);
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    *out = sink.data;
    *size = sink.size;
    return 0;
}
