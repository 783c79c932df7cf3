/* cuseg info MODEL [--input HxW] [--batch N] and cuseg archs. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "graph/graph.h"
#include "ops/ops.h"

static int ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

cuseg_graph *cs_cli_open_graph(const char *spec) {
    cuseg_graph *g = NULL;
    if (ends_with(spec, ".safetensors")) {
        cuseg_model *m = NULL;
        if (cuseg_model_load(spec, &m) != CUSEG_OK) {
            fprintf(stderr, "cuseg: %s\n", cuseg_last_error());
            return NULL;
        }
        /* Rebuild a mutable graph with the same arch and weights. */
        const cuseg_graph *mg = cuseg_model_graph(m);
        if (cuseg_arch_build(cuseg_graph_meta(mg, "arch"), cuseg_graph_meta(mg, "options"), &g) ==
            CUSEG_OK)
            for (int i = 0; i < mg->n_params; ++i)
                cuseg_graph_set_param(g, mg->params[i].name, mg->params[i].data, mg->params[i].count);
        cuseg_model_release(m);
        return g;
    }
    char arch[128];
    const char *colon = strchr(spec, ':');
    size_t n = colon ? (size_t)(colon - spec) : strlen(spec);
    if (n >= sizeof arch) n = sizeof arch - 1;
    memcpy(arch, spec, n);
    arch[n] = '\0';
    if (cuseg_arch_build(arch, colon ? colon + 1 : NULL, &g) != CUSEG_OK) {
        fprintf(stderr, "cuseg: %s\n", cuseg_last_error());
        return NULL;
    }
    return g;
}

static int info_usage(FILE *f, int code) {
    fprintf(f, "usage: cuseg info MODEL [--input HxW] [--batch N]\n"
               "  MODEL   a model file (.safetensors) or ARCH[:key=value,...], e.g.\n"
               "          unet_bn:upsampling=bilinear (see cuseg archs)\n"
               "  --input spatial input size (default 512x512)\n"
               "  --batch batch size (default 1)\n"
               "Prints every layer with its output shape, parameters and MACs\n"
               "(multiply-accumulates of convolutions, as torchvision counts them).\n");
    return code;
}

int cs_cli_info(int argc, char **argv) {
    const char *spec = NULL;
    int h = 512, w = 512, batch = 1;
    for (int i = 1; i < argc; ++i) {
        if (strcmp(argv[i], "--help") == 0) return info_usage(stdout, 0);
        if (strcmp(argv[i], "--input") == 0 && i + 1 < argc) {
            if (sscanf(argv[++i], "%dx%d", &h, &w) != 2 || h <= 0 || w <= 0) {
                fprintf(stderr, "cuseg info: --input expects HxW, got '%s'\n", argv[i]);
                return 2;
            }
        } else if (strcmp(argv[i], "--batch") == 0 && i + 1 < argc) {
            batch = atoi(argv[++i]);
            if (batch <= 0) {
                fprintf(stderr, "cuseg info: --batch expects a positive integer\n");
                return 2;
            }
        } else if (argv[i][0] == '-' || spec) {
            return info_usage(stderr, 2);
        } else {
            spec = argv[i];
        }
    }
    if (!spec) return info_usage(stderr, 2);
    cuseg_graph *g = cs_cli_open_graph(spec);
    if (!g) return 1;
    int (*shapes)[4] = calloc((size_t)g->n_inputs + 1, sizeof *shapes);
    cs_shape *shape = calloc((size_t)g->n_values + 1, sizeof *shape);
    int rc = 0;
    for (int i = 0; shapes && i < g->n_inputs; ++i) {
        shapes[i][0] = batch, shapes[i][1] = h, shapes[i][2] = w;
        shapes[i][3] = g->values[g->inputs[i]].channels;
    }
    if (!shapes || !shape || cs_plan_infer_shapes(g, (const int(*)[4])shapes, shape) != CUSEG_OK) {
        fprintf(stderr, "cuseg info: %s\n", shapes && shape ? cuseg_last_error() : "out of memory");
        rc = 1;
    } else {
        const char *arch = cuseg_graph_meta(g, "arch"), *opts = cuseg_graph_meta(g, "options");
        printf("model: %s%s%s   input: %dx%dx%dx%d (NHWC)\n\n", arch ? arch : "graph",
               opts && opts[0] ? ":" : "", opts ? opts : "", batch, h, w,
               g->values[g->inputs[0]].channels);
        printf("%-44s %-18s %-22s %12s %16s\n", "layer", "op", "output (NHWC)", "params", "MACs");
        int64_t total_params = 0, total_macs = 0;
        for (int k = 0; k < g->n_nodes; ++k) {
            const cs_node *nd = &g->nodes[k];
            int64_t params = 0, macs = 0;
            for (int i = 0; i < nd->n_params; ++i) {
                const cs_param *q = cs_node_param(g, nd, i);
                if (!q->buffer) params += (int64_t)q->count;
            }
            if (nd->n_inputs) macs = cs_node_macs(nd, &shape[nd->inputs[0]], &shape[nd->outputs[0]]);
            total_params += params;
            total_macs += macs;
            char s[CS_SHAPE_STR_SIZE];
            printf("%-44s %-18s %-22s %12" PRId64 " %16" PRId64 "\n", nd->name, cs_op(nd->op)->name,
                   cs_shape_str(&shape[nd->outputs[0]], s, sizeof s), params, macs);
        }
        printf("\ntotal: %" PRId64 " parameters, %" PRId64 " MACs (%.2f GMACs)\n", total_params,
               total_macs, (double)total_macs * 1e-9);
    }
    free(shapes);
    free(shape);
    cuseg_graph_release(g);
    return rc;
}

int cs_cli_archs(int argc, char **argv) {
    (void)argv;
    if (argc > 1) {
        fprintf(stdout, "usage: cuseg archs\nLists the architectures cuseg can build.\n");
        return 0;
    }
    for (int i = 0; i < cuseg_arch_count(); ++i)
        printf("%-22s %s\n", cuseg_arch_name(i), cuseg_arch_description(i));
    return 0;
}
