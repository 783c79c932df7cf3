/* Batches for training and validation: worker threads (pthreads) decode,
 * augment and normalise samples ahead of the consumer (a bounded prefetch
 * window), and the consumer receives them in a fixed order. Sample k of an
 * epoch is always dataset item order[k] transformed with (seed, epoch,
 * item), so the batches do not depend on the number of threads. */
#ifndef CS_TRAIN_LOADER_H
#define CS_TRAIN_LOADER_H

#include <stdint.h>

#include "io/preprocess.h"
#include "train/augment.h"
#include "train/data.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct cs_loader_config {
    const cs_dataset *data;
    const cs_label_spec *labels;
    const cs_augment *augment;
    const cs_preprocess *preprocess; /* the model's normalisation */
    int channels;                    /* 1 or 3 */
    int batch;
    int threads;  /* worker threads (>= 1) */
    int prefetch; /* batches decoded ahead (>= 1) */
    uint64_t seed;
    int train; /* 1: shuffle and random augmentation; 0: dataset order, resize policy only */
} cs_loader_config;

typedef struct cs_batch {
    int n, h, w, c;
    float *image;   /* n*h*w*c, NHWC, owned by the loader until the next call */
    int32_t *label; /* n*h*w */
    int first;      /* position in the epoch of the first sample */
} cs_batch;

typedef struct cs_loader cs_loader;

cuseg_status cs_loader_create(const cs_loader_config *config, cs_loader **out);
void cs_loader_release(cs_loader *l);
/* Number of batches per epoch (the last one may be smaller). */
int cs_loader_batches(const cs_loader *l);
/* Starts epoch e (stops a running one). */
cuseg_status cs_loader_start(cs_loader *l, int epoch);
/* The next batch of the epoch; n = 0 at the end. A sample that fails to load
 * is returned as its error (message naming the file). Samples of one batch
 * must share a size (a crop or resize policy guarantees it). */
cuseg_status cs_loader_next(cs_loader *l, cs_batch *out);
/* Dataset item of epoch position k in epoch e (the shuffle). */
int cs_loader_item(const cs_loader *l, int position);

#ifdef __cplusplus
}
#endif

#endif
