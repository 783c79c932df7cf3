#include "train/loader.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/status.h"

typedef struct slot {
    int ready;
    cuseg_status status;
    char message[512];
    int h, w;
    float *image;
    int32_t *label;
} slot;

struct cs_loader {
    cs_loader_config c;
    int *order;
    int epoch;
    slot *slots; /* ring of batch * prefetch samples */
    int ring;
    pthread_t *workers;
    int n_workers;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int next_pos;  /* next position a worker takes */
    int consumed;  /* positions handed out and freed by the consumer */
    int stop;
    int running;
    float *batch_image;
    int32_t *batch_label;
    size_t batch_cap; /* pixels */
};

int cs_loader_batches(const cs_loader *l) { return (l->c.data->n + l->c.batch - 1) / l->c.batch; }
int cs_loader_item(const cs_loader *l, int position) { return l->order[position]; }

static void make_sample(const cs_loader *l, int pos, slot *s) {
    const int item = l->order[pos];
    cs_sample smp;
    cuseg_status st = cs_sample_load(&l->c.data->pairs[item], l->c.labels, l->c.channels, &smp);
    if (st == CUSEG_OK) {
        cs_augment_out_size(l->c.augment, smp.h, smp.w, &s->h, &s->w);
        const size_t n = (size_t)s->h * s->w;
        s->image = malloc(sizeof(float) * n * l->c.channels);
        s->label = malloc(sizeof(int32_t) * n);
        if (!s->image || !s->label)
            st = cs_error(CUSEG_ERR_OUT_OF_MEMORY, "%s: out of memory", l->c.data->pairs[item].image);
        if (st == CUSEG_OK)
            st = cs_augment_apply(l->c.augment, &smp, l->c.train, l->c.seed, (uint64_t)l->epoch, (uint64_t)item,
                                  s->image, s->label, s->h, s->w);
        if (st == CUSEG_OK) cs_preprocess_float(l->c.preprocess, s->image, n, l->c.channels);
        cs_sample_free(&smp);
    }
    s->status = st;
    if (st != CUSEG_OK) snprintf(s->message, sizeof s->message, "%s", cuseg_last_error());
}

static void *worker(void *arg) {
    cs_loader *l = arg;
    const int n = l->c.data->n;
    pthread_mutex_lock(&l->mu);
    for (;;) {
        while (!l->stop && l->next_pos < n && l->next_pos >= l->consumed + l->ring)
            pthread_cond_wait(&l->cv, &l->mu);
        if (l->stop || l->next_pos >= n) break;
        const int pos = l->next_pos++;
        slot *s = &l->slots[pos % l->ring];
        pthread_mutex_unlock(&l->mu);
        make_sample(l, pos, s);
        pthread_mutex_lock(&l->mu);
        s->ready = 1;
        pthread_cond_broadcast(&l->cv);
    }
    pthread_mutex_unlock(&l->mu);
    return NULL;
}

static void free_slot(slot *s) {
    free(s->image);
    free(s->label);
    memset(s, 0, sizeof *s);
}

static void stop_workers(cs_loader *l) {
    if (!l->running) return;
    pthread_mutex_lock(&l->mu);
    l->stop = 1;
    pthread_cond_broadcast(&l->cv);
    pthread_mutex_unlock(&l->mu);
    for (int i = 0; i < l->n_workers; ++i) pthread_join(l->workers[i], NULL);
    l->n_workers = 0;
    l->running = 0;
    for (int i = 0; i < l->ring; ++i) free_slot(&l->slots[i]);
}

cuseg_status cs_loader_create(const cs_loader_config *config, cs_loader **out) {
    CS_CHECK_ARG(config && out && config->data && config->labels && config->augment && config->preprocess,
                 "cs_loader_create: NULL argument");
    CS_CHECK_ARG(config->batch >= 1 && config->threads >= 1 && config->prefetch >= 1 &&
                     (config->channels == 1 || config->channels == 3),
                 "loader: batch, threads and prefetch must be >= 1 and channels 1 or 3");
    CS_CHECK_ARG(config->data->n > 0, "loader: the dataset is empty");
    *out = NULL;
    cs_loader *l;
    CS_CHECK(cs_calloc((void **)&l, sizeof *l, "loader"));
    l->c = *config;
    l->ring = config->batch * config->prefetch;
    cuseg_status st = cs_calloc((void **)&l->order, sizeof(int) * (size_t)config->data->n, "loader");
    if (st == CUSEG_OK) st = cs_calloc((void **)&l->slots, sizeof(slot) * (size_t)l->ring, "loader");
    if (st == CUSEG_OK) st = cs_calloc((void **)&l->workers, sizeof(pthread_t) * (size_t)config->threads, "loader");
    if (st != CUSEG_OK) {
        free(l->order);
        free(l->slots);
        free(l->workers);
        free(l);
        return st;
    }
    pthread_mutex_init(&l->mu, NULL);
    pthread_cond_init(&l->cv, NULL);
    *out = l;
    return CUSEG_OK;
}

void cs_loader_release(cs_loader *l) {
    if (!l) return;
    stop_workers(l);
    pthread_mutex_destroy(&l->mu);
    pthread_cond_destroy(&l->cv);
    free(l->order);
    free(l->slots);
    free(l->workers);
    free(l->batch_image);
    free(l->batch_label);
    free(l);
}

cuseg_status cs_loader_start(cs_loader *l, int epoch) {
    CS_CHECK_ARG(l && epoch >= 0, "cs_loader_start: bad argument");
    stop_workers(l);
    const int n = l->c.data->n;
    l->epoch = epoch;
    for (int i = 0; i < n; ++i) l->order[i] = i;
    if (l->c.train) { /* Fisher-Yates from the epoch's own stream */
        cs_rng r = cs_rng_for(l->c.seed, (uint64_t)epoch, UINT64_MAX);
        for (int i = n - 1; i > 0; --i) {
            const int j = (int)(cs_rng_next(&r) % (uint64_t)(i + 1));
            const int t = l->order[i];
            l->order[i] = l->order[j];
            l->order[j] = t;
        }
    }
    l->next_pos = l->consumed = 0;
    l->stop = 0;
    for (int i = 0; i < l->c.threads; ++i) {
        if (pthread_create(&l->workers[i], NULL, worker, l) != 0) {
            l->running = 1;
            stop_workers(l);
            return cs_error(CUSEG_ERR_INTERNAL, "loader: cannot start a worker thread");
        }
        l->n_workers = i + 1;
        l->running = 1;
    }
    return CUSEG_OK;
}

cuseg_status cs_loader_next(cs_loader *l, cs_batch *out) {
    CS_CHECK_ARG(l && out, "cs_loader_next: NULL argument");
    memset(out, 0, sizeof *out);
    CS_CHECK_ARG(l->running, "cs_loader_next: no epoch started");
    const int n = l->c.data->n, first = l->consumed;
    if (first >= n) return CUSEG_OK;
    const int count = first + l->c.batch <= n ? l->c.batch : n - first;
    pthread_mutex_lock(&l->mu);
    for (int k = 0; k < count; ++k)
        while (!l->slots[(first + k) % l->ring].ready) pthread_cond_wait(&l->cv, &l->mu);
    pthread_mutex_unlock(&l->mu);
    cuseg_status st = CUSEG_OK;
    const slot *s0 = &l->slots[first % l->ring];
    for (int k = 0; k < count && st == CUSEG_OK; ++k) {
        const slot *s = &l->slots[(first + k) % l->ring];
        if (s->status != CUSEG_OK) st = cs_error(s->status, "%s", s->message);
        else if (s->h != s0->h || s->w != s0->w)
            st = cs_error(CUSEG_ERR_SHAPE,
                          "%s is %dx%d but %s in the same batch is %dx%d: give a crop or a resize policy",
                          l->c.data->pairs[l->order[first + k]].image, s->w, s->h,
                          l->c.data->pairs[l->order[first]].image, s0->w, s0->h);
    }
    if (st == CUSEG_OK) {
        const size_t px = (size_t)s0->h * s0->w, need = px * count;
        if (need > l->batch_cap) {
            free(l->batch_image);
            free(l->batch_label);
            l->batch_image = malloc(sizeof(float) * need * l->c.channels);
            l->batch_label = malloc(sizeof(int32_t) * need);
            l->batch_cap = l->batch_image && l->batch_label ? need : 0;
            if (!l->batch_cap) st = cs_error(CUSEG_ERR_OUT_OF_MEMORY, "loader: cannot allocate a batch of %zu pixels", need);
        }
        for (int k = 0; st == CUSEG_OK && k < count; ++k) {
            const slot *s = &l->slots[(first + k) % l->ring];
            memcpy(l->batch_image + k * px * l->c.channels, s->image, sizeof(float) * px * l->c.channels);
            memcpy(l->batch_label + k * px, s->label, sizeof(int32_t) * px);
        }
        if (st == CUSEG_OK) *out = (cs_batch){count, s0->h, s0->w, l->c.channels, l->batch_image, l->batch_label, first};
    }
    pthread_mutex_lock(&l->mu);
    for (int k = 0; k < count; ++k) free_slot(&l->slots[(first + k) % l->ring]);
    l->consumed = first + count;
    pthread_cond_broadcast(&l->cv);
    pthread_mutex_unlock(&l->mu);
    return st;
}
