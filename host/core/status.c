#include "core/status.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The one piece of thread-local state in cuseg (design.md §1.4). */
static _Thread_local char last_error[1024];

const char *cuseg_version(void) { return CUSEG_VERSION_STRING; }

const char *cuseg_last_error(void) { return last_error; }

const char *cuseg_status_string(cuseg_status status) {
    switch (status) {
    case CUSEG_OK: return "ok";
    case CUSEG_ERR_INVALID_ARGUMENT: return "invalid argument";
    case CUSEG_ERR_SHAPE: return "shape mismatch";
    case CUSEG_ERR_OUT_OF_MEMORY: return "out of memory";
    case CUSEG_ERR_IO: return "i/o error";
    case CUSEG_ERR_FORMAT: return "bad format";
    case CUSEG_ERR_NOT_FOUND: return "not found";
    case CUSEG_ERR_UNSUPPORTED: return "unsupported";
    case CUSEG_ERR_DEVICE: return "device error";
    case CUSEG_ERR_INTERNAL: return "internal error";
    }
    return "unknown status";
}

cuseg_status cs_error(cuseg_status status, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_error, sizeof last_error, fmt, ap);
    va_end(ap);
    return status;
}

cuseg_status cs_error_context(cuseg_status status, const char *fmt, ...) {
    char prefix[512], old[sizeof last_error];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(old, last_error, sizeof old);
    /* Truncation of over-long messages is intended: build it piecewise. */
    size_t n = strlen(prefix);
    memcpy(last_error, prefix, n);
    if (n + 2 < sizeof last_error) {
        memcpy(last_error + n, ": ", 2);
        n += 2;
    }
    size_t m = strlen(old);
    if (m > sizeof last_error - 1 - n) m = sizeof last_error - 1 - n;
    memcpy(last_error + n, old, m);
    last_error[n + m] = '\0';
    return status;
}

void cs_error_clear(void) { last_error[0] = '\0'; }

cuseg_status cs_alloc(void **out, size_t bytes, const char *what) {
    *out = malloc(bytes ? bytes : 1);
    if (!*out) return cs_error(CUSEG_ERR_OUT_OF_MEMORY, "cannot allocate %zu bytes for %s", bytes, what);
    return CUSEG_OK;
}

cuseg_status cs_calloc(void **out, size_t bytes, const char *what) {
    *out = calloc(1, bytes ? bytes : 1);
    if (!*out) return cs_error(CUSEG_ERR_OUT_OF_MEMORY, "cannot allocate %zu bytes for %s", bytes, what);
    return CUSEG_OK;
}

char *cs_strdup(const char *s) {
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}
