#include "core/fs.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/status.h"

int cs_mkdir_p(const char *path) {
    char *p = strdup(path);
    if (!p) return -1;
    int rc = 0;
    for (char *s = p + 1; *s && rc == 0; ++s)
        if (*s == '/') {
            *s = '\0';
            if (mkdir(p, 0777) != 0 && errno != EEXIST) rc = -1;
            *s = '/';
        }
    if (rc == 0 && mkdir(p, 0777) != 0 && errno != EEXIST) rc = -1;
    const int saved = errno;
    free(p);
    errno = saved;
    return rc;
}

cuseg_status cs_write_file_atomic(const char *path, const void *data, size_t size) {
    CS_CHECK_ARG(path && (data || size == 0), "cs_write_file_atomic: NULL argument");
    char tmp[4096];
    if (snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid()) >= (int)sizeof tmp)
        return cs_error(CUSEG_ERR_INVALID_ARGUMENT, "%s: path too long", path);
    FILE *f = fopen(tmp, "wb");
    if (!f) return cs_error(CUSEG_ERR_IO, "%s: cannot create: %s", tmp, strerror(errno));
    int bad = size > 0 && fwrite(data, 1, size, f) != size;
    bad |= fflush(f) != 0 || fsync(fileno(f)) != 0;
    bad |= fclose(f) != 0;
    if (bad || rename(tmp, path) != 0) {
        cuseg_status st = cs_error(CUSEG_ERR_IO, "%s: cannot write: %s", path, strerror(errno));
        remove(tmp);
        return st;
    }
    return CUSEG_OK;
}
