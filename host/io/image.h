/* Image files: PNG (libpng) and JPEG (libjpeg-turbo) decoding to 8-bit HWC
 * (or 16-bit for labels), and atomic PNG encoding. Every failure is a status
 * whose message names the file and the reason; a corrupt or truncated file
 * never crashes (libpng/libjpeg errors are caught with setjmp). */
#ifndef CS_IO_IMAGE_H
#define CS_IO_IMAGE_H

#include <stddef.h>
#include <stdint.h>

#include "cuseg.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum cs_image_mode {
    CS_IMAGE_RGB,   /* 3 channels, 8 bit: gray is replicated, alpha dropped, palette expanded */
    CS_IMAGE_GRAY,  /* 1 channel, 8 bit: colour converted with libpng/libjpeg's luma weights */
    CS_IMAGE_LABEL, /* 1 channel as stored: palette indices or gray values, 8 or 16 bit */
} cs_image_mode;

typedef struct cs_image {
    int h, w, c;
    int bit_depth;  /* 8, or 16 for CS_IMAGE_LABEL of a 16-bit PNG */
    void *data;     /* h * w * c samples, uint8_t or uint16_t (host order) */
} cs_image;

/* Decodes PNG or JPEG, recognised by their signatures (not the extension). */
cuseg_status cs_image_read(const char *path, cs_image_mode mode, cs_image *out);
/* The same from memory (for services); `what` names the source in messages. */
cuseg_status cs_image_decode(const void *bytes, size_t size, const char *what, cs_image_mode mode,
                             cs_image *out);
void cs_image_free(cs_image *img);

/* Encodes an 8- or 16-bit PNG (16-bit samples in host byte order) with 1
 * (gray), 3 (RGB) or 4 (RGBA) channels, or an 8-bit palette PNG when
 * `palette` (256 RGB triples) is given with c = 1, into *out (malloc'd,
 * *size bytes; the caller frees it). compression: zlib level 0-9, or -1 for
 * libpng's default. */
cuseg_status cs_png_encode(const void *data, int h, int w, int c, int bit_depth, const uint8_t *palette,
                           int compression, unsigned char **out, size_t *size);

/* cs_png_encode at the default level, written to `path` atomically
 * (cs_write_file_atomic: an existing file is untouched on failure and no
 * temporary is left behind). */
cuseg_status cs_png_write(const char *path, const void *data, int h, int w, int c, int bit_depth,
                          const uint8_t *palette);

#ifdef __cplusplus
}
#endif

#endif
