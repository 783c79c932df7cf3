/* In-memory PNG encoding of class maps for the service (cuseg's own writer,
 * cs_png_write, writes files atomically; a response needs bytes). */
#ifndef CUSEG_SERVICE_PNG_MEM_H
#define CUSEG_SERVICE_PNG_MEM_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Encodes an h x w gray image of 8- or 16-bit samples (16-bit in host byte
 * order) into *out (malloc'd, *size bytes; the caller frees it). Returns 0,
 * or -1 with a reason in err (err_size bytes). */
int svc_png_encode_gray(const void *pixels, int h, int w, int bit_depth, unsigned char **out, size_t *size,
                        char *err, size_t err_size);

#ifdef __cplusplus
}
#endif

#endif
