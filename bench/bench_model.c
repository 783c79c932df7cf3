/* Models for the benchmarks: a model file, or a zoo architecture with the
 * given or random weights (bench_model.h). */
#include "bench_model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conv_layers.h"

cuseg_status bench_build_model(const char *spec, const char *weights, cuseg_model **out) {
    size_t n = strlen(spec);
    if (n > 12 && !strcmp(spec + n - 12, ".safetensors")) {
        if (weights) {
            fprintf(stderr, "cuseg-bench: --weights applies to zoo architectures, not to model file %s\n", spec);
            return CUSEG_ERR_INVALID_ARGUMENT;
        }
        return cuseg_model_load(spec, out);
    }
    char arch[128] = "", opts[1024] = "";
    const char *colon = strchr(spec, ':');
    snprintf(arch, sizeof arch, "%.*s", (int)(colon ? (size_t)(colon - spec) : n), spec);
    if (colon) snprintf(opts, sizeof opts, "%s", colon + 1);
    for (char *p = opts; *p; ++p)
        if (*p == ';' || *p == '+') *p = ',';
    cuseg_graph *g = NULL;
    cuseg_status st = cuseg_arch_build(arch, opts, &g);
    if (st != CUSEG_OK) return st;
    if (weights) {
        st = cuseg_graph_load_weights(g, weights);
        if (st != CUSEG_OK) {
            cuseg_graph_release(g);
            return st;
        }
        return cuseg_model_create(&g, out);
    }
    /* Random weights, scaled down with fan-in so that activations stay finite. */
    for (int i = 0; i < cuseg_graph_param_count(g); ++i) {
        const char *name;
        int dims[4], nd;
        cuseg_graph_param_info(g, i, &name, dims, &nd);
        size_t count = 1;
        for (int d = 0; d < nd; ++d) count *= (size_t)dims[d];
        if (strstr(name, "running_var") || (nd == 1 && strstr(name, ".weight"))) continue; /* BN stays 1 */
        float *w = malloc(count * sizeof *w);
        if (!w) {
            cuseg_graph_release(g);
            return CUSEG_ERR_OUT_OF_MEMORY;
        }
        const double fan_in = nd == 4 ? (double)dims[1] * dims[2] * dims[3] : 1.0;
        conv_fill_random(w, count, (float)(1.0 / sqrt(fan_in)), 1000u + (unsigned)i);
        cuseg_graph_set_param(g, name, w, count);
        free(w);
    }
    return cuseg_model_create(&g, out);
}
