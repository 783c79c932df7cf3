/* cuseg segment -m MODEL -i IN_DIR -o OUT_DIR [options]: segments every PNG
 * and JPEG under IN_DIR into class-index PNGs under OUT_DIR (same relative
 * paths, extension .png).
 *
 * Pipeline: decoder threads read images ahead of the compute thread (the
 * caller), which batches images of equal size (so batching never changes a
 * result) and runs the model; writer threads encode the outputs. Every file
 * is written to a temporary name and renamed; the class PNG is written last,
 * so its presence (with the other requested outputs) marks an image done and
 * a rerun skips it. Bad inputs are reported by path and reason and skipped;
 * the exit status is then 1. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/fs.h"
#include "cli/cli.h"
#include "cli/tiles.h"
#include "core/status.h"
#include "graph/graph.h"
#include "io/image.h"
#include "io/preprocess.h"
#include "post/crf.h"
#include "post/metrics.h"

/* ---------------------------------------------------------------- options */

typedef struct seg_options {
    const char *model, *in_dir, *out_dir, *device, *gt_dir, *names, *eval_json;
    int batch, threads, io_threads;
    int palette, overlay, prob; /* prob: 0 none, 1 confidence PNG, 2 per-class .npy */
    int tile, overlap, align;   /* tile 0: automatic above max_pixels */
    long long max_pixels;
    int flip, n_scales;
    double scales[CS_SEG_MAX_SCALES];
    int overwrite, quiet, ignore;
    int shard_k, shard_n;
    float alpha;
    int crf; /* dense CRF on the probabilities before the argmax */
    cs_crf_params crf_params;
    cuseg_precision precision;
} seg_options;

static int usage(FILE *f, int code) {
    fprintf(f,
            "usage: cuseg segment -m MODEL -i IN_DIR -o OUT_DIR [options]\n"
            "Segments every .png/.jpg/.jpeg below IN_DIR (sorted, recursive) and writes\n"
            "OUT_DIR/<relative path without extension>.png: class indices, 8-bit (16-bit when\n"
            "the model has more than 256 classes).\n"
            "  -m, --model FILE     model file (.safetensors), or ARCH[:options] (zero weights)\n"
            "  --device D           auto (default), cpu, cuda:N\n"
            "  --precision P        fp32 (default), tf32, bf16, fp16 (CUDA; the CPU computes fp32)\n"
            "  --batch N            images (or tiles) per run; only equal sizes share a run (4)\n"
            "  --threads N          CPU compute threads (0 = all cores)\n"
            "  --io-threads N       decoder and encoder threads each (2)\n"
            "  --palette            also <name>_color.png (palette PNG; RGB above 256 classes)\n"
            "  --overlay            also <name>_overlay.png, colours blended over the image\n"
            "  --alpha A            overlay opacity of the colours (0.5)\n"
            "  --prob conf|classes  conf: <name>_conf.png, 8-bit max probability x 255;\n"
            "                       classes: <name>_prob.npy, float32 H x W x classes\n"
            "  --tile SIZE          sliding-window inference with SIZE x SIZE tiles\n"
            "  --overlap PX         overlap of neighbouring tiles (SIZE/8)\n"
            "  --align PX           tile starts are multiples of PX (32: the model's stride)\n"
            "  --max-pixels N       without --tile, images above N pixels are tiled with\n"
            "                       512 x 512 tiles (4194304)\n"
            "  --tta SPEC           flip and/or scales, e.g. flip,scales=0.75,1,1.25:\n"
            "                       softmax probabilities are averaged\n"
            "  --crf                refine the probabilities with DeepLab v1's dense CRF\n"
            "                       (w1,theta_alpha,theta_beta,w2,theta_gamma,iterations =\n"
            "                       4,121,5,3,3,10); not with tiled images\n"
            "  --crf-params LIST    those six values instead, e.g. 5,50,3,3,3,10\n"
            "  --overwrite          redo images whose outputs exist\n"
            "  --shard K/N          only the images whose index in the sorted list is K mod N\n"
            "                       (0 <= K < N)\n"
            "  --gt DIR             evaluate against DIR/<name>.png as it goes (like cuseg eval)\n"
            "  --ignore V           ground-truth value skipped by --gt (255)\n"
            "  --names FILE         class names for the --gt table, one per line\n"
            "  --eval-json FILE     write the --gt metrics as JSON\n"
            "  --quiet              no progress line and no summary\n"
            "Exit status: 0 when every image succeeded, 1 when some failed, 2 on bad usage.\n");
    return code;
}

static int parse_tta(const char *s, seg_options *o) {
    o->flip = 0;
    o->n_scales = 0;
    int in_scales = 0;
    char *copy = strdup(s), *save = NULL;
    int ok = copy != NULL;
    for (char *tok = copy ? strtok_r(copy, ",", &save) : NULL; ok && tok; tok = strtok_r(NULL, ",", &save)) {
        if (!strcmp(tok, "flip")) {
            o->flip = 1;
            in_scales = 0;
            continue;
        }
        if (!strncmp(tok, "scales=", 7)) {
            tok += 7;
            in_scales = 1;
        }
        char *end;
        const double v = strtod(tok, &end);
        if (!in_scales || end == tok || *end || !(v > 0.0 && v <= 8.0) || o->n_scales == CS_SEG_MAX_SCALES) ok = 0;
        else o->scales[o->n_scales++] = v;
    }
    free(copy);
    if (o->n_scales == 0) o->scales[o->n_scales++] = 1.0;
    return ok;
}

/* ---------------------------------------------------------------- files */

typedef enum { ST_PENDING, ST_DECODING, ST_DECODED, ST_FAILED, ST_TAKEN } item_state;

typedef struct item {
    char *rel;   /* path below IN_DIR */
    char *in;    /* IN_DIR/rel */
    char *base;  /* OUT_DIR/rel without its extension */
    item_state state;
    cs_image img;
    char *error; /* why it failed */
} item;

typedef struct item_list {
    item *v;
    int n, cap;
} item_list;

static int is_image_name(const char *name) {
    const char *dot = strrchr(name, '.');
    return dot && (!strcasecmp(dot, ".png") || !strcasecmp(dot, ".jpg") || !strcasecmp(dot, ".jpeg"));
}

static char *join(const char *a, const char *b) {
    char *s = NULL;
    return asprintf(&s, "%s%s%s", a, a[0] && b[0] ? "/" : "", b) < 0 ? NULL : s;
}

static int walk(const char *root, const char *rel, item_list *out) {
    char *dir = join(root, rel);
    DIR *d = dir ? opendir(dir) : NULL;
    if (!d) {
        fprintf(stderr, "cuseg segment: cannot read directory %s: %s\n", dir ? dir : rel, strerror(errno));
        free(dir);
        return -1;
    }
    int rc = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char *sub = join(rel, e->d_name), *full = sub ? join(root, sub) : NULL;
        struct stat st;
        if (!full || stat(full, &st) != 0) {
            free(sub);
            free(full);
            continue;
        }
        if (S_ISDIR(st.st_mode)) {
            rc |= walk(root, sub, out);
            free(sub);
            free(full);
        } else if (S_ISREG(st.st_mode) && is_image_name(e->d_name)) {
            if (out->n == out->cap) {
                out->cap = out->cap ? 2 * out->cap : 256;
                item *p = realloc(out->v, sizeof(item) * (size_t)out->cap);
                if (!p) {
                    free(sub);
                    free(full);
                    rc = -1;
                    break;
                }
                out->v = p;
            }
            out->v[out->n++] = (item){.rel = sub, .in = full};
        } else {
            free(sub);
            free(full);
        }
    }
    closedir(d);
    free(dir);
    return rc;
}

static int cmp_items(const void *a, const void *b) { return strcmp(((const item *)a)->rel, ((const item *)b)->rel); }

static int mkdir_parent(const char *file) {
    char *p = strdup(file);
    if (!p) return -1;
    char *slash = strrchr(p, '/');
    int rc = 0;
    if (slash && slash != p) {
        *slash = '\0';
        rc = cs_mkdir_p(p);
    }
    free(p);
    return rc;
}

static int exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}

/* Removes "<x>.png.tmp.<pid>" / "<x>.npy.tmp.<pid>" left by a process that no
 * longer exists (killed mid-write); a live process's temporaries are kept, so
 * shards running side by side do not disturb each other. */
static void remove_stale_temps(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char *full = join(dir, e->d_name);
        struct stat st;
        if (!full || stat(full, &st) != 0) {
            free(full);
            continue;
        }
        if (S_ISDIR(st.st_mode)) {
            remove_stale_temps(full);
        } else {
            const char *t = strstr(e->d_name, ".tmp.");
            char *end = NULL;
            const long pid = t ? strtol(t + 5, &end, 10) : 0;
            const int ours = t && t - e->d_name >= 4 && end && !*end && pid > 0 &&
                             (!strncmp(t - 4, ".png", 4) || !strncmp(t - 4, ".npy", 4));
            if (ours && kill((pid_t)pid, 0) != 0 && errno == ESRCH) remove(full);
        }
        free(full);
    }
    closedir(d);
}

/* ---------------------------------------------------------------- outputs */

typedef struct job {
    int idx;
    int h, w;
    void *classes;   /* uint8 or uint16 (bits) */
    int bits;
    uint8_t *conf;   /* max probability x 255 (prob == 1) */
    cs_image img;    /* the input, for the overlay */
    FILE *npy;       /* per-class probabilities being written (prob == 2) */
    char *npy_tmp;
    int eval_only;   /* already done: only read the prediction for --gt */
    struct job *next;
} job;

typedef struct progress_state {
    double start, last_print;
    int printed;
} progress_state;

typedef struct seg_run {
    seg_options o;
    item *items;
    int n;
    int n_classes, in_c;
    uint8_t palette[256 * 3];
    /* shared state, under mu */
    pthread_mutex_t mu;
    pthread_cond_t cv_decoded, cv_space, cv_jobs, cv_jobspace;
    int head, next_decode, lookahead, stop;
    long long pending_px, px_budget; /* decoded, not yet computed pixels; decoders pause above the budget */
    int n_work;                      /* images to segment (r->n less those listed only for --gt) */
    job *q_head, *q_tail;
    int q_len, q_max, writers_done;
    int done, failed, computed;
    char **failures; /* "path: reason" in order of detection */
    int n_failures;
    cs_confusion cm;
    int evaluated, eval_missing, eval_failed;
    progress_state prog;
    int tty;
    cuseg_crf *crf; /* --crf: on the engine's context (the GPU when it is CUDA); compute thread only */
} seg_run;

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

/* Under mu. */
static void record_failure(seg_run *r, const char *path, const char *reason) {
    char *line = NULL;
    if (asprintf(&line, "%s: %s", path, reason) < 0) line = NULL;
    if (r->tty && r->prog.printed) fprintf(stderr, "\r\033[K");
    fprintf(stderr, "cuseg segment: FAILED %s: %s\n", path, reason);
    char **p = realloc(r->failures, sizeof(char *) * (size_t)(r->n_failures + 1));
    if (p) {
        r->failures = p;
        r->failures[r->n_failures++] = line;
    } else {
        free(line);
    }
    ++r->failed;
}

/* Under mu. */
static void print_progress(seg_run *r, int final) {
    if (!r->tty || r->o.quiet) return;
    const double t = now_s();
    if (!final && t - r->prog.last_print < 0.2) return;
    r->prog.last_print = t;
    const int processed = r->done + r->failed;
    const double el = t - r->prog.start, rate = el > 0 ? processed / el : 0.0;
    const double eta = rate > 0 ? (r->n_work - processed) / rate : 0.0;
    fprintf(stderr, "\r\033[K%d/%d images  %.2f img/s  ETA %d:%02d%s", processed, r->n_work, rate, (int)eta / 60,
            (int)eta % 60, r->failed ? "  (some failed)" : "");
    r->prog.printed = 1;
    if (final) fprintf(stderr, "\n");
}

/* The standard PASCAL VOC colour map (bit-interleaved class index). */
static void voc_color(int c, uint8_t rgb[3]) {
    int r = 0, g = 0, b = 0;
    for (int j = 0; j < 8; ++j, c >>= 3) {
        r |= ((c >> 0) & 1) << (7 - j);
        g |= ((c >> 1) & 1) << (7 - j);
        b |= ((c >> 2) & 1) << (7 - j);
    }
    rgb[0] = (uint8_t)r, rgb[1] = (uint8_t)g, rgb[2] = (uint8_t)b;
}

static char *out_name(const char *base, const char *suffix) {
    char *s = NULL;
    return asprintf(&s, "%s%s", base, suffix) < 0 ? NULL : s;
}

static int outputs_done(const seg_options *o, const char *base) {
    static const char *const suffixes[4] = {".png", "_color.png", "_overlay.png", NULL};
    const int want[4] = {1, o->palette, o->overlay, 0};
    for (int k = 0; k < 3; ++k) {
        if (!want[k]) continue;
        char *p = out_name(base, suffixes[k]);
        const int e = p && exists(p);
        free(p);
        if (!e) return 0;
    }
    if (o->prob) {
        char *p = out_name(base, o->prob == 1 ? "_conf.png" : "_prob.npy");
        const int e = p && exists(p);
        free(p);
        if (!e) return 0;
    }
    return 1;
}

static cuseg_status write_png_named(const char *base, const char *suffix, const void *data, int h, int w, int c,
                                    int bits, const uint8_t *palette) {
    char *p = out_name(base, suffix);
    if (!p) return cs_error(CUSEG_ERR_OUT_OF_MEMORY, "out of memory");
    const cuseg_status st = cs_png_write(p, data, h, w, c, bits, palette);
    free(p);
    return st;
}

/* Writes every output of one image; the class PNG last. 0 or an error text. */
static char *write_outputs(seg_run *r, job *j) {
    const item *it = &r->items[j->idx];
    const size_t n = (size_t)j->h * j->w;
    char *err = NULL;
    cuseg_status st = CUSEG_OK;
    if (mkdir_parent(it->base) != 0) {
        if (asprintf(&err, "cannot create the output directory of %s: %s", it->base, strerror(errno)) < 0) err = NULL;
        return err ? err : strdup("cannot create the output directory");
    }
    uint8_t *rgb = NULL;
    if (r->o.palette || r->o.overlay) {
        rgb = malloc(n * 3);
        if (!rgb) return strdup("out of memory");
        for (size_t i = 0; i < n; ++i) {
            const int c = j->bits == 16 ? ((uint16_t *)j->classes)[i] : ((uint8_t *)j->classes)[i];
            uint8_t col[3];
            if (c < 256) memcpy(col, r->palette + 3 * c, 3);
            else voc_color(c, col);
            memcpy(rgb + 3 * i, col, 3);
        }
    }
    if (r->o.palette)
        st = r->n_classes <= 256 ? write_png_named(it->base, "_color.png", j->classes, j->h, j->w, 1, 8, r->palette)
                                 : write_png_named(it->base, "_color.png", rgb, j->h, j->w, 3, 8, NULL);
    if (st == CUSEG_OK && r->o.overlay) {
        const float a = r->o.alpha;
        const uint8_t *src = j->img.data;
        for (size_t i = 0; i < n; ++i)
            for (int k = 0; k < 3; ++k) {
                const int v = j->img.c == 3 ? src[3 * i + k] : src[i];
                rgb[3 * i + k] = (uint8_t)lrintf((1.0f - a) * v + a * rgb[3 * i + k]);
            }
        st = write_png_named(it->base, "_overlay.png", rgb, j->h, j->w, 3, 8, NULL);
    }
    free(rgb);
    if (st == CUSEG_OK && r->o.prob == 1) st = write_png_named(it->base, "_conf.png", j->conf, j->h, j->w, 1, 8, NULL);
    if (st == CUSEG_OK && j->npy) {
        FILE *f = j->npy;
        j->npy = NULL;
        char *final = out_name(it->base, "_prob.npy");
        int bad = fflush(f) != 0 || fsync(fileno(f)) != 0;
        bad |= fclose(f) != 0;
        if (bad || !final || rename(j->npy_tmp, final) != 0) {
            st = CUSEG_ERR_IO;
            if (asprintf(&err, "cannot write %s: %s", final ? final : "probabilities", strerror(errno)) < 0) err = NULL;
            remove(j->npy_tmp);
        }
        free(final);
    }
    if (st == CUSEG_OK) st = write_png_named(it->base, ".png", j->classes, j->h, j->w, 1, j->bits, NULL);
    if (st != CUSEG_OK && !err) err = strdup(cuseg_last_error());
    return st != CUSEG_OK ? (err ? err : strdup("write failed")) : NULL;
}

/* --gt: adds the prediction of one image to the confusion matrix. */
static void evaluate(seg_run *r, job *j) {
    const item *it = &r->items[j->idx];
    char *gt_path = NULL;
    size_t rel_len = strlen(it->rel);
    const char *dot = strrchr(it->rel, '.');
    if (dot) rel_len = (size_t)(dot - it->rel);
    if (asprintf(&gt_path, "%s/%.*s.png", r->o.gt_dir, (int)rel_len, it->rel) < 0) return;
    cs_image g = {0}, p = {0};
    int32_t *gv = NULL, *pv = NULL;
    char *err = NULL;
    if (!exists(gt_path)) {
        pthread_mutex_lock(&r->mu);
        ++r->eval_missing;
        pthread_mutex_unlock(&r->mu);
        free(gt_path);
        return;
    }
    const void *pred = j->classes;
    int ph = j->h, pw = j->w, pbits = j->bits;
    if (j->eval_only) {
        char *pp = out_name(it->base, ".png");
        if (!pp || cs_image_read(pp, CS_IMAGE_LABEL, &p) != CUSEG_OK) {
            if (asprintf(&err, "%s", pp ? cuseg_last_error() : "out of memory") < 0) err = NULL;
        }
        free(pp);
        pred = p.data, ph = p.h, pw = p.w, pbits = p.bit_depth;
    }
    if (!err && cs_image_read(gt_path, CS_IMAGE_LABEL, &g) != CUSEG_OK) err = strdup(cuseg_last_error());
    else if (!err && (g.h != ph || g.w != pw)) {
        if (asprintf(&err, "ground truth %s is %dx%d but the prediction is %dx%d", gt_path, g.w, g.h, pw, ph) < 0)
            err = NULL;
    } else if (!err) {
        const size_t n = (size_t)g.h * g.w;
        gv = malloc(sizeof(int32_t) * n);
        pv = malloc(sizeof(int32_t) * n);
        if (!gv || !pv) err = strdup("out of memory");
        for (size_t i = 0; !err && i < n; ++i) {
            gv[i] = g.bit_depth == 16 ? ((const uint16_t *)g.data)[i] : ((const uint8_t *)g.data)[i];
            pv[i] = pbits == 16 ? ((const uint16_t *)pred)[i] : ((const uint8_t *)pred)[i];
        }
    }
    pthread_mutex_lock(&r->mu);
    if (!err && cs_confusion_add(&r->cm, gv, pv, (size_t)g.h * g.w, gt_path) != CUSEG_OK)
        err = strdup(cuseg_last_error());
    if (err) {
        record_failure(r, it->in, err);
        ++r->eval_failed;
    } else {
        ++r->evaluated;
    }
    pthread_mutex_unlock(&r->mu);
    free(err);
    free(gv);
    free(pv);
    cs_image_free(&g);
    cs_image_free(&p);
    free(gt_path);
}

static void free_job(job *j) {
    free(j->classes);
    free(j->conf);
    cs_image_free(&j->img);
    if (j->npy) {
        fclose(j->npy);
        remove(j->npy_tmp);
    }
    free(j->npy_tmp);
    free(j);
}

static void *writer_main(void *arg) {
    seg_run *r = arg;
    for (;;) {
        pthread_mutex_lock(&r->mu);
        while (!r->q_head && !r->writers_done) pthread_cond_wait(&r->cv_jobs, &r->mu);
        job *j = r->q_head;
        if (!j) {
            pthread_mutex_unlock(&r->mu);
            return NULL;
        }
        r->q_head = j->next;
        if (!r->q_head) r->q_tail = NULL;
        --r->q_len;
        pthread_cond_signal(&r->cv_jobspace);
        pthread_mutex_unlock(&r->mu);
        char *err = j->eval_only ? NULL : write_outputs(r, j);
        if (!err && r->o.gt_dir) evaluate(r, j);
        pthread_mutex_lock(&r->mu);
        if (err) record_failure(r, r->items[j->idx].in, err);
        else if (!j->eval_only) ++r->done;
        print_progress(r, 0);
        pthread_mutex_unlock(&r->mu);
        free(err);
        free_job(j);
    }
}

static void enqueue(seg_run *r, job *j) {
    pthread_mutex_lock(&r->mu);
    while (r->q_len >= r->q_max) pthread_cond_wait(&r->cv_jobspace, &r->mu);
    j->next = NULL;
    if (r->q_tail) r->q_tail->next = j;
    else r->q_head = j;
    r->q_tail = j;
    ++r->q_len;
    pthread_cond_signal(&r->cv_jobs);
    pthread_mutex_unlock(&r->mu);
}

/* ---------------------------------------------------------------- decoding */

static void *decoder_main(void *arg) {
    seg_run *r = arg;
    pthread_mutex_lock(&r->mu);
    for (;;) {
        while (!r->stop && r->next_decode < r->n &&
               (r->next_decode >= r->head + r->lookahead ||
                (r->pending_px > r->px_budget && r->next_decode > r->head)))
            pthread_cond_wait(&r->cv_space, &r->mu);
        if (r->stop || r->next_decode >= r->n) break;
        item *it = &r->items[r->next_decode++];
        if (it->state != ST_PENDING) continue; /* already done (listed for --gt) or a name clash */
        it->state = ST_DECODING;
        pthread_mutex_unlock(&r->mu);
        cs_image img;
        const cuseg_status st = cs_image_read(it->in, r->in_c == 1 ? CS_IMAGE_GRAY : CS_IMAGE_RGB, &img);
        char *err = NULL;
        if (st != CUSEG_OK) {
            /* The message starts with the path; the report adds it itself. */
            const char *msg = cuseg_last_error();
            const size_t pl = strlen(it->in);
            if (!strncmp(msg, it->in, pl) && msg[pl] == ':') msg += pl + 1 + (msg[pl + 1] == ' ');
            err = strdup(msg);
        }
        pthread_mutex_lock(&r->mu);
        if (st == CUSEG_OK) {
            it->img = img;
            it->state = ST_DECODED;
            r->pending_px += (long long)img.h * img.w;
        } else {
            it->error = err ? err : strdup("cannot decode");
            it->state = ST_FAILED;
        }
        pthread_cond_broadcast(&r->cv_decoded);
    }
    pthread_mutex_unlock(&r->mu);
    return NULL;
}

/* ---------------------------------------------------------------- compute */

typedef struct rows_sink {
    seg_run *r;
    job *j;
    int w;
} rows_sink;

static int take_rows(void *user, int y0, int y1, const float *probs) {
    rows_sink *s = user;
    job *j = s->j;
    const int C = s->r->n_classes;
    const size_t first = (size_t)y0 * s->w, n = (size_t)(y1 - y0) * s->w;
    for (size_t i = 0; i < n; ++i) {
        const float *p = probs + i * C;
        int best = 0;
        for (int k = 1; k < C; ++k)
            if (p[k] > p[best]) best = k;
        if (j->bits == 16) ((uint16_t *)j->classes)[first + i] = (uint16_t)best;
        else ((uint8_t *)j->classes)[first + i] = (uint8_t)best;
        if (j->conf) j->conf[first + i] = (uint8_t)lrintf(p[best] * 255.0f);
    }
    if (j->npy && fwrite(probs, sizeof(float) * C, n, j->npy) != n) return -1;
    return 0;
}

/* A job with its buffers (and the .npy stream and header) for item idx. */
static job *new_job(seg_run *r, int idx, int h, int w, char **err) {
    job *j = calloc(1, sizeof *j);
    if (!j) return NULL;
    j->idx = idx, j->h = h, j->w = w;
    j->bits = r->n_classes > 256 ? 16 : 8;
    const size_t n = (size_t)h * w;
    j->classes = malloc(n * (j->bits / 8));
    if (r->o.prob == 1) j->conf = malloc(n);
    if (!j->classes || (r->o.prob == 1 && !j->conf)) {
        free_job(j);
        return NULL;
    }
    if (r->o.prob == 2) {
        const item *it = &r->items[idx];
        if (mkdir_parent(it->base) != 0 ||
            asprintf(&j->npy_tmp, "%s_prob.npy.tmp.%ld", it->base, (long)getpid()) < 0 ||
            !(j->npy = fopen(j->npy_tmp, "wb"))) {
            if (asprintf(err, "cannot create %s: %s", j->npy_tmp ? j->npy_tmp : it->base, strerror(errno)) < 0)
                *err = NULL;
            if (!j->npy) {
                free(j->npy_tmp);
                j->npy_tmp = NULL;
            }
            free_job(j);
            return NULL;
        }
        /* NPY v1.0: magic, version, little-endian header length, a Python
         * dict literal padded with spaces to a multiple of 64 bytes. */
        char dict[128];
        int len = snprintf(dict, sizeof dict, "{'descr': '<f4', 'fortran_order': False, 'shape': (%d, %d, %d), }",
                           h, w, r->n_classes);
        const int total = (10 + len + 1 + 63) / 64 * 64;
        const int hlen = total - 10;
        unsigned char pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, (unsigned char)(hlen & 255),
                                 (unsigned char)(hlen >> 8)};
        fwrite(pre, 1, 10, j->npy);
        fwrite(dict, 1, (size_t)len, j->npy);
        for (int k = len; k < hlen - 1; ++k) fputc(' ', j->npy);
        fputc('\n', j->npy);
    }
    return j;
}

static int needs_tiling(const seg_options *o, int h, int w) {
    if (o->tile > 0) return h > o->tile || w > o->tile;
    return (long long)h * w > o->max_pixels;
}

/* The dense CRF over one image's probabilities, in place. The CRF's
 * appearance kernel compares RGB colours: a gray image counts as R = G = B. */
static cuseg_status crf_refine(seg_run *r, const cs_image *img, float *probs) {
    const size_t n = (size_t)img->h * img->w;
    uint8_t *rgb = img->c == 3 ? img->data : malloc(n * 3);
    if (!rgb) return cs_error(CUSEG_ERR_OUT_OF_MEMORY, "out of memory for the CRF's image");
    if (img->c != 3)
        for (size_t i = 0; i < n; ++i)
            rgb[3 * i] = rgb[3 * i + 1] = rgb[3 * i + 2] = ((const uint8_t *)img->data)[i * img->c];
    const cuseg_status st = cuseg_crf_run(r->crf, rgb, probs, 1, img->h, img->w, r->n_classes, probs);
    if (rgb != img->data) free(rgb);
    return st;
}

/* Runs the model on items idx[0..n-1] (same size, or one tiled image) and
 * hands their outputs to the writers. */
static void compute(seg_run *r, cs_seg_engine *e, const int *idx, int n) {
    item *first = &r->items[idx[0]];
    const int h = first->img.h, w = first->img.w, C = r->n_classes;
    job *jobs[64] = {0};
    char *err = NULL;
    cuseg_status st = CUSEG_OK;
    for (int i = 0; i < n && st == CUSEG_OK; ++i)
        if (!(jobs[i] = new_job(r, idx[i], h, w, &err))) st = CUSEG_ERR_IO;
    if (st == CUSEG_OK && r->o.crf && needs_tiling(&r->o, h, w)) {
        st = cs_error(CUSEG_ERR_UNSUPPORTED,
                      "--crf needs the whole image's probabilities, but %dx%d is tiled (raise --max-pixels)", w, h);
    } else if (st == CUSEG_OK && needs_tiling(&r->o, h, w)) {
        cs_tiling t = {r->o.tile > 0 ? r->o.tile : 512, 0, r->o.align};
        t.overlap = r->o.overlap >= 0 ? r->o.overlap : t.tile / 8;
        rows_sink sink = {r, jobs[0], w};
        st = cs_seg_predict_tiled(e, first->img.data, h, w, &t, take_rows, &sink);
        if (st == CUSEG_ERR_IO && !err && asprintf(&err, "cannot write probabilities: %s", strerror(errno)) < 0)
            err = NULL;
    } else if (st == CUSEG_OK) {
        float *probs[64] = {0};
        const uint8_t *imgs[64];
        for (int i = 0; i < n && st == CUSEG_OK; ++i) {
            imgs[i] = r->items[idx[i]].img.data;
            if (!(probs[i] = malloc(sizeof(float) * (size_t)h * w * C)))
                st = cs_error(CUSEG_ERR_OUT_OF_MEMORY, "out of memory for %dx%dx%d probabilities", h, w, C);
        }
        if (st == CUSEG_OK) st = cs_seg_predict(e, imgs, n, h, w, probs);
        for (int i = 0; i < n && st == CUSEG_OK && r->o.crf; ++i)
            st = crf_refine(r, &r->items[idx[i]].img, probs[i]);
        for (int i = 0; i < n && st == CUSEG_OK; ++i) {
            rows_sink sink = {r, jobs[i], w};
            if (take_rows(&sink, 0, h, probs[i]) != 0) {
                st = CUSEG_ERR_IO;
                if (asprintf(&err, "cannot write probabilities: %s", strerror(errno)) < 0) err = NULL;
            }
        }
        for (int i = 0; i < n; ++i) free(probs[i]);
    }
    if (st != CUSEG_OK && !err) err = strdup(cuseg_last_error());
    for (int i = 0; i < n; ++i) {
        item *it = &r->items[idx[i]];
        if (st != CUSEG_OK) {
            pthread_mutex_lock(&r->mu);
            record_failure(r, it->in, err ? err : "inference failed");
            print_progress(r, 0);
            pthread_mutex_unlock(&r->mu);
            if (jobs[i]) free_job(jobs[i]);
            cs_image_free(&it->img);
            continue;
        }
        if (r->o.overlay) {
            jobs[i]->img = it->img; /* the writer frees it */
            it->img = (cs_image){0};
        } else {
            cs_image_free(&it->img);
        }
        enqueue(r, jobs[i]);
    }
    free(err);
}

static void compute_loop(seg_run *r, cs_seg_engine *e) {
    int batch[64];
    const int bmax = r->o.batch < 64 ? r->o.batch : 64;
    pthread_mutex_lock(&r->mu);
    for (;;) {
        while (r->head < r->n && r->items[r->head].state == ST_TAKEN) ++r->head;
        pthread_cond_broadcast(&r->cv_space);
        if (r->head >= r->n) break;
        item *it = &r->items[r->head];
        while (it->state == ST_PENDING || it->state == ST_DECODING) pthread_cond_wait(&r->cv_decoded, &r->mu);
        if (it->state == ST_FAILED) {
            record_failure(r, it->in, it->error);
            it->state = ST_TAKEN;
            print_progress(r, 0);
            continue;
        }
        /* Gather decoded images of the same size from the look-ahead window;
         * never wait for one, so a slow decode does not stall the batch. */
        int n = 0;
        batch[n++] = r->head;
        it->state = ST_TAKEN;
        r->pending_px -= (long long)it->img.h * it->img.w;
        if (!needs_tiling(&r->o, it->img.h, it->img.w))
            for (int i = r->head + 1; i < r->n && i < r->head + r->lookahead && n < bmax; ++i) {
                item *o = &r->items[i];
                if (o->state == ST_DECODED && o->img.h == it->img.h && o->img.w == it->img.w) {
                    o->state = ST_TAKEN;
                    r->pending_px -= (long long)o->img.h * o->img.w;
                    batch[n++] = i;
                }
            }
        pthread_mutex_unlock(&r->mu);
        compute(r, e, batch, n);
        pthread_mutex_lock(&r->mu);
    }
    pthread_mutex_unlock(&r->mu);
}

/* ---------------------------------------------------------------- main */

typedef struct named {
    const char *base;
    int idx;
} named;

static int cmp_named(const void *a, const void *b) {
    const named *x = a, *y = b;
    const int c = strcmp(x->base, y->base);
    return c ? c : (x->idx > y->idx) - (x->idx < y->idx);
}

/* dup[i] = 1 when item i's outputs are those of an earlier item (a.jpg and
 * a.png both give a.png). NULL when out of memory. */
static int *shared_outputs(const item_list *l) {
    named *v = malloc(sizeof(named) * ((size_t)l->n + 1));
    int *dup = calloc((size_t)l->n + 1, sizeof(int));
    if (!v || !dup) {
        free(v);
        free(dup);
        return NULL;
    }
    for (int k = 0; k < l->n; ++k) v[k] = (named){l->v[k].base ? l->v[k].base : "", k};
    qsort(v, (size_t)l->n, sizeof(named), cmp_named);
    for (int k = 1; k < l->n; ++k)
        if (!strcmp(v[k].base, v[k - 1].base)) dup[v[k].idx] = 1;
    free(v);
    return dup;
}

/* realpath() of a path that may not exist yet: its longest existing prefix
 * resolved, the rest appended. NULL when nothing resolves. */
static char *resolve_path(const char *path) {
    char *p = strdup(path);
    char *real = NULL;
    size_t cut = p ? strlen(p) : 0;
    while (p && !(real = realpath(cut ? p : ".", NULL))) {
        char *slash = strrchr(p, '/');
        if (!slash) {
            cut = 0;
            continue;
        }
        *slash = '\0';
        cut = strlen(p);
        if (!cut && path[0] == '/') break;
    }
    char *out = NULL;
    if (real && asprintf(&out, "%s%s%s", real, path[cut] && path[cut] != '/' ? "/" : "", path + cut) < 0) out = NULL;
    free(real);
    free(p);
    return out;
}

static int parse_int(const char *s, int *out, int lo) {
    char *end;
    const long v = strtol(s, &end, 10);
    if (end == s || *end || v < lo || v > 1 << 30) return 0;
    *out = (int)v;
    return 1;
}

int cs_cli_segment(int argc, char **argv) {
    seg_options o = {.device = "auto", .batch = 4, .io_threads = 2, .overlap = -1, .align = 32,
                     .max_pixels = 4194304, .n_scales = 1, .scales = {1.0}, .ignore = 255, .shard_n = 1,
                     .alpha = 0.5f, .crf_params = cs_crf_default_params()};
    for (int i = 1; i < argc; ++i) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) return usage(stdout, 0);
        if (!strcmp(a, "--palette")) { o.palette = 1; continue; }
        if (!strcmp(a, "--overlay")) { o.overlay = 1; continue; }
        if (!strcmp(a, "--overwrite")) { o.overwrite = 1; continue; }
        if (!strcmp(a, "--quiet")) { o.quiet = 1; continue; }
        if (!strcmp(a, "--crf")) { o.crf = 1; continue; }
        if (!v) {
            fprintf(stderr, "cuseg segment: %s needs a value (or is unknown)\n\n", a);
            return usage(stderr, 2);
        }
        int ok = 1;
        if (!strcmp(a, "-m") || !strcmp(a, "--model")) o.model = v;
        else if (!strcmp(a, "-i") || !strcmp(a, "--input")) o.in_dir = v;
        else if (!strcmp(a, "-o") || !strcmp(a, "--output")) o.out_dir = v;
        else if (!strcmp(a, "--device")) o.device = v;
        else if (!strcmp(a, "--gt")) o.gt_dir = v;
        else if (!strcmp(a, "--names")) o.names = v;
        else if (!strcmp(a, "--eval-json")) o.eval_json = v;
        else if (!strcmp(a, "--batch")) ok = parse_int(v, &o.batch, 1) && o.batch <= 64;
        else if (!strcmp(a, "--threads")) ok = parse_int(v, &o.threads, 0);
        else if (!strcmp(a, "--precision")) {
            static const char *const names[] = {"fp32", "tf32", "bf16", "fp16"};
            int k = 0;
            while (k < 4 && strcmp(v, names[k])) ++k;
            ok = k < 4;
            o.precision = (cuseg_precision)k;
        } else if (!strcmp(a, "--crf-params")) {
            float f[6];
            ok = cs_parse_floats(v, f, 6) == 6;
            cs_crf_params *c = &o.crf_params;
            c->w1 = f[0], c->theta_alpha = f[1], c->theta_beta = f[2], c->w2 = f[3], c->theta_gamma = f[4];
            c->iterations = (int)f[5];
            ok = ok && f[5] == (float)c->iterations && cs_crf_check_params(c) == CUSEG_OK;
            o.crf = 1;
        }
        else if (!strcmp(a, "--io-threads")) ok = parse_int(v, &o.io_threads, 1) && o.io_threads <= 64;
        else if (!strcmp(a, "--tile")) ok = parse_int(v, &o.tile, 16);
        else if (!strcmp(a, "--overlap")) ok = parse_int(v, &o.overlap, 0);
        else if (!strcmp(a, "--align")) ok = parse_int(v, &o.align, 1);
        else if (!strcmp(a, "--ignore")) ok = parse_int(v, &o.ignore, -1);
        else if (!strcmp(a, "--max-pixels")) {
            char *end;
            o.max_pixels = strtoll(v, &end, 10);
            ok = end != v && !*end && o.max_pixels > 0;
        } else if (!strcmp(a, "--alpha")) {
            char *end;
            o.alpha = strtof(v, &end);
            ok = end != v && !*end && o.alpha >= 0.0f && o.alpha <= 1.0f;
        } else if (!strcmp(a, "--prob")) {
            o.prob = !strcmp(v, "conf") ? 1 : !strcmp(v, "classes") ? 2 : 0;
            ok = o.prob != 0;
        } else if (!strcmp(a, "--tta")) ok = parse_tta(v, &o);
        else if (!strcmp(a, "--shard")) {
            char extra;
            ok = sscanf(v, "%d/%d%c", &o.shard_k, &o.shard_n, &extra) == 2 && o.shard_n >= 1 && o.shard_k >= 0 &&
                 o.shard_k < o.shard_n;
        } else {
            fprintf(stderr, "cuseg segment: unknown option %s\n\n", a);
            return usage(stderr, 2);
        }
        if (!ok) {
            fprintf(stderr, "cuseg segment: bad value for %s: '%s'\n", a, v);
            return 2;
        }
        ++i;
    }
    if (!o.model || !o.in_dir || !o.out_dir) return usage(stderr, 2);
    {
        /* Outputs inside the input tree would be read back as inputs (and
         * name.png outputs would replace name.png inputs). */
        char *ri = realpath(o.in_dir, NULL), *ro = resolve_path(o.out_dir);
        const size_t li = ri ? strlen(ri) : 0;
        const int inside = ri && ro && !strncmp(ri, ro, li) && (ro[li] == '\0' || ro[li] == '/');
        free(ri);
        free(ro);
        if (inside) {
            fprintf(stderr, "cuseg segment: the output directory %s is inside the input directory %s\n", o.out_dir,
                    o.in_dir);
            return 2;
        }
    }
    if (o.tile > 0 && o.overlap >= o.tile) {
        fprintf(stderr, "cuseg segment: --overlap %d must be smaller than --tile %d\n", o.overlap, o.tile);
        return 2;
    }

    /* Model, context, session. */
    cuseg_model *model = NULL;
    const size_t ml = strlen(o.model);
    if (ml > 12 && !strcmp(o.model + ml - 12, ".safetensors")) {
        if (cuseg_model_load(o.model, &model) != CUSEG_OK) {
            fprintf(stderr, "cuseg segment: %s\n", cuseg_last_error());
            return 1;
        }
    } else {
        cuseg_graph *g = cs_cli_open_graph(o.model);
        if (!g || cuseg_model_create(&g, &model) != CUSEG_OK) {
            if (g == NULL && model == NULL && cuseg_last_error()[0])
                fprintf(stderr, "cuseg segment: %s\n", cuseg_last_error());
            return 1;
        }
    }
    const cuseg_graph *g = cuseg_model_graph(model);
    seg_run *r = calloc(1, sizeof *r);
    cuseg_context *ctx = NULL;
    cuseg_session *session = NULL;
    cs_seg_engine engine = {0};
    int rc = 0;
    if (!r) {
        fprintf(stderr, "cuseg segment: out of memory\n");
        cuseg_model_release(model);
        return 1;
    }
    r->o = o;
    r->in_c = g->values[g->inputs[0]].channels;
    r->n_classes = g->values[g->outputs[0]].channels;
    for (int c = 0; c < 256; ++c) voc_color(c, r->palette + 3 * c);
    cuseg_context_options co = {.device = o.device, .cpu_threads = o.threads, .precision = o.precision};
    if (g->n_inputs != 1 || (r->in_c != 1 && r->in_c != 3)) {
        fprintf(stderr, "cuseg segment: the model must have one input of 1 or 3 channels (it has %d inputs, %d channels)\n",
                g->n_inputs, r->in_c);
        rc = 1;
    } else if (cs_preprocess_from_graph(g, &engine.pre) != CUSEG_OK || cs_seg_resize_from_graph(g, &engine) != CUSEG_OK ||
               cuseg_context_create(&co, &ctx) != CUSEG_OK || cuseg_session_create(model, ctx, &session) != CUSEG_OK) {
        fprintf(stderr, "cuseg segment: %s\n", cuseg_last_error());
        rc = 1;
    } else if (engine.resize != CS_RESIZE_NONE) { /* every image reaches the model at one size: never tiled */
        if (o.tile > 0) {
            fprintf(stderr, "cuseg segment: --tile does not apply: the model resizes every image to %dx%d (%s, from "
                            "its training)\n", engine.resize_w, engine.resize_h,
                    engine.resize == CS_RESIZE_STRETCH ? "stretch" : "letterbox");
            rc = 1;
        }
        r->o.max_pixels = LLONG_MAX;
    }
    if (rc == 0 && o.crf) {
        const cs_crf_params *c = &o.crf_params;
        const cuseg_crf_params cp = {c->w1, c->theta_alpha, c->theta_beta, c->w2, c->theta_gamma, c->iterations,
                                     (cuseg_crf_normalization)c->normalization};
        if (cuseg_crf_create(ctx, &cp, &r->crf) != CUSEG_OK) {
            fprintf(stderr, "cuseg segment: %s\n", cuseg_last_error());
            rc = 1;
        }
    }
    if (rc == 0 && o.gt_dir && cs_confusion_init(&r->cm, r->n_classes, o.ignore) != CUSEG_OK) {
        fprintf(stderr, "cuseg segment: %s\n", cuseg_last_error());
        rc = 1;
    }

    /* The work list: sorted, this shard's share, outputs named and checked. */
    item_list all = {0};
    if (rc == 0 && walk(o.in_dir, "", &all) != 0) rc = 1;
    if (rc == 0) {
        qsort(all.v, (size_t)all.n, sizeof(item), cmp_items);
        int kept = 0;
        for (int i = 0; i < all.n; ++i) {
            if (i % o.shard_n != o.shard_k) {
                free(all.v[i].rel);
                free(all.v[i].in);
                continue;
            }
            item it = all.v[i];
            const char *dot = strrchr(it.rel, '.');
            if (asprintf(&it.base, "%s/%.*s", o.out_dir, (int)(dot - it.rel), it.rel) < 0) it.base = NULL;
            all.v[kept++] = it;
        }
        all.n = kept;
        if (cs_mkdir_p(o.out_dir) != 0) {
            fprintf(stderr, "cuseg segment: cannot create %s: %s\n", o.out_dir, strerror(errno));
            rc = 1;
        } else {
            remove_stale_temps(o.out_dir);
        }
    }
    if (rc != 0)
        for (int i = 0; i < all.n; ++i) free(all.v[i].rel), free(all.v[i].in), free(all.v[i].base);
    int skipped = 0, n_total = all.n;
    item *todo = NULL;
    int *done_idx = NULL, n_done_idx = 0;
    if (rc == 0) {
        todo = calloc((size_t)all.n + 1, sizeof(item));
        done_idx = calloc((size_t)all.n + 1, sizeof(int));
        int n = 0;
        int *dup = shared_outputs(&all);
        for (int i = 0; todo && done_idx && dup && i < all.n; ++i) {
            item *it = &all.v[i];
            const int clash = dup[i];
            if (clash || !it->base) {
                it->state = ST_FAILED;
                if (asprintf(&it->error, "its outputs (%s.png) would overwrite those of another input with the same name",
                             it->base ? it->base : "?") < 0)
                    it->error = NULL;
                todo[n++] = *it;
            } else if (!o.overwrite && outputs_done(&o, it->base)) {
                ++skipped;
                if (o.gt_dir) {
                    todo[n] = *it;
                    done_idx[n_done_idx++] = n++;
                    todo[n - 1].state = ST_TAKEN;
                } else {
                    free(it->rel), free(it->in), free(it->base);
                }
            } else {
                todo[n++] = *it;
            }
        }
        free(dup);
        r->items = todo;
        r->n = n;
    }
    free(all.v);

    const double t0 = now_s();
    if (rc == 0) {
        r->tty = isatty(2);
        r->prog.start = t0;
        r->lookahead = 2 * o.batch + o.io_threads;
        /* Look-ahead in pixels too: a directory of huge images must not
         * hold `lookahead` of them decoded at once. */
        r->px_budget = 4 * o.max_pixels;
        r->n_work = r->n - n_done_idx;
        r->q_max = 2 * o.io_threads + o.batch;
        r->head = 0;
        pthread_mutex_init(&r->mu, NULL);
        pthread_cond_init(&r->cv_decoded, NULL);
        pthread_cond_init(&r->cv_space, NULL);
        pthread_cond_init(&r->cv_jobs, NULL);
        pthread_cond_init(&r->cv_jobspace, NULL);
        /* Items already done (only listed for --gt) are never decoded. */
        engine.session = session;
        engine.in_c = r->in_c;
        engine.classes = r->n_classes;
        engine.flip = o.flip;
        engine.n_scales = o.n_scales;
        memcpy(engine.scales, o.scales, sizeof o.scales);
        engine.batch = o.batch;
        engine.threads = o.threads > 0 ? o.threads : (int)sysconf(_SC_NPROCESSORS_ONLN);
        pthread_t dec[64], wri[64];
        int n_dec = 0, n_wri = 0;
        for (int k = 0; k < o.io_threads; ++k) {
            if (pthread_create(&wri[n_wri], NULL, writer_main, r) == 0) ++n_wri;
        }
        for (int k = 0; k < n_done_idx; ++k) {
            job *j = calloc(1, sizeof *j);
            if (!j) continue;
            j->idx = done_idx[k];
            j->eval_only = 1;
            enqueue(r, j);
        }
        for (int k = 0; k < o.io_threads; ++k)
            if (pthread_create(&dec[n_dec], NULL, decoder_main, r) == 0) ++n_dec;
        if (n_dec == 0 || n_wri == 0) {
            fprintf(stderr, "cuseg segment: cannot start threads\n");
            rc = 1;
            r->stop = 1;
        } else {
            compute_loop(r, &engine);
        }
        pthread_mutex_lock(&r->mu);
        r->stop = 1;
        r->writers_done = 1;
        pthread_cond_broadcast(&r->cv_space);
        pthread_cond_broadcast(&r->cv_jobs);
        pthread_mutex_unlock(&r->mu);
        for (int k = 0; k < n_dec; ++k) pthread_join(dec[k], NULL);
        for (int k = 0; k < n_wri; ++k) pthread_join(wri[k], NULL);
        print_progress(r, 1);
    }
    const double elapsed = now_s() - t0;
    if (rc == 0 && o.gt_dir) {
        if (!o.quiet)
            printf("evaluation against %s: %d images (%d without ground truth)\n", o.gt_dir, r->evaluated,
                   r->eval_missing);
        if (cs_cli_report_metrics(&r->cm, o.names, r->evaluated, r->eval_failed, o.eval_json) != 0) rc = 1;
    }
    if (rc == 0 && !o.quiet) {
        const int processed = r->done;
        printf("%d images: %d segmented, %d skipped (already done), %d failed; %.2f s, %.2f images/s\n", n_total,
               processed, skipped, r->failed, elapsed, elapsed > 0 ? processed / elapsed : 0.0);
    }
    if (r->n_failures) {
        fprintf(stderr, "cuseg segment: %d file%s failed:\n", r->n_failures, r->n_failures > 1 ? "s" : "");
        for (int k = 0; k < r->n_failures; ++k) fprintf(stderr, "  %s\n", r->failures[k] ? r->failures[k] : "?");
        rc = 1;
    }
    for (int k = 0; k < r->n_failures; ++k) free(r->failures[k]);
    free(r->failures);
    for (int i = 0; i < r->n; ++i) {
        free(r->items[i].rel), free(r->items[i].in), free(r->items[i].base), free(r->items[i].error);
        cs_image_free(&r->items[i].img);
    }
    free(r->items);
    free(done_idx);
    cuseg_crf_release(r->crf);
    if (o.gt_dir) cs_confusion_free(&r->cm);
    free(r);
    cuseg_session_release(session);
    cuseg_context_release(ctx);
    cuseg_model_release(model);
    return rc;
}
