/* Status helpers: every failure sets the thread-local message and returns. */
#ifndef CS_STATUS_H
#define CS_STATUS_H

#include "cuseg.h"

#if defined(__GNUC__)
#define CS_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define CS_PRINTF(a, b)
#endif

/* Formats the message of the calling thread and returns `status`. */
cuseg_status cs_error(cuseg_status status, const char *fmt, ...) CS_PRINTF(2, 3);
/* Prefixes the current message with "context: " and returns `status`. */
cuseg_status cs_error_context(cuseg_status status, const char *fmt, ...) CS_PRINTF(2, 3);
void cs_error_clear(void);

#define CS_CHECK(expr)                                                                   \
    do {                                                                                 \
        cuseg_status cs_check_status_ = (expr);                                          \
        if (cs_check_status_ != CUSEG_OK) return cs_check_status_;                       \
    } while (0)

#define CS_CHECK_ARG(cond, ...)                                                          \
    do {                                                                                 \
        if (!(cond)) return cs_error(CUSEG_ERR_INVALID_ARGUMENT, __VA_ARGS__);           \
    } while (0)

/* Allocation that reports its size on failure. */
cuseg_status cs_alloc(void **out, size_t bytes, const char *what);
cuseg_status cs_calloc(void **out, size_t bytes, const char *what);
char *cs_strdup(const char *s);

#endif
