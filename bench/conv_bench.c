/* cuseg_conv_bench: times cuseg's CPU convolution on representative layers
 * through the public API only (a one-node graph run by a session on the "cpu"
 * device), and reports GFLOP/s and the fraction of the machine's measured
 * fp32 FMA peak at the same thread count. See --help. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conv_layers.h"
#include "cpu_peak.h"
#include "cuseg.h"

typedef struct result {
    double median_s, min_s, gflops, check_err;
    int reps;
} result;

static int fail(const char *what, cuseg_status st) {
    fprintf(stderr, "cuseg_conv_bench: %s: %s (%s)\n", what, cuseg_last_error(),
            cuseg_status_string(st));
    return 1;
}

/* Everything one layer needs; released by layer_free whatever happened. */
typedef struct layer_run {
    cuseg_model *model;
    cuseg_context *ctx;
    cuseg_session *session;
    cuseg_tensor *x;
    float *weight, *bias;
} layer_run;

static void layer_free(layer_run *r) {
    cuseg_tensor_release(r->x);
    cuseg_session_release(r->session);
    cuseg_context_release(r->ctx);
    cuseg_model_release(r->model);
    free(r->weight);
    free(r->bias);
}

#define TRY(what, call)                                                                        \
    do {                                                                                       \
        cuseg_status st_ = (call);                                                             \
        if (st_ != CUSEG_OK) {                                                                 \
            if (g) cuseg_graph_release(g);                                                     \
            return fail(what, st_);                                                            \
        }                                                                                      \
    } while (0)

static int run_layer(const conv_layer *l, const bench_options *o, layer_run *r, result *res) {
    cuseg_graph *g = NULL;
    int x_val, y_val;
    TRY("cuseg_graph_create", cuseg_graph_create(&g));
    TRY("cuseg_graph_input", cuseg_graph_input(g, "x", l->cin, &x_val));
    cuseg_conv2d_params p;
    memset(&p, 0, sizeof p);
    p.out_channels = l->cout;
    p.kernel_h = p.kernel_w = l->k;
    p.stride_h = p.stride_w = l->stride;
    p.pad_top = p.pad_bottom = p.pad_left = p.pad_right = l->pad;
    p.dilation_h = p.dilation_w = l->dilation;
    p.groups = l->groups;
    p.has_bias = 1; /* as torch.nn.Conv2d by default, and as after BN folding */
    TRY("cuseg_graph_conv2d", cuseg_graph_conv2d(g, "conv", x_val, &p, &y_val));
    TRY("cuseg_graph_output", cuseg_graph_output(g, y_val));

    /* He-like scale keeps outputs O(1) whatever the fan-in. */
    const size_t n_w = (size_t)l->cout * (l->cin / l->groups) * l->k * l->k;
    const float w_scale = 1.0f / sqrtf((float)((l->cin / l->groups) * l->k * l->k));
    r->weight = malloc(n_w * sizeof(float));
    r->bias = malloc((size_t)l->cout * sizeof(float));
    if (!r->weight || !r->bias) {
        cuseg_graph_release(g);
        fprintf(stderr, "cuseg_conv_bench: out of memory\n");
        return 1;
    }
    conv_fill_random(r->weight, n_w, w_scale, 1);
    conv_fill_random(r->bias, (size_t)l->cout, 0.1f, 2);
    TRY("set conv.weight", cuseg_graph_set_param(g, "conv.weight", r->weight, n_w));
    TRY("set conv.bias", cuseg_graph_set_param(g, "conv.bias", r->bias, (size_t)l->cout));
    TRY("cuseg_model_create", cuseg_model_create(&g, &r->model)); /* g is NULL from here on */

    cuseg_context_options copt = {.device = "cpu", .cpu_threads = o->threads};
    TRY("cuseg_context_create", cuseg_context_create(&copt, &r->ctx));
    TRY("cuseg_session_create", cuseg_session_create(r->model, r->ctx, &r->session));
    TRY("cuseg_tensor_create", cuseg_tensor_create(CUSEG_F32, l->n, l->h, l->w, l->cin, &r->x));
    conv_fill_random(cuseg_tensor_data(r->x), (size_t)l->n * l->h * l->w * l->cin, 1.0f, 3);
    const int shape[1][4] = {{l->n, l->h, l->w, l->cin}};
    TRY("cuseg_session_plan", cuseg_session_plan(r->session, shape, 1));

    /* Warm-up (first-touch of buffers, oneDNN's JIT and caches), then the
     * check: a fast wrong answer is not a result. */
    const cuseg_tensor *const inputs[1] = {r->x};
    double t0 = cpu_peak_now();
    TRY("cuseg_session_run", cuseg_session_run(r->session, inputs, 1));
    double t_first = cpu_peak_now() - t0;
    const cuseg_tensor *y;
    TRY("cuseg_session_output", cuseg_session_output(r->session, 0, &y));
    int dims[4];
    cuseg_tensor_shape(y, dims);
    if (dims[0] != l->n || dims[1] != conv_out_h(l) || dims[2] != conv_out_w(l) || dims[3] != l->cout) {
        fprintf(stderr, "cuseg_conv_bench: layer %s: output is %dx%dx%dx%d, expected %dx%dx%dx%d\n",
                l->id, dims[0], dims[1], dims[2], dims[3], l->n, conv_out_h(l), conv_out_w(l), l->cout);
        return 1;
    }
    res->check_err = conv_check(l, cuseg_tensor_data(r->x), r->weight, r->bias, cuseg_tensor_data(y),
                                o->quick ? 4096 : 512, 4);
    if (!(res->check_err <= CONV_CHECK_TOL)) {
        fprintf(stderr, "cuseg_conv_bench: layer %s: wrong output (normalised error %.3g > %g)\n", l->id,
                res->check_err, CONV_CHECK_TOL);
        return 1;
    }

    /* One more run for a steady-state estimate, then enough reps for min_time. */
    t0 = cpu_peak_now();
    TRY("cuseg_session_run", cuseg_session_run(r->session, inputs, 1));
    double t_est = cpu_peak_now() - t0;
    if (t_est <= 0) t_est = t_first > 0 ? t_first : 1e-6;
    int reps = o->min_reps;
    if ((double)reps * t_est < o->min_time) reps = (int)ceil(o->min_time / t_est);
    if (reps > 100000) reps = 100000;
    double *times = malloc((size_t)reps * sizeof(double));
    if (!times) {
        fprintf(stderr, "cuseg_conv_bench: out of memory\n");
        return 1;
    }
    for (int i = 0; i < reps; ++i) {
        t0 = cpu_peak_now();
        cuseg_status st = cuseg_session_run(r->session, inputs, 1);
        times[i] = cpu_peak_now() - t0;
        if (st != CUSEG_OK) {
            free(times);
            return fail("cuseg_session_run", st);
        }
    }
    res->reps = reps;
    res->median_s = conv_median(times, reps);
    res->min_s = times[0]; /* sorted by conv_median */
    res->gflops = 2.0 * conv_macs(l) / res->median_s * 1e-9;
    free(times);
    return 0;
}

int main(int argc, char **argv) {
    bench_options o;
    int pr = bench_parse(argc, argv, "cuseg_conv_bench",
                         "Times cuseg's CPU conv2d (public API, NHWC fp32, batch 1) on representative layers.",
                         &o);
    if (pr) return pr > 0 ? 0 : 2;

    cpu_peak peak;
    memset(&peak, 0, sizeof peak);
    if (!o.no_peak) cpu_peak_measure(o.threads, o.peak_time, o.quick ? 1 : 3, &peak);
    if (o.json) {
        printf("{\"kind\":\"peak\",\"threads\":%d,\"isa\":\"%s\",\"avx2_1t\":%.2f,\"avx2_nt\":%.2f,"
               "\"avx512_1t\":%.2f,\"avx512_nt\":%.2f,\"peak_1t\":%.2f,\"peak_nt\":%.2f}\n",
               o.threads, peak.peak_isa ? peak.peak_isa : "none", peak.avx2_1t, peak.avx2_nt,
               peak.avx512_1t, peak.avx512_nt, peak.peak_1t, peak.peak_nt);
    } else {
        printf("cuseg %s, CPU conv2d, fp32 NHWC, batch 1, %d thread%s%s\n\n", cuseg_version(), o.threads,
               o.threads == 1 ? "" : "s", o.quick ? " (quick: tiny shapes, 1 run)" : "");
        if (!o.no_peak)
            printf("fp32 FMA peak (measured): AVX2 %.1f GFLOP/s x1, %.1f x%d; AVX-512 %.1f x1, %.1f x%d; "
                   "using %s = %.1f GFLOP/s\n\n",
                   peak.avx2_1t, peak.avx2_nt, o.threads, peak.avx512_1t, peak.avx512_nt, o.threads,
                   peak.peak_isa, peak.peak_nt);
        printf("| layer | shape | GFLOP | median ms | min ms | runs | GFLOP/s | %% of peak |\n");
        printf("|---|---|---:|---:|---:|---:|---:|---:|\n");
    }
    fflush(stdout);

    int status = 0;
    for (int i = 0; i < o.n_selected && status == 0; ++i) {
        conv_layer l = conv_layers[o.selected[i]];
        if (o.quick) l = conv_quick(&l);
        layer_run r;
        memset(&r, 0, sizeof r);
        result res;
        memset(&res, 0, sizeof res);
        status = run_layer(&l, &o, &r, &res);
        layer_free(&r);
        if (status) break;
        char d[96];
        conv_describe(&l, d, sizeof d);
        /* Without a measured peak the fraction is unknown: null / "-". */
        const double frac = peak.peak_nt > 0 ? res.gflops / peak.peak_nt : 0;
        char frac_json[32] = "null", frac_pct[32] = "-";
        if (peak.peak_nt > 0) {
            snprintf(frac_json, sizeof frac_json, "%.4f", frac);
            snprintf(frac_pct, sizeof frac_pct, "%.1f%%", 100 * frac);
        }
        if (o.json)
            printf("{\"kind\":\"conv\",\"impl\":\"cuseg\",\"layer\":\"%s\",\"shape\":\"%s\",\"threads\":%d,"
                   "\"gflop\":%.4f,\"median_ms\":%.4f,\"min_ms\":%.4f,\"reps\":%d,\"gflops\":%.2f,"
                   "\"peak_frac\":%s,\"check_err\":%.3g}\n",
                   l.id, d, o.threads, 2e-9 * conv_macs(&l), res.median_s * 1e3, res.min_s * 1e3, res.reps,
                   res.gflops, frac_json, res.check_err);
        else
            printf("| %s | %s | %.3f | %.3f | %.3f | %d | %.1f | %s |\n", l.id, d, 2e-9 * conv_macs(&l),
                   res.median_s * 1e3, res.min_s * 1e3, res.reps, res.gflops, frac_pct);
        fflush(stdout);
    }
    return status;
}
