/* cuseg_arch_build and the list of architectures. */
#include "models/zoo.h"

#include <string.h>

#include "core/status.h"

static const cs_arch *const families[] = {cs_archs_unet,       cs_archs_fcn,        cs_archs_deeplab_v1,
                                          cs_archs_deeplab_v3, cs_archs_deeplab_jf, cs_archs_segnet};
#define N_FAMILIES (int)(sizeof families / sizeof families[0])

static const cs_arch *arch_at(int i) {
    for (int f = 0; f < N_FAMILIES; ++f)
        for (const cs_arch *a = families[f]; a->name; ++a)
            if (i-- == 0) return a;
    return NULL;
}

int cuseg_arch_count(void) {
    int n = 0;
    while (arch_at(n)) ++n;
    return n;
}

const char *cuseg_arch_name(int i) {
    const cs_arch *a = i >= 0 ? arch_at(i) : NULL;
    return a ? a->name : NULL;
}

const char *cuseg_arch_description(int i) {
    const cs_arch *a = i >= 0 ? arch_at(i) : NULL;
    return a ? a->description : NULL;
}

int cs_nn_opt_int(cs_nn *b, cs_opts *o, const char *key, int def, int lo, int hi) {
    int v = def;
    if (b->status == CUSEG_OK) b->status = cs_opts_int(o, key, def, lo, hi, &v);
    return v;
}

double cs_nn_opt_float(cs_nn *b, cs_opts *o, const char *key, double def, double lo, double hi) {
    double v = def;
    if (b->status == CUSEG_OK) b->status = cs_opts_float(o, key, def, lo, hi, &v);
    return v;
}

const char *cs_nn_opt_choice(cs_nn *b, cs_opts *o, const char *key, const char *choices,
                             const char *def) {
    const char *v = def;
    if (b->status == CUSEG_OK) b->status = cs_opts_choice(o, key, choices, def, &v);
    return v;
}

void cs_nn_preprocess_imagenet(cs_nn *b) {
    cs_nn_meta(b, "channel_order", "RGB");
    cs_nn_meta(b, "input_scale", "0.00392156862745098"); /* 1/255 */
    cs_nn_meta(b, "mean", "0.485,0.456,0.406");
    cs_nn_meta(b, "std", "0.229,0.224,0.225");
}

void cs_nn_preprocess_caffe_bgr(cs_nn *b, const char *mean) {
    cs_nn_meta(b, "channel_order", "BGR");
    cs_nn_meta(b, "input_scale", "1");
    cs_nn_meta(b, "mean", mean);
    cs_nn_meta(b, "std", "1,1,1");
}

void cs_nn_preprocess_unit(cs_nn *b) {
    cs_nn_meta(b, "channel_order", "RGB");
    cs_nn_meta(b, "input_scale", "0.00392156862745098");
    cs_nn_meta(b, "mean", "0,0,0");
    cs_nn_meta(b, "std", "1,1,1");
}

cuseg_status cuseg_arch_build(const char *arch, const char *options, cuseg_graph **out) {
    CS_CHECK_ARG(out, "cuseg_arch_build: out is NULL");
    *out = NULL;
    CS_CHECK_ARG(arch, "cuseg_arch_build: arch is NULL");
    const cs_arch *a = NULL;
    for (int i = 0; (a = arch_at(i)) && strcmp(a->name, arch) != 0; ++i) {}
    if (!a) return cs_error(CUSEG_ERR_NOT_FOUND, "unknown architecture '%s' (see `cuseg archs`)", arch);
    cs_opts o;
    CS_CHECK(cs_opts_parse(&o, options));
    cuseg_graph *g;
    CS_CHECK(cuseg_graph_create(&g));
    cs_nn b;
    cs_nn_init(&b, g);
    cs_nn_meta(&b, "arch", arch);
    cs_nn_meta(&b, "options", options ? options : "");
    a->build(&b, &o);
    cuseg_status st = cs_nn_finish(&b);
    if (st != CUSEG_OK) cs_error_context(st, "%s", arch);
    else st = cs_opts_finish(&o, arch); /* its message names the arch already */
    if (st != CUSEG_OK) {
        cuseg_graph_release(g);
        return st;
    }
    *out = g;
    return CUSEG_OK;
}
