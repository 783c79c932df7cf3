/* Dense CRF CPU benchmark (issue #8): DeepLab v1 defaults, 21 labels,
 * 10 iterations on a 500x375 image, median of several runs.
 * bench/crf_pydensecrf.py times pydensecrf on the same input.
 *
 *   cuseg_crf_bench [--image PATH] [--threads N] [--reps N] [--labels L] [--iterations T]
 *                   [--device cpu|cuda:N] [--batch B]
 *
 * --device cuda:N times the public API (cuseg_crf_run) on that GPU instead:
 * host buffers in and out (transfers included), ms per image for single
 * images and for one call on a batch of B copies (default 4).
 *
 * The input probabilities are a closed-form function of (x, y, label) so that
 * the Python side builds the same ones without sharing files. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cuseg.h"
#include "io/image.h"
#include "post/crf.h"

#ifndef CUSEG_SHARED_DIR
#define CUSEG_SHARED_DIR "../shared"
#endif

static double clock_ms(clockid_t clock) {
    struct timespec ts;
    clock_gettime(clock, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec * 1e-6;
}

static double now_ms(void) { return clock_ms(CLOCK_MONOTONIC); }

/* CPU time of all threads: with 1 thread, a time that other jobs on the
 * machine inflate much less than the wall clock (pydensecrf's script reports
 * the same). */
static double cpu_now_ms(void) { return clock_ms(CLOCK_PROCESS_CPUTIME_ID); }

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Smooth, region-like logits; softmax over labels (same formula in crf_pydensecrf.py). */
static void make_prob(int h, int w, int labels, float *prob) {
    for (int y = 0; y < h; ++y)
        for (int x = 0; x < w; ++x) {
            float *p = prob + ((size_t)y * w + x) * labels;
            double mx = -1e300, s = 0;
            double z[4096];
            for (int l = 0; l < labels; ++l) {
                z[l] = 3.0 * sin(0.021 * x * (1 + l % 4) + 0.7 * l) * cos(0.017 * y * (1 + l % 3) - 0.3 * l);
                if (z[l] > mx) mx = z[l];
            }
            for (int l = 0; l < labels; ++l) s += (z[l] = exp(z[l] - mx));
            for (int l = 0; l < labels; ++l) p[l] = (float)(z[l] / s);
        }
}

static double median_ms(double *ms, int reps) {
    qsort(ms, (size_t)reps, sizeof *ms, cmp_double);
    return ms[reps / 2];
}

/* The public API on a CUDA context: single images, then batches. */
static int bench_device(const char *device, const cs_image *img, const float *prob, int labels, int iterations,
                        int reps, int batch) {
    const int h = img->h, w = img->w;
    const size_t pix = (size_t)h * w;
    cuseg_context_options co = {0};
    co.device = device;
    cuseg_context *ctx = NULL;
    cuseg_crf *crf = NULL;
    cuseg_crf_params p = cuseg_crf_default_params();
    p.iterations = iterations;
    uint8_t *rgb = malloc(pix * 3 * (size_t)batch);
    float *in = malloc(pix * labels * sizeof(float) * (size_t)batch);
    float *out = malloc(pix * labels * sizeof(float) * (size_t)batch);
    double *ms = malloc((size_t)reps * sizeof(double));
    int rc = 1;
    if (!rgb || !in || !out || !ms) {
        fprintf(stderr, "out of memory\n");
        goto done;
    }
    for (int b = 0; b < batch; ++b) {
        memcpy(rgb + b * pix * 3, img->data, pix * 3);
        memcpy(in + b * pix * labels, prob, pix * labels * sizeof(float));
    }
    if (cuseg_context_create(&co, &ctx) != CUSEG_OK || cuseg_crf_create(ctx, &p, &crf) != CUSEG_OK ||
        cuseg_crf_run(crf, rgb, in, batch, h, w, labels, out) != CUSEG_OK) { /* warm-up, buffers grown */
        fprintf(stderr, "%s\n", cuseg_last_error());
        goto done;
    }
    for (int r = 0; r < reps; ++r) {
        const double t0 = now_ms();
        if (cuseg_crf_run(crf, rgb, in, 1, h, w, labels, out) != CUSEG_OK) {
            fprintf(stderr, "%s\n", cuseg_last_error());
            goto done;
        }
        ms[r] = now_ms() - t0;
    }
    const double one = median_ms(ms, reps);
    for (int r = 0; r < reps; ++r) {
        const double t0 = now_ms();
        if (cuseg_crf_run(crf, rgb, in, batch, h, w, labels, out) != CUSEG_OK) {
            fprintf(stderr, "%s\n", cuseg_last_error());
            goto done;
        }
        ms[r] = now_ms() - t0;
    }
    const double many = median_ms(ms, reps);
    printf("cuseg CRF on %s: %dx%d, %d labels, %d iterations: %.2f ms per image (median of %d); "
           "batch of %d: %.2f ms (%.2f ms per image)\n",
           cuseg_crf_device(crf), w, h, labels, iterations, one, reps, batch, many, many / batch);
    rc = 0;
done:
    cuseg_crf_release(crf);
    cuseg_context_release(ctx);
    free(rgb);
    free(in);
    free(out);
    free(ms);
    return rc;
}

int main(int argc, char **argv) {
    const char *image = CUSEG_SHARED_DIR "/datasets/labelme_examples/semantic_segmentation/images/2011_000006.png";
    const char *device = "cpu";
    int threads = 2, reps = 7, labels = 21, iterations = 10, batch = 4;
    for (int i = 1; i < argc; ++i) {
        if (!strcmp(argv[i], "--image") && i + 1 < argc) image = argv[++i];
        else if (!strcmp(argv[i], "--threads") && i + 1 < argc) threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--reps") && i + 1 < argc) reps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--labels") && i + 1 < argc) labels = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--iterations") && i + 1 < argc) iterations = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--device") && i + 1 < argc) device = argv[++i];
        else if (!strcmp(argv[i], "--batch") && i + 1 < argc) batch = atoi(argv[++i]);
        else {
            fprintf(stderr, "usage: %s [--image PATH] [--threads N] [--reps N] [--labels L] [--iterations T] "
                            "[--device cpu|cuda:N] [--batch B]\n", argv[0]);
            return 2;
        }
    }
    if (reps < 1 || reps > 1000 || labels < 1 || labels > 4096 || batch < 1 || batch > 64) {
        fprintf(stderr, "bad --reps, --labels or --batch\n");
        return 2;
    }
    cs_image img;
    if (cs_image_read(image, CS_IMAGE_RGB, &img) != CUSEG_OK) {
        fprintf(stderr, "%s\n", cuseg_last_error());
        return 1;
    }
    const int h = img.h, w = img.w;
    float *prob = malloc((size_t)h * w * labels * sizeof(float));
    float *out = malloc((size_t)h * w * labels * sizeof(float));
    double *ms = malloc((size_t)reps * sizeof(double)), *cpu_ms = malloc((size_t)reps * sizeof(double));
    if (!prob || !out || !ms || !cpu_ms) return 1;
    make_prob(h, w, labels, prob);
    cs_crf_params p = cs_crf_default_params();
    p.iterations = iterations;

    if (strcmp(device, "cpu") != 0) {
        const int rc = bench_device(device, &img, prob, labels, iterations, reps, batch);
        cs_image_free(&img);
        free(prob);
        free(out);
        free(ms);
        free(cpu_ms);
        return rc;
    }
    if (cs_crf_run(&p, img.data, prob, h, w, labels, threads, out) != CUSEG_OK) { /* warm-up */
        fprintf(stderr, "%s\n", cuseg_last_error());
        return 1;
    }
    for (int r = 0; r < reps; ++r) {
        double t0 = now_ms(), c0 = cpu_now_ms();
        cs_crf_run(&p, img.data, prob, h, w, labels, threads, out);
        ms[r] = now_ms() - t0;
        cpu_ms[r] = cpu_now_ms() - c0;
    }
    qsort(ms, (size_t)reps, sizeof *ms, cmp_double);
    qsort(cpu_ms, (size_t)reps, sizeof *cpu_ms, cmp_double);
    long changed = 0;
    for (long i = 0; i < (long)h * w; ++i) {
        int a = 0, b = 0;
        for (int l = 1; l < labels; ++l) {
            if (prob[i * labels + l] > prob[i * labels + a]) a = l;
            if (out[i * labels + l] > out[i * labels + b]) b = l;
        }
        changed += a != b;
    }
    printf("cuseg CRF: %dx%d, %d labels, %d iterations, %d threads: median %.1f ms (min %.1f, max %.1f, %d runs); "
           "%.1f%% labels changed; CPU time median %.1f ms\n",
           w, h, labels, iterations, threads, ms[reps / 2], ms[0], ms[reps - 1], reps,
           100.0 * changed / ((double)h * w), cpu_ms[reps / 2]);
    cs_image_free(&img);
    free(prob);
    free(out);
    free(ms);
    free(cpu_ms);
    return 0;
}
