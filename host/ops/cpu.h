/* The CPU backend of one session: thread count and the oneDNN engine and
 * stream its convolutions run on. Owned by the session, used by one thread. */
#ifndef CS_CPU_H
#define CS_CPU_H

#include <oneapi/dnnl/dnnl.h>

struct cs_cpu {
    int n_threads;
    dnnl_engine_t engine;
    dnnl_stream_t stream;
};

#endif
