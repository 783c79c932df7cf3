/* cuseg_conv_candidates: a BENCHMARK-ONLY candidate, not part of the library.
 *
 * The design question: cuseg's CPU convolutions use oneDNN; the alternative
 * the design notes name is OpenBLAS. This program times the plain OpenBLAS
 * way on the layers of cuseg_conv_bench, in NHWC:
 *   im2col: one row per output pixel, columns (group, kh, kw, cin/groups),
 *           so a group's columns are contiguous (for groups = 1 each tap
 *           copies a whole run of cin floats);
 *   weights repacked once (not timed) to [group][kh][kw][cin/groups][cout/groups];
 *   one cblas_sgemm per group: out[pixels, cout_g] = cols_g[pixels, K] x W_g,
 *           written in place into the NHWC output (ldc = cout), bias preset;
 *   1x1 stride-1 convs need no im2col: the NHWC input is the matrix.
 * Times are split into im2col (with the bias preset) and sgemm. */
#define _POSIX_C_SOURCE 200809L
#include <cblas.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conv_layers.h"
#include "cpu_peak.h"

/* OpenBLAS extensions (declared by OpenBLAS's cblas.h, not by every cblas.h). */
void openblas_set_num_threads(int num_threads);
char *openblas_get_corename(void);
char *openblas_get_config(void);

typedef struct candidate {
    conv_layer l;
    int ho, wo, cin_g, cout_g, kk; /* kk = k * k * cin_g: the GEMM depth */
    int direct;                    /* 1x1, stride 1, no padding: no im2col */
    const float *x, *bias;
    float *w_packed, *cols, *y;
} candidate;

static void pack_weights(candidate *c, const float *w_oihw) {
    const conv_layer *l = &c->l;
    for (int g = 0; g < l->groups; ++g)
        for (int co = 0; co < c->cout_g; ++co)
            for (int ci = 0; ci < c->cin_g; ++ci)
                for (int kh = 0; kh < l->k; ++kh)
                    for (int kw = 0; kw < l->k; ++kw)
                        c->w_packed[((size_t)g * c->kk + ((size_t)kh * l->k + kw) * c->cin_g + ci) *
                                        c->cout_g +
                                    co] =
                            w_oihw[((((size_t)g * c->cout_g + co) * c->cin_g + ci) * l->k + kh) * l->k + kw];
}

/* im2col and bias preset for output rows [row0, row1) of image b. */
static void im2col_rows(const candidate *c, int b, int row0, int row1) {
    const conv_layer *l = &c->l;
    const float *x = c->x + (size_t)b * l->h * l->w * l->cin;
    float *y = c->y + (size_t)b * c->ho * c->wo * l->cout;
    const size_t row_len = (size_t)l->groups * c->kk;
    for (int oh = row0; oh < row1; ++oh)
        for (int ow = 0; ow < c->wo; ++ow) {
            const size_t p = (size_t)oh * c->wo + ow;
            memcpy(y + p * l->cout, c->bias, sizeof(float) * (size_t)l->cout);
            if (c->direct) continue;
            float *col = c->cols + p * row_len;
            for (int g = 0; g < l->groups; ++g)
                for (int kh = 0; kh < l->k; ++kh) {
                    const int ih = oh * l->stride - l->pad + kh * l->dilation;
                    for (int kw = 0; kw < l->k; ++kw, col += c->cin_g) {
                        const int iw = ow * l->stride - l->pad + kw * l->dilation;
                        if (ih < 0 || ih >= l->h || iw < 0 || iw >= l->w)
                            memset(col, 0, sizeof(float) * (size_t)c->cin_g);
                        else
                            memcpy(col, x + ((size_t)ih * l->w + iw) * l->cin + (size_t)g * c->cin_g,
                                   sizeof(float) * (size_t)c->cin_g);
                    }
                }
        }
}

typedef struct im2col_job {
    const candidate *c;
    int b, row0, row1;
} im2col_job;

static void *im2col_thread(void *arg) {
    const im2col_job *j = arg;
    im2col_rows(j->c, j->b, j->row0, j->row1);
    return NULL;
}

/* Plain pthreads rather than OpenMP: idle OpenMP workers spin and would take
 * cycles from OpenBLAS's own threads during the sgemm. */
static void im2col_parallel(const candidate *c, int b, int threads) {
    pthread_t tid[64];
    im2col_job jobs[64];
    if (threads > 64) threads = 64;
    if (threads > c->ho) threads = c->ho;
    int started = 0;
    for (int t = 0; t < threads; ++t) {
        jobs[t] = (im2col_job){c, b, c->ho * t / threads, c->ho * (t + 1) / threads};
        if (t == threads - 1 || pthread_create(&tid[t], NULL, im2col_thread, &jobs[t]) != 0)
            im2col_rows(c, b, jobs[t].row0, jobs[t].row1); /* the last share, or no thread */
        else
            ++started;
    }
    for (int t = 0; t < started; ++t) pthread_join(tid[t], NULL);
}

static void forward(const candidate *c, int threads, double *t_im2col, double *t_gemm) {
    const conv_layer *l = &c->l;
    const int pixels = c->ho * c->wo;
    *t_im2col = *t_gemm = 0;
    for (int b = 0; b < l->n; ++b) {
        double t0 = cpu_peak_now();
        im2col_parallel(c, b, threads);
        double t1 = cpu_peak_now();
        const float *a = c->direct ? c->x + (size_t)b * pixels * l->cin : c->cols;
        const int lda = c->direct ? l->cin : l->groups * c->kk;
        float *y = c->y + (size_t)b * pixels * l->cout;
        for (int g = 0; g < l->groups; ++g)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, pixels, c->cout_g, c->kk, 1.0f,
                        a + (size_t)g * c->kk, lda, c->w_packed + (size_t)g * c->kk * c->cout_g, c->cout_g,
                        1.0f, y + (size_t)g * c->cout_g, l->cout);
        double t2 = cpu_peak_now();
        *t_im2col += t1 - t0;
        *t_gemm += t2 - t1;
    }
}

static int run_layer(const conv_layer *l, const bench_options *o, double *median_s, double *im2col_frac,
                     double *err, int *reps_out) {
    candidate c;
    memset(&c, 0, sizeof c);
    c.l = *l;
    c.ho = conv_out_h(l);
    c.wo = conv_out_w(l);
    c.cin_g = l->cin / l->groups;
    c.cout_g = l->cout / l->groups;
    c.kk = l->k * l->k * c.cin_g;
    c.direct = l->k == 1 && l->stride == 1 && l->pad == 0;
    const size_t n_x = (size_t)l->n * l->h * l->w * l->cin;
    const size_t n_w = (size_t)l->cout * c.kk;
    const size_t n_y = (size_t)l->n * c.ho * c.wo * l->cout;
    const size_t n_cols = c.direct ? 1 : (size_t)c.ho * c.wo * l->groups * c.kk;
    float *x = malloc(n_x * sizeof(float)), *w = malloc(n_w * sizeof(float));
    float *bias = malloc((size_t)l->cout * sizeof(float));
    c.w_packed = malloc(n_w * sizeof(float));
    c.cols = malloc(n_cols * sizeof(float));
    c.y = malloc(n_y * sizeof(float));
    double *times = NULL;
    int status = 1;
    if (!x || !w || !bias || !c.w_packed || !c.cols || !c.y) {
        fprintf(stderr, "cuseg_conv_candidates: out of memory\n");
        goto done;
    }
    /* Same data as cuseg_conv_bench. */
    conv_fill_random(w, n_w, 1.0f / sqrtf((float)c.kk), 1);
    conv_fill_random(bias, (size_t)l->cout, 0.1f, 2);
    conv_fill_random(x, n_x, 1.0f, 3);
    c.x = x;
    c.bias = bias;
    pack_weights(&c, w);

    double ti, tg;
    forward(&c, o->threads, &ti, &tg); /* warm-up: page faults, OpenBLAS threads */
    *err = conv_check(l, x, w, bias, c.y, o->quick ? 4096 : 512, 4);
    if (!(*err <= CONV_CHECK_TOL)) {
        fprintf(stderr, "cuseg_conv_candidates: layer %s: wrong output (normalised error %.3g)\n", l->id, *err);
        goto done;
    }
    forward(&c, o->threads, &ti, &tg);
    double t_est = ti + tg > 0 ? ti + tg : 1e-6;
    int reps = o->min_reps;
    if ((double)reps * t_est < o->min_time) reps = (int)ceil(o->min_time / t_est);
    if (reps > 100000) reps = 100000;
    times = malloc((size_t)reps * sizeof(double));
    if (!times) goto done;
    double sum_i = 0, sum_all = 0;
    for (int r = 0; r < reps; ++r) {
        forward(&c, o->threads, &ti, &tg);
        times[r] = ti + tg;
        sum_i += ti;
        sum_all += ti + tg;
    }
    *median_s = conv_median(times, reps);
    *im2col_frac = sum_all > 0 ? sum_i / sum_all : 0;
    *reps_out = reps;
    status = 0;
done:
    free(times);
    free(x);
    free(w);
    free(bias);
    free(c.w_packed);
    free(c.cols);
    free(c.y);
    return status;
}

int main(int argc, char **argv) {
    bench_options o;
    int pr = bench_parse(argc, argv, "cuseg_conv_candidates",
                         "Benchmark-only candidate: OpenBLAS im2col + sgemm conv (NHWC fp32), same layers "
                         "as cuseg_conv_bench.",
                         &o);
    if (pr) return pr > 0 ? 0 : 2;
    openblas_set_num_threads(o.threads);

    cpu_peak peak;
    memset(&peak, 0, sizeof peak);
    if (!o.no_peak) cpu_peak_measure(o.threads, o.peak_time, o.quick ? 1 : 3, &peak);
    if (o.json) {
        printf("{\"kind\":\"openblas\",\"config\":\"%s\",\"core\":\"%s\"}\n", openblas_get_config(),
               openblas_get_corename());
        if (!o.no_peak)
            printf("{\"kind\":\"peak\",\"threads\":%d,\"isa\":\"%s\",\"peak_1t\":%.2f,\"peak_nt\":%.2f}\n",
                   o.threads, peak.peak_isa, peak.peak_1t, peak.peak_nt);
    } else {
        printf("Candidate (benchmark only): OpenBLAS im2col + sgemm, NHWC fp32, batch 1, %d thread%s%s\n\n",
               o.threads, o.threads == 1 ? "" : "s", o.quick ? " (quick)" : "");
        printf("OpenBLAS: %s; kernels for core: %s\n\n", openblas_get_config(), openblas_get_corename());
        if (!o.no_peak) printf("fp32 FMA peak (measured): %.1f GFLOP/s (%s)\n\n", peak.peak_nt, peak.peak_isa);
        printf("| layer | shape | median ms | runs | GFLOP/s | %% of peak | im2col share |\n");
        printf("|---|---|---:|---:|---:|---:|---:|\n");
    }
    fflush(stdout);
    for (int i = 0; i < o.n_selected; ++i) {
        conv_layer l = conv_layers[o.selected[i]];
        if (o.quick) l = conv_quick(&l);
        double median_s = 0, frac_i = 0, err = 0;
        int reps = 0;
        if (run_layer(&l, &o, &median_s, &frac_i, &err, &reps)) return 1;
        char d[96];
        conv_describe(&l, d, sizeof d);
        const double gflops = 2.0 * conv_macs(&l) / median_s * 1e-9;
        /* Without a measured peak the fraction is unknown: null / "-". */
        char frac_json[32] = "null", frac_pct[32] = "-";
        if (peak.peak_nt > 0) {
            snprintf(frac_json, sizeof frac_json, "%.4f", gflops / peak.peak_nt);
            snprintf(frac_pct, sizeof frac_pct, "%.1f%%", 100 * gflops / peak.peak_nt);
        }
        if (o.json)
            printf("{\"kind\":\"conv\",\"impl\":\"openblas_im2col\",\"layer\":\"%s\",\"shape\":\"%s\","
                   "\"threads\":%d,\"median_ms\":%.4f,\"reps\":%d,\"gflops\":%.2f,\"peak_frac\":%s,"
                   "\"im2col_frac\":%.4f,\"check_err\":%.3g}\n",
                   l.id, d, o.threads, median_s * 1e3, reps, gflops, frac_json, frac_i, err);
        else
            printf("| %s | %s | %.3f | %d | %.1f | %s | %.0f%% |\n", l.id, d, median_s * 1e3, reps, gflops,
                   frac_pct, 100 * frac_i);
        fflush(stdout);
    }
    return 0;
}
