/* File-system helpers shared by the library and the command line. */
#ifndef CS_FS_H
#define CS_FS_H

#include <stddef.h>

#include "cuseg.h"

/* mkdir -p: creates `path` and its missing parents (mode 0777 before the
 * umask). Returns 0, or -1 with errno set. */
int cs_mkdir_p(const char *path);

/* Writes `size` bytes to `path` atomically: a temporary file beside it,
 * fsync, rename. On failure nothing at `path` changes and the temporary is
 * removed; the message names the file and the reason. */
cuseg_status cs_write_file_atomic(const char *path, const void *data, size_t size);

#endif
