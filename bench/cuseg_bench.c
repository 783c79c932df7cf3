/* cuseg-bench: inference throughput, latency and memory of whole models.
 *
 *   cuseg-bench --model unet_bn,fcn8s:pad100=0 --batch 1,4 --size 512x512 --threads 2
 *
 * For every model x batch x size: warm-up, then timed runs (at least --iters
 * and at least --min-time seconds); reports median and p50/p95/p99 latency,
 * images/s, achieved GMAC/s and the fraction of the machine's measured FMA
 * peak (2 FLOP per MAC), peak resident memory and the activation arena.
 * Weights are random (the speed does not depend on them); --save-weights DIR
 * writes each model file so that bench/compare_torch.py runs PyTorch on the
 * very same weights. Output: a markdown table, or JSON lines with --json. */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "conv_layers.h" /* conv_fill_random, conv_median */
#include "cpu_peak.h"
#include "cuseg.h"

typedef struct options {
    char models[2048];
    int batches[16], n_batches;
    int sizes[16][2], n_sizes;
    int threads, iters, warmup, json, quick, no_peak, search;
    const char *device;
    cuseg_precision precision;
    double min_time;
    const char *save_dir;
} options;

static int usage(FILE *f, int code) {
    fprintf(f,
            "usage: cuseg-bench --model SPEC[,SPEC...] [--batch 1,4] [--size 512x512[,HxW...]]\n"
            "                   [--threads T] [--iters N] [--min-time S] [--warmup N]\n"
            "                   [--json] [--no-peak] [--save-weights DIR] [--quick]\n"
            "                   [--device cpu|cuda:N] [--precision fp32|tf32|bf16|fp16] [--search]\n"
            "  SPEC  ARCH[:key=value;...] (options separated by ';' or '+' here since ',' separates\n"
            "        models) or a model file *.safetensors\n"
            "  --quick  smoke test: 1 warm-up, 1 run, no peak measurement\n"
            "  --search time cuDNN's algorithms per shape when planning (CUDA)\n"
            "A run is cuseg_session_run: host input in, host output out (on a GPU the\n"
            "copies both ways are inside the time).\n");
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

static int parse(int argc, char **argv, options *o) {
    memset(o, 0, sizeof *o);
    o->batches[0] = 1, o->n_batches = 1;
    o->sizes[0][0] = o->sizes[0][1] = 512, o->n_sizes = 1;
    o->threads = 2, o->iters = 10, o->warmup = 2, o->min_time = 2.0;
    o->device = "cpu";
    for (int i = 1; i < argc; ++i) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help")) return 1;
        if (!strcmp(a, "--json")) o->json = 1;
        else if (!strcmp(a, "--quick")) o->quick = 1;
        else if (!strcmp(a, "--no-peak")) o->no_peak = 1;
        else if (!strcmp(a, "--search")) o->search = 1;
        else if (!strcmp(a, "--device") && v) o->device = v, ++i;
        else if (!strcmp(a, "--precision") && v) {
            static const char *const names[] = {"fp32", "tf32", "bf16", "fp16"};
            int k = 0;
            while (k < 4 && strcmp(v, names[k])) ++k;
            if (k == 4) return -1;
            o->precision = (cuseg_precision)k, ++i;
        }
        else if (!v) return -1;
        else if (!strcmp(a, "--model")) snprintf(o->models, sizeof o->models, "%s", v), ++i;
        else if (!strcmp(a, "--batch")) o->n_batches = parse_ints(v, o->batches, 16), ++i;
        else if (!strcmp(a, "--threads")) o->threads = atoi(v), ++i;
        else if (!strcmp(a, "--iters")) o->iters = atoi(v), ++i;
        else if (!strcmp(a, "--warmup")) o->warmup = atoi(v), ++i;
        else if (!strcmp(a, "--min-time")) o->min_time = atof(v), ++i;
        else if (!strcmp(a, "--save-weights")) o->save_dir = v, ++i;
        else if (!strcmp(a, "--size")) {
            o->n_sizes = 0;
            for (const char *p = v; p && o->n_sizes < 16; p = strchr(p, ','), p = p ? p + 1 : NULL)
                if (sscanf(p, "%dx%d", &o->sizes[o->n_sizes][0], &o->sizes[o->n_sizes][1]) == 2) ++o->n_sizes;
            ++i;
        } else return -1;
    }
    if (!o->models[0] || o->threads < 1 || o->iters < 1 || o->n_batches < 1 || o->n_sizes < 1) return -1;
    if (o->quick) o->warmup = 1, o->iters = 1, o->min_time = 0, o->no_peak = 1;
    return 0;
}

/* "arch:a=1;b=2" -> arch "arch", options "a=1,b=2". */
static cuseg_status build_model(const char *spec, cuseg_model **out) {
    size_t n = strlen(spec);
    if (n > 12 && !strcmp(spec + n - 12, ".safetensors")) return cuseg_model_load(spec, out);
    char arch[128] = "", opts[1024] = "";
    const char *colon = strchr(spec, ':');
    snprintf(arch, sizeof arch, "%.*s", (int)(colon ? (size_t)(colon - spec) : n), spec);
    if (colon) snprintf(opts, sizeof opts, "%s", colon + 1);
    for (char *p = opts; *p; ++p)
        if (*p == ';' || *p == '+') *p = ',';
    cuseg_graph *g = NULL;
    cuseg_status st = cuseg_arch_build(arch, opts, &g);
    if (st != CUSEG_OK) return st;
    /* Random weights, scaled down with fan-in so that activations stay finite. */
    for (int i = 0; i < cuseg_graph_param_count(g); ++i) {
        const char *name;
        int dims[4], nd;
        cuseg_graph_param_info(g, i, &name, dims, &nd);
        size_t count = 1;
        for (int d = 0; d < nd; ++d) count *= (size_t)dims[d];
        if (strstr(name, "running_var") || (nd == 1 && strstr(name, ".weight"))) continue; /* BN stays 1 */
        float *w = malloc(count * sizeof *w);
        if (!w) return CUSEG_ERR_OUT_OF_MEMORY;
        const double fan_in = nd == 4 ? (double)dims[1] * dims[2] * dims[3] : 1.0;
        conv_fill_random(w, count, (float)(1.0 / sqrt(fan_in)), 1000u + (unsigned)i);
        cuseg_graph_set_param(g, name, w, count);
        free(w);
    }
    return cuseg_model_create(&g, out);
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

int main(int argc, char **argv) {
    options o;
    int pr = parse(argc, argv, &o);
    if (pr) return usage(pr > 0 ? stdout : stderr, pr > 0 ? 0 : 2);
    cpu_peak peak = {0};
    /* The FMA peak is the CPU's: meaningless for a GPU run. */
    if (strcmp(o.device, "cpu") != 0) o.no_peak = 1;
    if (!o.no_peak) cpu_peak_measure(o.threads, 0.4, 3, &peak);
    cuseg_context_options copt = {.device = o.device,
                                  .cpu_threads = o.threads,
                                  .precision = o.precision,
                                  .cudnn_search = o.search};
    cuseg_context *ctx = NULL;
    if (cuseg_context_create(&copt, &ctx) != CUSEG_OK) {
        fprintf(stderr, "cuseg-bench: %s\n", cuseg_last_error());
        return 1;
    }
    if (!o.json) {
        printf("cuseg %s, device %s, %d threads", cuseg_version(), cuseg_context_device(ctx), o.threads);
        if (!o.no_peak) printf(", measured FMA peak %.1f GFLOP/s (%s)", peak.peak_nt, peak.peak_isa);
        printf("\n\n| model | batch | input | median ms | p95 ms | p99 ms | images/s | GMAC/s | %% of peak | arena MB | peak RSS MB |\n");
        printf("|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    }
    int failures = 0;
    char *save = NULL;
    for (char *spec = strtok_r(o.models, ",", &save); spec; spec = strtok_r(NULL, ",", &save)) {
        cuseg_model *model = NULL;
        cuseg_session *s = NULL;
        if (build_model(spec, &model) != CUSEG_OK || cuseg_session_create(model, ctx, &s) != CUSEG_OK) {
            fprintf(stderr, "cuseg-bench: %s: %s\n", spec, cuseg_last_error());
            ++failures;
            cuseg_model_release(model);
            continue;
        }
        if (o.save_dir) {
            char path[4096];
            snprintf(path, sizeof path, "%s/%s.safetensors", o.save_dir, spec);
            for (char *p = path + strlen(o.save_dir) + 1; *p; ++p)
                if (*p == ':' || *p == ';' || *p == '=' || *p == '/') *p = '_';
            if (cuseg_model_save(model, path) != CUSEG_OK) fprintf(stderr, "cuseg-bench: %s\n", cuseg_last_error());
        }
        const cuseg_graph *g = cuseg_model_graph(model);
        int in_c = 0;
        cuseg_graph_value_channels(g, 0, &in_c);
        for (int bi = 0; bi < o.n_batches; ++bi)
            for (int si = 0; si < o.n_sizes; ++si) {
                const int n = o.batches[bi], h = o.quick ? 64 : o.sizes[si][0], w = o.quick ? 64 : o.sizes[si][1];
                const int shape[1][4] = {{n, h, w, in_c}};
                cuseg_graph_summary sum = {0, 0};
                cuseg_tensor *x = NULL;
                if (cuseg_graph_summarize(g, shape, 1, &sum) != CUSEG_OK ||
                    cuseg_tensor_create(CUSEG_F32, n, h, w, in_c, &x) != CUSEG_OK) {
                    fprintf(stderr, "cuseg-bench: %s %dx%dx%d: %s\n", spec, n, h, w, cuseg_last_error());
                    ++failures;
                    continue;
                }
                conv_fill_random(cuseg_tensor_data(x), (size_t)n * h * w * in_c, 1.0f, 7);
                int ok = 1;
                for (int i = 0; i < o.warmup && ok; ++i) ok = cuseg_session_run(s, (const cuseg_tensor *const *)&x, 1) == CUSEG_OK;
                double *t = malloc(sizeof(double) * 100000);
                int runs = 0;
                const double start = cpu_peak_now();
                while (ok && t && runs < 100000 && (runs < o.iters || cpu_peak_now() - start < o.min_time)) {
                    const double t0 = cpu_peak_now();
                    ok = cuseg_session_run(s, (const cuseg_tensor *const *)&x, 1) == CUSEG_OK;
                    t[runs++] = cpu_peak_now() - t0;
                }
                if (!ok || !t) {
                    fprintf(stderr, "cuseg-bench: %s: %s\n", spec, cuseg_last_error());
                    ++failures;
                } else {
                    qsort(t, (size_t)runs, sizeof *t, cmp_double);
                    const double med = percentile(t, runs, 0.5);
                    size_t arena = 0;
                    cuseg_session_memory(s, &arena, NULL);
                    struct rusage ru;
                    getrusage(RUSAGE_SELF, &ru);
                    const double gmacs = (double)sum.macs / med * 1e-9;
                    const double frac = o.no_peak ? -1 : 2 * gmacs / peak.peak_nt;
                    if (o.json)
                        printf("{\"device\":\"%s\",\"precision\":%d,\"model\":\"%s\",\"batch\":%d,\"h\":%d,\"w\":%d,\"threads\":%d,\"runs\":%d,"
                               "\"median_ms\":%.3f,\"p50_ms\":%.3f,\"p95_ms\":%.3f,\"p99_ms\":%.3f,"
                               "\"images_per_s\":%.3f,\"macs\":%" PRId64 ",\"gmac_per_s\":%.2f,\"peak_frac\":%.4f,"
                               "\"params\":%" PRId64 ",\"arena_bytes\":%zu,\"peak_rss_kb\":%ld}\n",
                               cuseg_session_device(s), (int)o.precision, spec, n, h, w, o.threads, runs, med * 1e3, med * 1e3, percentile(t, runs, 0.95) * 1e3,
                               percentile(t, runs, 0.99) * 1e3, n / med, sum.macs, gmacs, frac, sum.params, arena,
                               ru.ru_maxrss);
                    else {
                        char pct[16] = "-";
                        if (!o.no_peak) snprintf(pct, sizeof pct, "%.1f%%", 100 * frac);
                        printf("| %s | %d | %dx%d | %.2f | %.2f | %.2f | %.2f | %.1f | %s | %.1f | %.1f |\n", spec, n, h,
                               w, med * 1e3, percentile(t, runs, 0.95) * 1e3, percentile(t, runs, 0.99) * 1e3, n / med,
                               gmacs, pct, arena / 1048576.0, ru.ru_maxrss / 1024.0);
                    }
                    fflush(stdout);
                }
                free(t);
                cuseg_tensor_release(x);
            }
        cuseg_session_release(s);
        cuseg_model_release(model);
    }
    cuseg_context_release(ctx);
    return failures ? 1 : 0;
}
