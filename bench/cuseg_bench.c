/* cuseg-bench: inference throughput, latency and memory of whole models.
 *
 *   cuseg-bench --model unet_bn,fcn8s:pad100=0 --batch 1,4 --size 512x512 --threads 2
 *   cuseg-bench --model unet_bn --device cpu,cuda:0 --precision fp32,bf16
 *   cuseg-bench --images DIR --model deeplab_v1 --batch 4      (end to end)
 *
 * Model mode: for every device x precision x model x batch x size: warm-up,
 * then timed runs (at least --iters and at least --min-time seconds); reports
 * median and p50/p95/p99 latency, images/s, achieved GMAC/s and the fraction
 * of the measured peak (CPU: cpu_peak.c's FMA peak, 2 FLOP per MAC; CUDA:
 * gpu_peak.cu's cuBLAS GEMM peak in the row's precision), peak resident
 * host memory of the row, the activation arena and, for CUDA sessions, the
 * device memory the process took (cudaMemGetInfo).
 * CUDA rows are timed three ways (docs/benchmarks.md):
 *   median_ms      host clock around cuseg_session_run: host input in, host
 *                  output out, what a caller waits for;
 *   run_device_ms  CUDA events on the session's stream around those same
 *                  runs (upload, compute, download as the GPU sees them);
 *   resident_ms    CUDA events around the plan's steps alone, input already
 *                  on the device and outputs left there, both in the storage
 *                  precision (cs_session_run_resident, a bench-only hook):
 *                  the figure to compare with framework timings of a model
 *                  on a device tensor.
 *
 * Check mode (--check IO.safetensors): runs the model on the file's "input"
 * (NHWC float32) and compares every "output.<i>" with the session's output:
 * max |difference|, max |reference| and the L2 relative error against a
 * tolerance per precision; with --weights the model is a zoo architecture
 * with the parameters of a converted PyTorch state dict
 * (tests/golden/convert_state_dict.py), which is how bench/compare_torch.py
 * shows that every side of its comparison computes the same function.
 *
 * Image mode (--images DIR): every PNG/JPEG in DIR through decode,
 * preprocess, the session run and argmax + PNG encode into a temporary
 * directory, each stage timed on its own (serially, so that the shares add
 * up; `cuseg segment` overlaps decode and encode with compute on threads).
 *
 * Weights are random (the speed does not depend on them) unless --weights
 * FILE gives them; --save-weights DIR writes each model file.
 * Output: a markdown table, or JSON lines with --json. */
#define _GNU_SOURCE /* mkdtemp */
#include <dirent.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "bench_model.h"
#include "conv_layers.h" /* conv_fill_random */
#include "cpu_peak.h"
#include "backend.h" /* cs_session_run_resident */
#include "cuseg.h"
#include "io/image.h"
#include "io/preprocess.h"
#include "io/safetensors.h"

#ifdef CUSEG_WITH_CUDA
#include <cuda_runtime_api.h>

#include "gpu_peak.h"
#endif

#define MAX_LIST 16

static const char *const precision_names[] = {"fp32", "tf32", "bf16", "fp16"};

typedef struct options {
    char models[2048];
    int batches[MAX_LIST], n_batches;
    int sizes[MAX_LIST][2], n_sizes;
    char devices_buf[256];
    const char *devices[MAX_LIST];
    int n_devices;
    cuseg_precision precisions[4];
    int n_precisions;
    int threads, iters, warmup, json, quick, no_peak, search, passes, limit;
    double min_time, check_tol;
    const char *save_dir, *images, *weights, *check;
} options;

static int usage(FILE *f, int code) {
    fprintf(f,
            "usage: cuseg-bench --model SPEC[,SPEC...] [--batch 1,4] [--size 512x512[,HxW...]]\n"
            "                   [--threads T] [--iters N] [--min-time S] [--warmup N]\n"
            "                   [--json] [--no-peak] [--save-weights DIR] [--weights FILE] [--quick]\n"
            "                   [--device cpu|cuda:N[,...]] [--precision fp32|tf32|bf16|fp16[,...]] [--search]\n"
            "       cuseg-bench --images DIR --model SPEC [--batch N] [--passes P] [--limit K] [...]\n"
            "       cuseg-bench --check IO.safetensors --model SPEC [--weights FILE] [--check-tol T]\n"
            "                   [--device ...] [--precision ...]\n"
            "  SPEC  ARCH[:key=value;...] (options separated by ';' or '+' here since ',' separates\n"
            "        models) or a model file *.safetensors\n"
            "  --device, --precision  lists: every combination is measured (the CPU computes in\n"
            "           fp32 only, so other precisions are skipped there)\n"
            "  --quick  smoke test: 1 warm-up, 1 run, 64x64 inputs, no peak measurement\n"
            "  --search time cuDNN's algorithms per shape when planning (CUDA)\n"
            "  --weights load the parameters of the (single) zoo model from a safetensors file\n"
            "           (e.g. tests/golden/convert_state_dict.py's output) instead of random ones\n"
            "  --check  run the file's \"input\" (NHWC f32) and compare with its \"output.<i>\":\n"
            "           max |diff|, L2 relative error; fails above --check-tol (default by\n"
            "           precision: fp32 1e-4, tf32 1e-2, fp16 2e-2, bf16 5e-2)\n"
            "  --images end to end over DIR's PNG/JPEG files: decode, preprocess, run,\n"
            "           argmax + PNG encode (to a temporary directory, removed after), each timed;\n"
            "           images of one size are batched up to --batch; --passes P (default 2) goes\n"
            "           over the directory P times and the first pass is a warm-up (--quick: 1 pass);\n"
            "           --limit K uses the first K files (sorted by name)\n"
            "A run is cuseg_session_run: host input in, host output out (on a GPU the\n"
            "copies both ways are inside the time, host clock around the call). CUDA rows\n"
            "also give the device time of those runs (events on the stream) and of\n"
            "device-resident runs (input already on the GPU, outputs left there).\n");
    return code;
}

static int parse_ints(const char *s, int *out, int max) {
    int n = 0;
    for (const char *p = s; *p && n < max;) {
        out[n++] = atoi(p);
        const char *c = strchr(p, ',');
        if (!c) break;
        p = c + 1;
    }
    return n;
}

static int parse_precisions(const char *v, options *o) {
    o->n_precisions = 0;
    for (const char *p = v; p && *p;) {
        const char *c = strchr(p, ',');
        const size_t len = c ? (size_t)(c - p) : strlen(p);
        int k = 0;
        while (k < 4 && (strlen(precision_names[k]) != len || strncmp(p, precision_names[k], len))) ++k;
        if (k == 4 || o->n_precisions == 4) return -1;
        o->precisions[o->n_precisions++] = (cuseg_precision)k;
        p = c ? c + 1 : NULL;
    }
    return o->n_precisions > 0 ? 0 : -1;
}

static int parse_devices(const char *v, options *o) {
    snprintf(o->devices_buf, sizeof o->devices_buf, "%s", v);
    o->n_devices = 0;
    char *save = NULL;
    for (char *d = strtok_r(o->devices_buf, ",", &save); d && o->n_devices < MAX_LIST; d = strtok_r(NULL, ",", &save))
        o->devices[o->n_devices++] = d;
    return o->n_devices > 0 ? 0 : -1;
}

static int parse(int argc, char **argv, options *o) {
    memset(o, 0, sizeof *o);
    o->batches[0] = 1, o->n_batches = 1;
    o->sizes[0][0] = o->sizes[0][1] = 512, o->n_sizes = 1;
    o->threads = 2, o->iters = 10, o->warmup = 2, o->min_time = 2.0, o->passes = 2;
    o->devices[0] = "cpu", o->n_devices = 1;
    o->precisions[0] = CUSEG_PRECISION_FP32, o->n_precisions = 1;
    for (int i = 1; i < argc; ++i) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help")) return 1;
        if (!strcmp(a, "--json")) o->json = 1;
        else if (!strcmp(a, "--quick")) o->quick = 1;
        else if (!strcmp(a, "--no-peak")) o->no_peak = 1;
        else if (!strcmp(a, "--search")) o->search = 1;
        else if (!v) return -1;
        else if (!strcmp(a, "--device")) {
            if (parse_devices(v, o)) return -1;
            ++i;
        } else if (!strcmp(a, "--precision")) {
            if (parse_precisions(v, o)) return -1;
            ++i;
        }
        else if (!strcmp(a, "--model")) snprintf(o->models, sizeof o->models, "%s", v), ++i;
        else if (!strcmp(a, "--images")) o->images = v, ++i;
        else if (!strcmp(a, "--batch")) o->n_batches = parse_ints(v, o->batches, MAX_LIST), ++i;
        else if (!strcmp(a, "--threads")) o->threads = atoi(v), ++i;
        else if (!strcmp(a, "--iters")) o->iters = atoi(v), ++i;
        else if (!strcmp(a, "--warmup")) o->warmup = atoi(v), ++i;
        else if (!strcmp(a, "--passes")) o->passes = atoi(v), ++i;
        else if (!strcmp(a, "--limit")) o->limit = atoi(v), ++i;
        else if (!strcmp(a, "--min-time")) o->min_time = atof(v), ++i;
        else if (!strcmp(a, "--save-weights")) o->save_dir = v, ++i;
        else if (!strcmp(a, "--weights")) o->weights = v, ++i;
        else if (!strcmp(a, "--check")) o->check = v, ++i;
        else if (!strcmp(a, "--check-tol")) o->check_tol = atof(v), ++i;
        else if (!strcmp(a, "--size")) {
            o->n_sizes = 0;
            for (const char *p = v; p && o->n_sizes < MAX_LIST; p = strchr(p, ','), p = p ? p + 1 : NULL)
                if (sscanf(p, "%dx%d", &o->sizes[o->n_sizes][0], &o->sizes[o->n_sizes][1]) == 2) ++o->n_sizes;
            ++i;
        } else return -1;
    }
    if (!o->models[0] || o->threads < 1 || o->iters < 1 || o->n_batches < 1 || o->n_sizes < 1 || o->passes < 1)
        return -1;
    for (int b = 0; b < o->n_batches; ++b)
        if (o->batches[b] < 1) return -1;
    if (o->weights && strchr(o->models, ',')) {
        fprintf(stderr, "cuseg-bench: --weights needs exactly one --model\n");
        return -1;
    }
    if (o->check && o->images) return -1;
    if (o->quick) o->warmup = 1, o->iters = 1, o->min_time = 0, o->no_peak = 1, o->passes = 1;
    return 0;
}

static double percentile(const double *sorted, int n, double q) {
    double pos = q * (n - 1);
    int i = (int)pos;
    return i + 1 < n ? sorted[i] + (pos - i) * (sorted[i + 1] - sorted[i]) : sorted[n - 1];
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* ------------------------------------------------------------ memory */

/* Peak resident memory of a stretch of the run: Linux resets the high-water
 * mark (VmHWM) when "5" is written to /proc/self/clear_refs; where that is
 * not possible, getrusage's lifetime peak is reported instead (then a row's
 * figure includes every earlier row). */
static void host_peak_reset(void) {
    FILE *f = fopen("/proc/self/clear_refs", "w");
    if (f) {
        fputs("5", f);
        fclose(f);
    }
}

static long host_peak_kb(void) {
    long kb = -1;
    FILE *f = fopen("/proc/self/status", "r");
    if (f) {
        char line[256];
        while (fgets(line, sizeof line, f))
            if (!strncmp(line, "VmHWM:", 6)) kb = atol(line + 6);
        fclose(f);
    }
    if (kb < 0) {
        struct rusage ru;
        getrusage(RUSAGE_SELF, &ru);
        kb = ru.ru_maxrss;
    }
    return kb;
}

/* Bytes in use on CUDA device `dev` (all processes, context included), or -1.
 * The difference to a reading taken before the context was created is what
 * this process's sessions hold: weights, the arena, cuDNN/cuBLAS workspaces. */
static long long device_used_bytes(const char *device) {
#ifdef CUSEG_WITH_CUDA
    if (strncmp(device, "cuda", 4) != 0) return -1;
    const int dev = device[4] == ':' ? atoi(device + 5) : 0;
    size_t free_b = 0, total_b = 0;
    if (cudaSetDevice(dev) != cudaSuccess || cudaMemGetInfo(&free_b, &total_b) != cudaSuccess) {
        (void)cudaGetLastError();
        return -1;
    }
    return (long long)(total_b - free_b);
#else
    (void)device;
    return -1;
#endif
}

/* ------------------------------------------------------------ model mode */

typedef struct bench_ctx {
    const options *o;
    const char *device;     /* resolved, e.g. "cpu", "cuda:0" ("auto": per session) */
    cuseg_precision precision;
    long long dev_base;     /* device_used_bytes before the context, or -1 */
    double cpu_peak_gmacs;  /* cpu_peak.c's FMA peak / 2, or -1 when not measured */
    double gpu_peak_gmacs;  /* gpu_peak.cu's GEMM peak in this precision, or -1 */
    void *stream;           /* CUDA: the context's cudaStream_t, where the events go; else NULL */
} bench_ctx;

static void print_table_header(void) {
    printf("| device | precision | model | batch | input | median ms | p95 ms | p99 ms | images/s | GMAC/s | %% of peak "
           "| device ms | resident ms | resident %% of peak | arena MB | peak RSS MB | device MB |\n");
    printf("|---|---|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
}

#ifdef CUSEG_WITH_CUDA
/* Device-resident runs of s (the plan, and the device input that the
 * host-to-host runs uploaded, stay as they are): chunks of back-to-back runs
 * with an event on the stream before the first and after each, so that a run
 * is the GPU time between two events (when the host launches more slowly
 * than the GPU computes, the wait for launches is in it, as in any eager
 * framework's event timing). One warm-up run, then at least `iters` runs and
 * `min_time` seconds. Seconds per run into t (at most max); returns the
 * number of runs, or -1 with a message on stderr. */
enum { RESIDENT_CHUNK = 8 };
static int time_resident(cuseg_session *s, cudaStream_t stream, int iters, double min_time, double *t, int max) {
    cudaEvent_t ev[RESIDENT_CHUNK + 1] = {0};
    int runs = 0, ok = 1, warm = 1, run_failed = 0;
    for (int i = 0; i <= RESIDENT_CHUNK && ok; ++i) ok = cudaEventCreate(&ev[i]) == cudaSuccess;
    double start = cpu_peak_now();
    while (ok && runs < max && (warm || runs < iters || cpu_peak_now() - start < min_time)) {
        const int chunk = warm ? 1 : (max - runs < RESIDENT_CHUNK ? max - runs : RESIDENT_CHUNK);
        ok = cudaEventRecord(ev[0], stream) == cudaSuccess;
        for (int k = 0; ok && k < chunk; ++k) {
            run_failed = cs_session_run_resident(s) != CUSEG_OK;
            ok = !run_failed && cudaEventRecord(ev[k + 1], stream) == cudaSuccess;
        }
        ok = ok && cudaStreamSynchronize(stream) == cudaSuccess;
        for (int k = 0; ok && k < chunk; ++k) {
            float ms = 0.0f;
            ok = cudaEventElapsedTime(&ms, ev[k], ev[k + 1]) == cudaSuccess;
            if (ok && !warm) t[runs++] = ms * 1e-3;
        }
        if (warm) start = cpu_peak_now();
        warm = 0;
    }
    if (!ok) {
        if (run_failed) fprintf(stderr, "cuseg-bench: device-resident run: %s\n", cuseg_last_error());
        else fprintf(stderr, "cuseg-bench: device-resident run: %s\n", cudaGetErrorString(cudaGetLastError()));
        cudaStreamSynchronize(stream);
        cudaGetLastError();
    }
    for (int i = 0; i <= RESIDENT_CHUNK; ++i)
        if (ev[i]) cudaEventDestroy(ev[i]);
    return ok ? runs : -1;
}
#endif

/* One model x batch x size row on session s. Returns 0 on success. */
static int bench_row(const bench_ctx *b, const char *spec, cuseg_session *s, const cuseg_graph *g, int n, int h,
                     int w) {
    const options *o = b->o;
    const char *device = cuseg_session_device(s); /* "auto" contexts: the session's choice */
    const int on_cuda = !strncmp(device, "cuda", 4);
    int in_c = 0;
    cuseg_graph_value_channels(g, 0, &in_c);
    const int shape[1][4] = {{n, h, w, in_c}};
    cuseg_graph_summary sum = {0, 0};
    cuseg_tensor *x = NULL;
    if (cuseg_graph_summarize(g, shape, 1, &sum) != CUSEG_OK ||
        cuseg_tensor_create(CUSEG_F32, n, h, w, in_c, &x) != CUSEG_OK) {
        fprintf(stderr, "cuseg-bench: %s %dx%dx%d: %s\n", spec, n, h, w, cuseg_last_error());
        return -1;
    }
    conv_fill_random(cuseg_tensor_data(x), (size_t)n * h * w * in_c, 1.0f, 7);
    host_peak_reset();
    int ok = 1;
    for (int i = 0; i < o->warmup && ok; ++i) ok = cuseg_session_run(s, (const cuseg_tensor *const *)&x, 1) == CUSEG_OK;
    enum { MAX_RUNS = 100000 };
    double *t = malloc(sizeof(double) * MAX_RUNS), *td = NULL, *tr = NULL;
    int runs = 0, dev_runs = 0, res_runs = 0;
#ifdef CUSEG_WITH_CUDA
    /* Events around each host-to-host run: recorded outside the host clock's
     * interval, so the latency stays exactly what a caller sees. */
    cudaStream_t stream = on_cuda ? (cudaStream_t)b->stream : NULL;
    cudaEvent_t ev[2] = {NULL, NULL};
    if (stream && (cudaEventCreate(&ev[0]) != cudaSuccess || cudaEventCreate(&ev[1]) != cudaSuccess ||
                   !(td = malloc(sizeof(double) * MAX_RUNS)) || !(tr = malloc(sizeof(double) * MAX_RUNS)))) {
        fprintf(stderr, "cuseg-bench: %s: no device timing (%s)\n", spec, cudaGetErrorString(cudaGetLastError()));
        stream = NULL;
    }
#endif
    const double start = cpu_peak_now();
    while (ok && t && runs < MAX_RUNS && (runs < o->iters || cpu_peak_now() - start < o->min_time)) {
#ifdef CUSEG_WITH_CUDA
        const int dev_ok = stream && cudaEventRecord(ev[0], stream) == cudaSuccess;
#endif
        const double t0 = cpu_peak_now();
        ok = cuseg_session_run(s, (const cuseg_tensor *const *)&x, 1) == CUSEG_OK;
        t[runs++] = cpu_peak_now() - t0;
#ifdef CUSEG_WITH_CUDA
        float ms = 0.0f;
        if (ok && dev_ok && cudaEventRecord(ev[1], stream) == cudaSuccess && cudaEventSynchronize(ev[1]) == cudaSuccess &&
            cudaEventElapsedTime(&ms, ev[0], ev[1]) == cudaSuccess)
            td[dev_runs++] = ms * 1e-3;
#endif
    }
#ifdef CUSEG_WITH_CUDA
    if (ok && t && stream) {
        res_runs = time_resident(s, stream, o->iters, o->min_time, tr, MAX_RUNS);
        if (res_runs < 0) ok = 0;
    }
    for (int i = 0; i < 2; ++i)
        if (ev[i]) cudaEventDestroy(ev[i]);
    cudaGetLastError();
#endif
    cuseg_tensor_release(x);
    if (!ok || !t) {
        fprintf(stderr, "cuseg-bench: %s: %s\n", spec, t ? cuseg_last_error() : "out of memory");
        free(t), free(td), free(tr);
        return -1;
    }
    qsort(t, (size_t)runs, sizeof *t, cmp_double);
    const double tmin = t[0], med = percentile(t, runs, 0.5), p95 = percentile(t, runs, 0.95), p99 = percentile(t, runs, 0.99);
    double dev_med = -1, res_med = -1, res_min = -1;
    if (dev_runs > 0) {
        qsort(td, (size_t)dev_runs, sizeof *td, cmp_double);
        dev_med = percentile(td, dev_runs, 0.5);
    }
    if (res_runs > 0) {
        qsort(tr, (size_t)res_runs, sizeof *tr, cmp_double);
        res_med = percentile(tr, res_runs, 0.5), res_min = tr[0];
    }
    free(t), free(td), free(tr);
    size_t arena = 0;
    cuseg_session_memory(s, &arena, NULL);
    const long rss_kb = host_peak_kb();
    const long long used = b->dev_base >= 0 ? device_used_bytes(device) : -1;
    const long long dev_bytes = used >= 0 ? used - b->dev_base : -1;
    const double gmacs = (double)sum.macs / med * 1e-9;
    const double res_gmacs = res_med > 0 ? (double)sum.macs / res_med * 1e-9 : -1;
    /* The peak of the device the row ran on, in its precision (the CPU: fp32). */
    const double peak = o->no_peak ? -1 : on_cuda ? b->gpu_peak_gmacs : b->cpu_peak_gmacs;
    const double frac = peak > 0 ? gmacs / peak : -1, res_frac = peak > 0 && res_gmacs > 0 ? res_gmacs / peak : -1;
    const char *prec = precision_names[on_cuda ? b->precision : CUSEG_PRECISION_FP32];
    if (o->json) {
        printf("{\"mode\":\"model\",\"device\":\"%s\",\"precision\":\"%s\",\"model\":\"%s\",\"batch\":%d,\"h\":%d,\"w\":%d,"
               "\"threads\":%d,\"runs\":%d,\"median_ms\":%.3f,\"min_ms\":%.3f,\"p50_ms\":%.3f,\"p95_ms\":%.3f,\"p99_ms\":%.3f,"
               "\"images_per_s\":%.3f,\"macs\":%" PRId64 ",\"gmac_per_s\":%.2f,\"peak_gmacs\":%.1f,\"peak_frac\":%.4f,"
               "\"run_device_ms\":%.3f,\"resident_ms\":%.3f,\"resident_min_ms\":%.3f,\"resident_runs\":%d,"
               "\"resident_gmac_per_s\":%.2f,\"resident_peak_frac\":%.4f,"
               "\"params\":%" PRId64 ",\"arena_bytes\":%zu,\"peak_rss_kb\":%ld,\"device_bytes\":%lld}\n",
               device, prec, spec, n, h, w, o->threads, runs, med * 1e3, tmin * 1e3, med * 1e3, p95 * 1e3, p99 * 1e3, n / med,
               sum.macs, gmacs, peak, frac, dev_med > 0 ? dev_med * 1e3 : -1, res_med > 0 ? res_med * 1e3 : -1,
               res_min > 0 ? res_min * 1e3 : -1, res_runs, res_gmacs, res_frac, sum.params, arena, rss_kb, dev_bytes);
    } else {
        char pct[16] = "-", rpct[16] = "-", dms[32] = "-", rms[32] = "-", dmb[32] = "-";
        if (frac >= 0) snprintf(pct, sizeof pct, "%.1f%%", 100 * frac);
        if (res_frac >= 0) snprintf(rpct, sizeof rpct, "%.1f%%", 100 * res_frac);
        if (dev_med > 0) snprintf(dms, sizeof dms, "%.2f", dev_med * 1e3);
        if (res_med > 0) snprintf(rms, sizeof rms, "%.2f", res_med * 1e3);
        if (dev_bytes >= 0) snprintf(dmb, sizeof dmb, "%.1f", dev_bytes / 1048576.0);
        printf("| %s | %s | %s | %d | %dx%d | %.2f | %.2f | %.2f | %.2f | %.1f | %s | %s | %s | %s | %.1f | %.1f | %s |\n",
               device, prec, spec, n, h, w, med * 1e3, p95 * 1e3, p99 * 1e3, n / med, gmacs, pct, dms, rms, rpct,
               arena / 1048576.0, rss_kb / 1024.0, dmb);
    }
    fflush(stdout);
    return 0;
}

/* ------------------------------------------------------------ check mode */

/* Runs the io file's "input" through s and compares every "output.<i>" it
 * holds with the session's outputs (the criteria of the CUDA model tests:
 * L2 relative error and max |diff| / max |ref| both within tol). Returns 0
 * when every compared output passes. */
static int check_row(const bench_ctx *b, const char *spec, cuseg_session *s, const cuseg_graph *g) {
    const options *o = b->o;
    const char *device = cuseg_session_device(s);
    const cuseg_precision p = strncmp(device, "cuda", 4) ? CUSEG_PRECISION_FP32 : b->precision;
    const double tol = o->check_tol > 0 ? o->check_tol
                       : p == CUSEG_PRECISION_FP32 ? 1e-4
                       : p == CUSEG_PRECISION_TF32 ? 1e-2
                       : p == CUSEG_PRECISION_FP16 ? 2e-2
                                                   : 5e-2;
    cs_safetensors *io = NULL;
    if (cs_safetensors_open(o->check, &io) != CUSEG_OK) {
        fprintf(stderr, "cuseg-bench: --check: %s\n", cuseg_last_error());
        return 1;
    }
    int failures = 0, in_c = 0;
    cuseg_graph_value_channels(g, 0, &in_c);
    const cs_st_tensor *in = cs_safetensors_find(io, "input");
    cuseg_tensor *x = NULL;
    if (!in || in->ndim != 4 || in->shape[3] != in_c) {
        fprintf(stderr, "cuseg-bench: --check %s: expected an \"input\" tensor N x H x W x %d\n", o->check, in_c);
        cs_safetensors_close(io);
        return 1;
    }
    const int n = (int)in->shape[0], h = (int)in->shape[1], w = (int)in->shape[2];
    if (cuseg_tensor_create(CUSEG_F32, n, h, w, in_c, &x) != CUSEG_OK ||
        cs_safetensors_read_f32(io, "input", cuseg_tensor_data(x), in->numel) != CUSEG_OK ||
        cuseg_session_run(s, (const cuseg_tensor *const *)&x, 1) != CUSEG_OK) {
        fprintf(stderr, "cuseg-bench: --check %s: %s\n", spec, cuseg_last_error());
        cuseg_tensor_release(x);
        cs_safetensors_close(io);
        return 1;
    }
    cuseg_tensor_release(x);
    int compared = 0;
    if (o->json)
        printf("{\"mode\":\"check\",\"device\":\"%s\",\"precision\":\"%s\",\"model\":\"%s\",\"input\":\"%dx%dx%dx%d\","
               "\"tol\":%g,\"outputs\":[",
               device, precision_names[p], spec, n, h, w, in_c, tol);
    for (int i = 0;; ++i) {
        char name[32];
        snprintf(name, sizeof name, "output.%d", i);
        const cs_st_tensor *ref_t = cs_safetensors_find(io, name);
        const cuseg_tensor *y = NULL;
        if (!ref_t || cuseg_session_output(s, i, &y) != CUSEG_OK) break;
        int dims[4];
        cuseg_tensor_shape(y, dims);
        const size_t count = (size_t)dims[0] * dims[1] * dims[2] * dims[3];
        if (ref_t->ndim != 4 || ref_t->shape[0] != dims[0] || ref_t->shape[1] != dims[1] ||
            ref_t->shape[2] != dims[2] || ref_t->shape[3] != dims[3]) {
            fprintf(stderr, "cuseg-bench: --check %s: %s is not N x H x W x C = %dx%dx%dx%d like the model's output\n",
                    spec, name, dims[0], dims[1], dims[2], dims[3]);
            ++failures;
            break;
        }
        float *ref = malloc(count * sizeof *ref);
        if (!ref || cuseg_tensor_dtype(y) != CUSEG_F32 ||
            cs_safetensors_read_f32(io, name, ref, count) != CUSEG_OK) {
            fprintf(stderr, "cuseg-bench: --check %s: %s: %s\n", spec, name,
                    !ref ? "out of memory"
                    : cuseg_tensor_dtype(y) != CUSEG_F32 ? "the output is not f32"
                                                       : cuseg_last_error());
            free(ref);
            ++failures;
            break;
        }
        const float *got = cuseg_tensor_data(y);
        double max_diff = 0, max_ref = 0, num = 0, den = 0;
        size_t bad = 0;
        for (size_t k = 0; k < count; ++k) {
            if (!isfinite(got[k])) ++bad;
            const double d = fabs((double)got[k] - ref[k]);
            if (d > max_diff || d != d) max_diff = d;
            if (fabs(ref[k]) > max_ref) max_ref = fabs(ref[k]);
            num += d * d, den += (double)ref[k] * ref[k];
        }
        free(ref);
        const double rel = den > 0 ? sqrt(num / den) : sqrt(num);
        const int pass = bad == 0 && rel <= tol && max_diff <= tol * max_ref;
        failures += !pass;
        if (o->json)
            printf("%s{\"name\":\"%s\",\"shape\":\"%dx%dx%dx%d\",\"max_abs_diff\":%.4g,\"max_abs_ref\":%.4g,"
                   "\"rel_l2\":%.4g,\"non_finite\":%zu,\"pass\":%s}",
                   compared ? "," : "", name, dims[0], dims[1], dims[2], dims[3], max_diff, max_ref, rel, bad,
                   pass ? "true" : "false");
        else
            printf("check %s on %s (%s), input %dx%dx%dx%d: %s %dx%dx%dx%d: max |diff| %.3g (max |ref| %.3g, "
                   "ratio %.2g), L2 relative %.3g, tolerance %g: %s\n",
                   spec, device, precision_names[p], n, h, w, in_c, name, dims[0], dims[1], dims[2], dims[3], max_diff,
                   max_ref, max_ref > 0 ? max_diff / max_ref : max_diff, rel, tol,
                   pass ? "OK" : bad ? "FAIL (non-finite values)" : "FAIL");
        ++compared;
    }
    if (o->json) printf("],\"pass\":%s}\n", failures == 0 && compared > 0 ? "true" : "false");
    if (compared == 0 && failures == 0) {
        fprintf(stderr, "cuseg-bench: --check %s: no \"output.0\" to compare\n", o->check);
        ++failures;
    }
    fflush(stdout);
    cs_safetensors_close(io);
    return failures > 0;
}

/* ------------------------------------------------------------ device loop */

#ifdef CUSEG_WITH_CUDA
/* The GEMM peak of CUDA device `dev` in precision p, measured once per run
 * (cache[dev][p]: 0 not yet, < 0 failed). 8192^3 fills an H100; a GPU with
 * too little memory for three 8192^2 fp32 matrices gets 4096. */
static double gpu_peak_cached(const options *o, double cache[][4], int dev, cuseg_precision p) {
    if (dev < 0 || dev >= MAX_LIST) return -1;
    if (cache[dev][p] != 0) return cache[dev][p];
    gpu_peak gp;
    char err[512] = "";
    int rc = -1;
    for (int n = 8192; n >= 4096 && rc != 0; n /= 2) rc = gpu_peak_measure(dev, (int)p, n, 3, 10, &gp, err, sizeof err);
    if (rc != 0) {
        fprintf(stderr, "cuseg-bench: cuda:%d: no %s peak: %s\n", dev, precision_names[p], err);
        return cache[dev][p] = -1;
    }
    if (o->json)
        printf("{\"mode\":\"peak\",\"device\":\"cuda:%d\",\"precision\":\"%s\",\"what\":\"%s\",\"n\":%d,\"best_ms\":%.4f,"
               "\"peak_gmacs\":%.1f,\"check_err\":%.2g}\n",
               dev, precision_names[p], gpu_peak_name((int)p), gp.n, gp.best_ms, gp.gmacs, gp.max_err);
    else
        printf("cuda:%d: measured %s peak %.0f GMAC/s (%.1f TFLOP/s; %d^3 in %.3f ms, best of 10)\n\n", dev,
               gpu_peak_name((int)p), gp.gmacs, 2e-3 * gp.gmacs, gp.n, gp.best_ms);
    return cache[dev][p] = gp.gmacs;
}
#endif

static int bench_models(const options *o, const cpu_peak *peak) {
    int failures = 0, header = 0;
    double gpu_peaks[MAX_LIST][4] = {{0}};
    (void)gpu_peaks;
#ifdef CUSEG_WITH_CUDA
    /* Every CUDA row's peak first, so that the measurements' lines come
     * before the table ("auto" runs on cuda:0 when there is a GPU). */
    for (int di = 0; di < o->n_devices && !o->no_peak && !o->check; ++di) {
        const char *d = o->devices[di];
        const int cuda = (!strncmp(d, "cuda", 4) || !strcmp(d, "auto")) && cuseg_cuda_device_count() > 0;
        for (int pi = 0; cuda && pi < o->n_precisions; ++pi)
            gpu_peak_cached(o, gpu_peaks, !strncmp(d, "cuda:", 5) ? atoi(d + 5) : 0, o->precisions[pi]);
    }
#endif
    for (int di = 0; di < o->n_devices; ++di)
        for (int pi = 0; pi < o->n_precisions; ++pi) {
            const int is_cpu = !strcmp(o->devices[di], "cpu");
            if (is_cpu && o->precisions[pi] != CUSEG_PRECISION_FP32) {
                fprintf(stderr, "cuseg-bench: cpu computes in fp32 only; %s skipped there\n",
                        precision_names[o->precisions[pi]]);
                continue;
            }
            bench_ctx b = {o, o->devices[di], o->precisions[pi], -1, peak->peak_nt > 0 ? peak->peak_nt / 2 : -1, -1, NULL};
            cuseg_context_options copt = {.device = o->devices[di],
                                          .cpu_threads = o->threads,
                                          .precision = o->precisions[pi],
                                          .cudnn_search = o->search};
            cuseg_context *ctx = NULL;
            if (cuseg_context_create(&copt, &ctx) != CUSEG_OK) {
                fprintf(stderr, "cuseg-bench: %s: %s\n", o->devices[di], cuseg_last_error());
                ++failures;
                continue;
            }
            char device[32];
            snprintf(device, sizeof device, "%s", cuseg_context_device(ctx));
            b.device = device;
#ifdef CUSEG_WITH_CUDA
            /* CUDA ("auto" with a GPU runs on cuda:0): the peak first (its
             * buffers are freed before the device memory baseline), then the
             * context again, on a stream of ours (the flags the backend uses
             * for its own), so that events can be recorded where the sessions
             * enqueue their work. */
            cudaStream_t stream = NULL;
            if (!strncmp(device, "cuda", 4) || !strcmp(device, "auto")) {
                const int dev = !strncmp(device, "cuda:", 5) ? atoi(device + 5) : 0;
                cuseg_context_release(ctx);
                ctx = NULL;
                if (!o->no_peak && !o->check) b.gpu_peak_gmacs = gpu_peak_cached(o, gpu_peaks, dev, o->precisions[pi]);
                b.dev_base = device_used_bytes(!strcmp(device, "auto") ? "cuda:0" : device);
                if (cudaSetDevice(dev) != cudaSuccess || cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking) != cudaSuccess) {
                    fprintf(stderr, "cuseg-bench: %s: cannot create a stream: %s\n", device,
                            cudaGetErrorString(cudaGetLastError()));
                    ++failures;
                    continue;
                }
                copt.cuda_stream = stream;
                b.stream = stream;
                if (cuseg_context_create(&copt, &ctx) != CUSEG_OK) {
                    fprintf(stderr, "cuseg-bench: %s: %s\n", device, cuseg_last_error());
                    cudaStreamDestroy(stream);
                    ++failures;
                    continue;
                }
            }
#endif
            if (!o->json && !o->check && !header++) print_table_header();
            char models[sizeof o->models];
            memcpy(models, o->models, sizeof models);
            char *save = NULL;
            for (char *spec = strtok_r(models, ",", &save); spec; spec = strtok_r(NULL, ",", &save)) {
                cuseg_model *model = NULL;
                cuseg_session *s = NULL;
                if (bench_build_model(spec, o->weights, &model) != CUSEG_OK || cuseg_session_create(model, ctx, &s) != CUSEG_OK) {
                    fprintf(stderr, "cuseg-bench: %s: %s\n", spec, cuseg_last_error());
                    ++failures;
                    cuseg_model_release(model);
                    continue;
                }
                if (o->save_dir && di == 0 && pi == 0) {
                    char path[4096];
                    snprintf(path, sizeof path, "%s/%s.safetensors", o->save_dir, spec);
                    for (char *p = path + strlen(o->save_dir) + 1; *p; ++p)
                        if (*p == ':' || *p == ';' || *p == '=' || *p == '/') *p = '_';
                    if (cuseg_model_save(model, path) != CUSEG_OK) fprintf(stderr, "cuseg-bench: %s\n", cuseg_last_error());
                }
                const cuseg_graph *g = cuseg_model_graph(model);
                if (o->check) failures += check_row(&b, spec, s, g);
                else
                    for (int bi = 0; bi < o->n_batches; ++bi)
                        for (int si = 0; si < o->n_sizes; ++si) {
                            const int h = o->quick ? 64 : o->sizes[si][0], w = o->quick ? 64 : o->sizes[si][1];
                            if (bench_row(&b, spec, s, g, o->batches[bi], h, w)) ++failures;
                        }
                cuseg_session_release(s);
                cuseg_model_release(model);
            }
            cuseg_context_release(ctx);
#ifdef CUSEG_WITH_CUDA
            if (stream) cudaStreamDestroy(stream);
#endif
        }
    return failures;
}

/* ------------------------------------------------------------ image mode */

enum { ST_DECODE, ST_PREPROCESS, ST_RUN, ST_ENCODE, N_STAGES };
static const char *const stage_names[N_STAGES] = {"decode", "preprocess", "run", "argmax+encode"};
static const char *const stage_notes[N_STAGES] = {
    "cs_image_read (libpng/libjpeg) to 8-bit HWC",
    "cs_preprocess_image into the float NHWC batch tensor",
    "cuseg_session_run: host->device, compute, device->host (CPU: compute)",
    "argmax over classes + cs_png_write of the class map"};

static int is_image_name(const char *name) {
    const char *dot = strrchr(name, '.');
    if (!dot) return 0;
    return !strcasecmp(dot, ".png") || !strcasecmp(dot, ".jpg") || !strcasecmp(dot, ".jpeg");
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Sorted file names of DIR's images (not recursive). */
static int list_images(const char *dir, char ***out, int *n_out) {
    DIR *d = opendir(dir);
    if (!d) return -1;
    char **names = NULL;
    int n = 0, cap = 0;
    for (struct dirent *e; (e = readdir(d));) {
        if (!is_image_name(e->d_name)) continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 64;
            char **grown = realloc(names, sizeof *names * (size_t)cap);
            if (!grown) break;
            names = grown;
        }
        if ((names[n] = strdup(e->d_name))) ++n;
    }
    closedir(d);
    qsort(names, (size_t)n, sizeof *names, cmp_str);
    *out = names, *n_out = n;
    return 0;
}

typedef struct e2e_stats {
    double t[N_STAGES];
    int images, failures, batches, shape_changes;
    long long pixels;
} e2e_stats;

/* Argmax (C > 1) or logit > 0 (C == 1) of output 0 into 8/16-bit class maps,
 * one PNG per image of the batch. */
static int encode_batch(const cuseg_tensor *y, char names[][512], int n, const char *tmp, int pass) {
    int dims[4];
    cuseg_tensor_shape(y, dims);
    const int H = dims[1], W = dims[2], C = dims[3];
    const int bits = C > 256 ? 16 : 8;
    const float *p = cuseg_tensor_data(y);
    void *map = malloc((size_t)H * W * (bits / 8));
    if (!map) return -1;
    int failures = 0;
    for (int i = 0; i < n; ++i) {
        const float *img = p + (size_t)i * H * W * C;
        for (size_t k = 0; k < (size_t)H * W; ++k) {
            const float *v = img + k * C;
            int best = 0;
            if (C == 1) best = v[0] > 0.0f;
            else
                for (int c = 1; c < C; ++c)
                    if (v[c] > v[best]) best = c;
            if (bits == 16) ((uint16_t *)map)[k] = (uint16_t)best;
            else ((uint8_t *)map)[k] = (uint8_t)best;
        }
        char path[4096];
        if (snprintf(path, sizeof path, "%s/%d_%s.png", tmp, pass, names[i]) >= (int)sizeof path ||
            cs_png_write(path, map, H, W, 1, bits, NULL) != CUSEG_OK) {
            fprintf(stderr, "cuseg-bench: %s\n", cuseg_last_error());
            ++failures;
        }
        unlink(path); /* only the encode is measured; keep the temp dir small */
    }
    free(map);
    return failures;
}

static int bench_images_ctx(const options *o, cuseg_context *ctx, const char *spec, cuseg_precision prec,
                            char **files, int n_files, const char *tmp) {
    cuseg_model *model = NULL;
    cuseg_session *s = NULL;
    if (bench_build_model(spec, o->weights, &model) != CUSEG_OK || cuseg_session_create(model, ctx, &s) != CUSEG_OK) {
        fprintf(stderr, "cuseg-bench: %s: %s\n", spec, cuseg_last_error());
        cuseg_model_release(model);
        return 1;
    }
    const char *device = cuseg_session_device(s);
    const long long dev_base = device_used_bytes(device);
    const cuseg_graph *g = cuseg_model_graph(model);
    int in_c = 3;
    cuseg_graph_value_channels(g, 0, &in_c);
    cs_preprocess pre;
    if (cs_preprocess_from_graph(g, &pre) != CUSEG_OK || (in_c != 1 && in_c != 3)) {
        fprintf(stderr, "cuseg-bench: %s: %s\n", spec, in_c != 1 && in_c != 3 ? "image mode needs 1 or 3 input channels"
                                                                         : cuseg_last_error());
        cuseg_session_release(s);
        cuseg_model_release(model);
        return 1;
    }
    const int bmax = o->batches[0] < 64 ? o->batches[0] : 64;
    const int n_use = o->limit > 0 && o->limit < n_files ? o->limit : n_files;
    host_peak_reset();
    e2e_stats st = {0};
    double wall = 0;
    for (int pass = 0; pass < o->passes; ++pass) {
        /* The first of several passes is a warm-up (plans, allocations, page cache). */
        const int timed = o->passes == 1 || pass > 0;
        e2e_stats ps = {0};
        const double pass_start = cpu_peak_now();
        cs_image imgs[64] = {{0}};
        char names[64][512];
        int n_batch = 0, prev_h = 0, prev_w = 0;
        for (int f = 0; f <= n_use; ++f) {
            cs_image img = {0};
            int have = 0;
            if (f < n_use) {
                char path[4096];
                if (snprintf(path, sizeof path, "%s/%s", o->images, files[f]) >= (int)sizeof path) continue;
                const double t0 = cpu_peak_now();
                const cuseg_status rs = cs_image_read(path, in_c == 1 ? CS_IMAGE_GRAY : CS_IMAGE_RGB, &img);
                ps.t[ST_DECODE] += cpu_peak_now() - t0;
                if (rs != CUSEG_OK) {
                    if (timed) fprintf(stderr, "cuseg-bench: skipped: %s\n", cuseg_last_error());
                    ++ps.failures;
                    continue;
                }
                have = 1;
            }
            /* Flush the batch at the end, when full, or when the size changes. */
            if (n_batch > 0 && (!have || n_batch == bmax || img.h != imgs[0].h || img.w != imgs[0].w)) {
                const int h = imgs[0].h, w = imgs[0].w;
                cuseg_tensor *x = NULL;
                double t0 = cpu_peak_now();
                int ok = cuseg_tensor_create(CUSEG_F32, n_batch, h, w, in_c, &x) == CUSEG_OK;
                for (int i = 0; ok && i < n_batch; ++i)
                    cs_preprocess_image(&pre, imgs[i].data, h, w, in_c,
                                        (float *)cuseg_tensor_data(x) + (size_t)i * h * w * in_c);
                ps.t[ST_PREPROCESS] += cpu_peak_now() - t0;
                if (h != prev_h || w != prev_w) ++ps.shape_changes;
                prev_h = h, prev_w = w;
                t0 = cpu_peak_now();
                ok = ok && cuseg_session_run(s, (const cuseg_tensor *const *)&x, 1) == CUSEG_OK;
                ps.t[ST_RUN] += cpu_peak_now() - t0;
                const cuseg_tensor *y = NULL;
                if (ok && cuseg_session_output(s, 0, &y) == CUSEG_OK) {
                    t0 = cpu_peak_now();
                    ps.failures += encode_batch(y, names, n_batch, tmp, pass);
                    ps.t[ST_ENCODE] += cpu_peak_now() - t0;
                    ps.images += n_batch;
                    ps.pixels += (long long)n_batch * h * w;
                    ++ps.batches;
                } else {
                    fprintf(stderr, "cuseg-bench: %s %dx%d: %s\n", spec, h, w, cuseg_last_error());
                    ps.failures += n_batch;
                }
                cuseg_tensor_release(x);
                for (int i = 0; i < n_batch; ++i) cs_image_free(&imgs[i]);
                n_batch = 0;
            }
            if (have) {
                imgs[n_batch] = img;
                snprintf(names[n_batch], sizeof names[n_batch], "%s", files[f]);
                ++n_batch;
            }
        }
        if (timed) {
            wall += cpu_peak_now() - pass_start;
            for (int k = 0; k < N_STAGES; ++k) st.t[k] += ps.t[k];
            st.images += ps.images, st.failures += ps.failures, st.batches += ps.batches;
            st.shape_changes += ps.shape_changes, st.pixels += ps.pixels;
        }
    }
    size_t arena = 0;
    cuseg_session_memory(s, &arena, NULL);
    const long rss_kb = host_peak_kb();
    const long long used = dev_base >= 0 ? device_used_bytes(device) : -1;
    const long long dev_bytes = used >= 0 ? used - dev_base : -1;
    const int timed_passes = o->passes == 1 ? 1 : o->passes - 1;
    double total = 0;
    for (int k = 0; k < N_STAGES; ++k) total += st.t[k];
    const int n_img = st.images > 0 ? st.images : 1;
    if (o->json) {
        printf("{\"mode\":\"images\",\"device\":\"%s\",\"precision\":\"%s\",\"model\":\"%s\",\"dir\":\"%s\","
               "\"files\":%d,\"timed_passes\":%d,\"images\":%d,\"failures\":%d,\"batch\":%d,\"batches\":%d,"
               "\"plans\":%d,\"mean_pixels\":%.0f,\"threads\":%d",
               device, precision_names[prec], spec, o->images, n_use, timed_passes, st.images, st.failures, bmax,
               st.batches, st.shape_changes, (double)st.pixels / n_img, o->threads);
        for (int k = 0; k < N_STAGES; ++k) printf(",\"%s_ms_per_image\":%.3f", k == ST_ENCODE ? "encode" : stage_names[k],
                                                   st.t[k] * 1e3 / n_img);
        printf(",\"total_ms_per_image\":%.3f,\"images_per_s\":%.3f,\"wall_images_per_s\":%.3f,\"arena_bytes\":%zu,"
               "\"peak_rss_kb\":%ld,\"device_bytes\":%lld}\n",
               total * 1e3 / n_img, total > 0 ? st.images / total : 0, wall > 0 ? st.images / wall : 0, arena, rss_kb,
               dev_bytes);
    } else {
        printf("%s on %s (%s), %s: %d files x %d timed pass%s, %d images (%d failed), batch <= %d, %d batches, "
               "%d plan%s (one per size change, planning time is in \"run\"), mean %.0f pixels/image, %d threads\n\n",
               spec, device, precision_names[prec], o->images, n_use, timed_passes, timed_passes == 1 ? "" : "es",
               st.images, st.failures, bmax, st.batches, st.shape_changes, st.shape_changes == 1 ? "" : "s",
               (double)st.pixels / n_img, o->threads);
        printf("| stage | ms / image | share | what |\n|---|---:|---:|---|\n");
        for (int k = 0; k < N_STAGES; ++k)
            printf("| %s | %.3f | %.1f%% | %s |\n", stage_names[k], st.t[k] * 1e3 / n_img,
                   total > 0 ? 100 * st.t[k] / total : 0, stage_notes[k]);
        printf("| total | %.3f | 100%% | %.2f images/s (%.2f with the loop's own overhead) |\n\n", total * 1e3 / n_img,
               total > 0 ? st.images / total : 0, wall > 0 ? st.images / wall : 0);
        char dmb[32] = "-";
        if (dev_bytes >= 0) snprintf(dmb, sizeof dmb, "%.1f MB", dev_bytes / 1048576.0);
        printf("arena %.1f MB (last plan), peak RSS %.1f MB, device %s\n\n", arena / 1048576.0, rss_kb / 1024.0, dmb);
    }
    fflush(stdout);
    cuseg_session_release(s);
    cuseg_model_release(model);
    return st.failures > 0 || st.images == 0;
}

static int bench_images(const options *o) {
    char **files = NULL;
    int n_files = 0;
    const int listed = list_images(o->images, &files, &n_files);
    if (listed != 0 || n_files == 0) {
        fprintf(stderr, "cuseg-bench: %s: %s\n", o->images, listed != 0 ? "cannot read directory" : "no PNG/JPEG files");
        free(files);
        return 1;
    }
    char tmp[4096];
    const char *base = getenv("TMPDIR");
    snprintf(tmp, sizeof tmp, "%s/cuseg-bench-XXXXXX", base && *base ? base : "/tmp");
    if (!mkdtemp(tmp)) {
        perror("cuseg-bench: mkdtemp");
        return 1;
    }
    int failures = 0;
    for (int di = 0; di < o->n_devices; ++di)
        for (int pi = 0; pi < o->n_precisions; ++pi) {
            if (!strcmp(o->devices[di], "cpu") && o->precisions[pi] != CUSEG_PRECISION_FP32) continue;
            cuseg_context_options copt = {.device = o->devices[di],
                                          .cpu_threads = o->threads,
                                          .precision = o->precisions[pi],
                                          .cudnn_search = o->search};
            cuseg_context *ctx = NULL;
            if (cuseg_context_create(&copt, &ctx) != CUSEG_OK) {
                fprintf(stderr, "cuseg-bench: %s: %s\n", o->devices[di], cuseg_last_error());
                ++failures;
                continue;
            }
            char models[sizeof o->models];
            memcpy(models, o->models, sizeof models);
            char *save = NULL;
            for (char *spec = strtok_r(models, ",", &save); spec; spec = strtok_r(NULL, ",", &save))
                failures += bench_images_ctx(o, ctx, spec, o->precisions[pi], files, n_files, tmp);
            cuseg_context_release(ctx);
        }
    rmdir(tmp);
    for (int i = 0; i < n_files; ++i) free(files[i]);
    free(files);
    return failures;
}

int main(int argc, char **argv) {
    options o;
    int pr = parse(argc, argv, &o);
    if (pr) return usage(pr > 0 ? stdout : stderr, pr > 0 ? 0 : 2);
    cpu_peak peak = {0};
    /* The FMA peak is the CPU's: measured only when a CPU row will use it. */
    int any_cpu = 0;
    for (int d = 0; d < o.n_devices; ++d) any_cpu |= strncmp(o.devices[d], "cuda", 4) != 0;
    if (o.images) o.no_peak = 1;
    /* CUDA rows measure their GEMM peak when a context starts (bench_models). */
    const int cpu_peak_wanted = !o.no_peak && !o.check && any_cpu;
    if (cpu_peak_wanted) cpu_peak_measure(o.threads, 0.4, 3, &peak);
    if (!o.json) {
        printf("cuseg %s, %d CPU threads", cuseg_version(), o.threads);
        if (cpu_peak_wanted) printf(", measured FMA peak %.1f GFLOP/s (%s)", peak.peak_nt, peak.peak_isa);
        printf("\n\n");
    }
    const int failures = o.images ? bench_images(&o) : bench_models(&o, &peak);
    return failures ? 1 : 0;
}
