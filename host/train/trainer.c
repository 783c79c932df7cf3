#define _GNU_SOURCE
#include "train/trainer.h"

#include "core/fs.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/status.h"
#include "graph/graph.h"
#include "io/preprocess.h"
#include "io/safetensors.h"
#include "post/metrics.h"
#include "train/autodiff.h"
#include "train/checkpoint.h"
#include "train/loader.h"
#include "train/loss.h"
#include "train/loss_scale.h"

void cs_train_defaults(cs_train_config *c) {
    memset(c, 0, sizeof *c);
    c->labels.ignore = 255;
    c->augment.ignore = 255;
    c->augment.scale_min = c->augment.scale_max = 1.0f;
    c->epochs = 10;
    c->batch = 4;
    c->threads = 0;
    c->workers = 2;
    c->prefetch = 2;
    c->optim = (cs_optim_config){CS_OPT_SGD, 0.9f, 0.0f, 0, 0.9f, 0.999f, 1e-8f, 1e-4f};
    c->schedule = (cs_schedule){CS_SCHED_POLY, 0.01f, 0, 0.9f, 0.0f, 0, 0.1f, 0, 0.001f};
    c->step_epochs = 0;
    c->w_ce = 1.0f;
    c->focal_gamma = 2.0f;
    c->focal_alpha = -1.0f;
    c->aux_weight = 0.4f;
    c->device = "cpu";
}

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static void fmt_duration(double s, char *buf, size_t n) {
    if (!(s >= 0) || s > 1e7) s = 0;
    const long t = (long)(s + 0.5);
    if (t >= 3600) snprintf(buf, n, "%ldh%02ldm", t / 3600, t / 60 % 60);
    else if (t >= 60) snprintf(buf, n, "%ldm%02lds", t / 60, t % 60);
    else snprintf(buf, n, "%lds", t);
}

/* PyTorch's default initialisation of conv layers (kaiming_uniform with
 * a = sqrt(5): U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for weight and bias);
 * batch norm keeps gamma = 1, beta = 0 as built. */
static void init_params(cuseg_graph *g, uint64_t seed) {
    for (int n = 0; n < g->n_nodes; ++n) {
        const cs_node *node = &g->nodes[n];
        if ((node->op != CS_OP_CONV2D && node->op != CS_OP_CONV_TRANSPOSE2D) || node->n_params < 1) continue;
        cs_param *w = &g->params[node->param0];
        const int fan_in = w->ndim == 4 ? w->dims[1] * w->dims[2] * w->dims[3] : 1;
        const double bound = 1.0 / sqrt((double)(fan_in > 0 ? fan_in : 1));
        for (int k = 0; k < node->n_params; ++k) {
            cs_param *p = &g->params[node->param0 + k];
            cs_rng r = cs_rng_for(seed, 0x1217u, (uint64_t)(node->param0 + k));
            for (size_t i = 0; i < p->count; ++i) p->data[i] = (float)((2.0 * cs_rng_uniform(&r) - 1.0) * bound);
        }
    }
}

static void shape_string(char *buf, size_t n, int ndim, const int64_t *dims64, const int *dims) {
    size_t len = (size_t)snprintf(buf, n, "[");
    for (int d = 0; d < ndim && len < n; ++d)
        len += (size_t)snprintf(buf + len, n - len, "%s%lld", d ? "," : "", dims64 ? (long long)dims64[d] : dims[d]);
    if (len < n) snprintf(buf + len, n - len, "]");
}

/* --init-partial: the tensors of `path` whose name and shape match are
 * loaded; every other tensor keeps the fresh initialisation. Each mismatch
 * is reported once on stderr; no match at all is an error (another
 * architecture, most likely). */
static cuseg_status load_init_partial(cuseg_graph *g, const char *path) {
    cs_safetensors *st;
    CS_CHECK(cs_safetensors_open(path, &st));
    cuseg_status s = CUSEG_OK;
    int loaded = 0;
    for (int i = 0; s == CUSEG_OK && i < g->n_params; ++i) {
        cs_param *q = &g->params[i];
        const cs_st_tensor *t = cs_safetensors_find(st, q->name);
        if (!t) {
            fprintf(stderr, "init: kept the fresh %s: %s has no such tensor\n", q->name, path);
            continue;
        }
        int same = t->ndim == q->ndim;
        for (int d = 0; same && d < q->ndim; ++d) same = t->shape[d] == q->dims[d];
        if (!same) {
            char in_file[96], in_model[96];
            shape_string(in_file, sizeof in_file, t->ndim, t->shape, NULL);
            shape_string(in_model, sizeof in_model, q->ndim, NULL, q->dims);
            fprintf(stderr, "init: skipped %s: shape %s in %s, %s in the model\n", q->name, in_file, path, in_model);
            continue;
        }
        s = cs_safetensors_read_f32(st, q->name, q->data, q->count);
        if (s != CUSEG_OK) cs_error_context(s, "%s", path);
        ++loaded;
    }
    for (int i = 0; s == CUSEG_OK && i < cs_safetensors_count(st); ++i) {
        const char *name = cs_safetensors_at(st, i)->name;
        const size_t len = strlen(name), suffix = strlen(".num_batches_tracked");
        int known = len > suffix && !strcmp(name + len - suffix, ".num_batches_tracked"); /* PyTorch's BN counter */
        for (int k = 0; !known && k < g->n_params; ++k) known = !strcmp(g->params[k].name, name);
        if (!known) fprintf(stderr, "init: ignored %s in %s: the model has no such tensor\n", name, path);
    }
    if (s == CUSEG_OK && loaded == 0)
        s = cs_error(CUSEG_ERR_INVALID_ARGUMENT, "--init %s: no tensor matches the model in name and shape", path);
    cs_safetensors_close(st);
    return s;
}

static int starts_with_any(const char *name, const char *prefixes) {
    if (!prefixes || !*prefixes) return 0;
    const char *p = prefixes;
    while (*p) {
        const char *e = strchr(p, ',');
        const size_t n = e ? (size_t)(e - p) : strlen(p);
        if (n && strncmp(name, p, n) == 0) return 1;
        if (!e) break;
        p = e + 1;
    }
    return 0;
}

typedef struct trainer {
    const cs_train_config *c;
    cuseg_graph *g;
    cs_autodiff *ad;
    cs_optimizer *opt;
    int n_train; /* optimizer tensors: every learnable parameter */
    int *trainable;
    float **params, **grads;
    size_t *counts;
    unsigned char *frozen, *no_decay;
    cs_dataset train, val;
    cs_loader *train_loader, *val_loader;
    cs_augment val_augment; /* the training resize policy without the crop */
    cs_preprocess pre;
    cs_labelme_classes labelme; /* label names of labelme JSON labels */
    cuseg_context *ctx;
    int classes, channels;
    float *dlogits[CS_MAX_OUTPUTS], *dtmp;
    cs_loss_scaler scaler; /* fp16 on CUDA: dynamic loss scaling */
    int use_scaler;
    size_t dcap[CS_MAX_OUTPUTS], dtmp_cap;
    char paths[6][4200]; /* last ckpt, best model, final model, csv, init model, epoch ckpt */
} trainer;

enum { P_LAST, P_BEST, P_FINAL, P_CSV, P_INIT, P_TMP };

static cuseg_status grow(float **buf, size_t *cap, size_t n) {
    if (n <= *cap) return CUSEG_OK;
    free(*buf);
    *cap = 0;
    CS_CHECK(cs_alloc((void **)buf, sizeof(float) * n, "loss gradient"));
    *cap = n;
    return CUSEG_OK;
}

/* Loss of one output and its gradient (scaled by `weight`) into d. */
static cuseg_status output_loss(trainer *t, const float *logits, const int32_t *target, size_t pixels,
                                float weight, double *loss, float *d) {
    const cs_train_config *c = t->c;
    const int C = t->classes;
    const size_t n = pixels * (size_t)C;
    memset(d, 0, sizeof(float) * n);
    CS_CHECK(grow(&t->dtmp, &t->dtmp_cap, n));
    *loss = 0;
    const float w[3] = {c->w_ce, c->w_dice, c->w_focal};
    for (int k = 0; k < 3; ++k) {
        if (w[k] == 0.0f) continue;
        double l = 0;
        if (k == 0)
            CS_CHECK(cs_loss_cross_entropy(logits, target, pixels, C, c->labels.ignore,
                                           c->has_class_weights ? c->class_weights : NULL, c->label_smoothing,
                                           CS_REDUCE_MEAN, &l, t->dtmp));
        else if (k == 1)
            CS_CHECK(cs_loss_dice(logits, target, pixels, C, c->labels.ignore, 0.0f, 0, &l, t->dtmp));
        else
            CS_CHECK(cs_loss_focal(logits, target, pixels, C, c->labels.ignore, c->focal_alpha, c->focal_gamma, &l,
                                   t->dtmp));
        if (!isfinite(l)) return cs_error(CUSEG_ERR_INTERNAL, "the loss is %g: lower the learning rate", l);
        *loss += w[k] * l;
        const float s = w[k] * weight;
        for (size_t i = 0; i < n; ++i) d[i] += s * t->dtmp[i];
    }
    *loss *= weight;
    return CUSEG_OK;
}

static cuseg_status train_step(trainer *t, const cs_batch *b, long step, double *loss_out, double *lr_out) {
    const cuseg_graph *g = t->g;
    const int dims[1][4] = {{b->n, b->h, b->w, b->c}};
    const float *in[1] = {b->image};
    CS_CHECK(cs_autodiff_forward(t->ad, in, dims));
    const float *douts[CS_MAX_OUTPUTS] = {NULL, NULL};
    double total = 0;
    for (int o = 0; o < g->n_outputs && o < CS_MAX_OUTPUTS; ++o) {
        if (o > 0 && t->c->aux_weight == 0.0f) continue;
        cs_shape s;
        const float *y = cs_autodiff_output(t->ad, o, &s);
        if (s.h != b->h || s.w != b->w || s.n != b->n || s.c != t->classes) {
            if (o > 0) continue; /* an auxiliary output of another size has no loss */
            return cs_error(CUSEG_ERR_SHAPE, "the model's output is %dx%dx%d for a %dx%d input: cuseg train needs "
                            "logits at the input size", s.h, s.w, s.c, b->h, b->w);
        }
        const size_t px = (size_t)b->n * b->h * b->w;
        CS_CHECK(grow(&t->dlogits[o], &t->dcap[o], px * t->classes));
        double l;
        CS_CHECK(output_loss(t, y, b->label, px, o == 0 ? 1.0f : t->c->aux_weight, &l, t->dlogits[o]));
        total += l;
        douts[o] = t->dlogits[o];
    }
    if (t->use_scaler) /* fp16: the loss gradient scaled up so that small gradients stay representable */
        for (int o = 0; o < g->n_outputs && o < CS_MAX_OUTPUTS; ++o)
            if (douts[o])
                for (size_t i = 0, n = (size_t)b->n * b->h * b->w * t->classes; i < n; ++i)
                    t->dlogits[o][i] *= t->scaler.scale;
    cs_autodiff_zero_grad(t->ad);
    CS_CHECK(cs_autodiff_backward(t->ad, douts));
    if (t->use_scaler) {
        /* Only what the optimizer changes, as GradScaler checks only the
         * gradients it steps with: a frozen tensor's fp16 weight gradient
         * (computed here, unlike PyTorch's requires_grad=False) may overflow
         * without anything trainable being wrong. */
        float **live = malloc(sizeof(float *) * (size_t)(t->n_train + 1));
        if (!live) return cs_error(CUSEG_ERR_OUT_OF_MEMORY, "loss scaler: out of memory");
        for (int i = 0; i < t->n_train; ++i) live[i] = t->frozen[i] ? NULL : t->grads[i];
        const int finite = cs_loss_scaler_unscale(&t->scaler, live, t->counts, t->n_train);
        free(live);
        cs_loss_scaler_update(&t->scaler, finite);
        if (!finite) { /* GradScaler: skip the optimizer step, the scale was backed off */
            *loss_out = total;
            *lr_out = cs_schedule_lr(&t->c->schedule, step);
            return CUSEG_OK;
        }
    }
    if (t->c->clip > 0) {
        /* only what the optimizer will change */
        float **gs = malloc(sizeof(float *) * (size_t)(t->n_train + 1));
        size_t *cs = malloc(sizeof(size_t) * (size_t)(t->n_train + 1));
        if (!gs || !cs) {
            free(gs);
            free(cs);
            return cs_error(CUSEG_ERR_OUT_OF_MEMORY, "clip: out of memory");
        }
        int m = 0;
        for (int i = 0; i < t->n_train; ++i)
            if (!t->frozen[i]) gs[m] = t->grads[i], cs[m++] = t->counts[i];
        cs_clip_grad_norm(gs, cs, m, t->c->clip);
        free(gs);
        free(cs);
    }
    const float lr = cs_schedule_lr(&t->c->schedule, step);
    CS_CHECK(cs_optimizer_step(t->opt, t->params, (const float *const *)t->grads, lr, t->frozen, t->no_decay));
    *loss_out = total;
    *lr_out = lr;
    return CUSEG_OK;
}

/* The current weights as an immutable inference model (copies). */
static cuseg_status snapshot_model(const trainer *t, cuseg_model **out) {
    cuseg_graph *g;
    CS_CHECK(cuseg_arch_build(t->c->arch, t->c->arch_opts, &g));
    cuseg_status st = CUSEG_OK;
    for (int i = 0; st == CUSEG_OK && i < g->n_params; ++i) {
        if (g->params[i].count != t->g->params[i].count) st = cs_error(CUSEG_ERR_INTERNAL, "snapshot: parameter mismatch");
        else memcpy(g->params[i].data, t->g->params[i].data, sizeof(float) * g->params[i].count);
    }
    for (int i = 0; st == CUSEG_OK && i < t->g->n_meta; ++i)
        st = cuseg_graph_set_meta(g, t->g->meta[2 * i], t->g->meta[2 * i + 1]);
    if (st != CUSEG_OK) {
        cuseg_graph_release(g);
        return st;
    }
    return cuseg_model_create(&g, out);
}

static cuseg_status validate(trainer *t, int epoch, cs_metrics *m) {
    cuseg_model *model = NULL;
    cuseg_session *sess = NULL;
    cs_confusion cm = {0};
    cuseg_tensor *x = NULL;
    int32_t *pred = NULL;
    size_t pred_cap = 0;
    CS_CHECK(snapshot_model(t, &model));
    cuseg_status st = cuseg_session_create(model, t->ctx, &sess);
    if (st == CUSEG_OK) st = cs_confusion_init(&cm, t->classes, t->c->labels.ignore);
    if (st == CUSEG_OK) st = cs_loader_start(t->val_loader, epoch);
    while (st == CUSEG_OK) {
        cs_batch b;
        if ((st = cs_loader_next(t->val_loader, &b)) != CUSEG_OK || b.n == 0) break;
        cuseg_tensor_release(x);
        x = NULL;
        if ((st = cuseg_tensor_create(CUSEG_F32, b.n, b.h, b.w, b.c, &x)) != CUSEG_OK) break;
        memcpy(cuseg_tensor_data(x), b.image, sizeof(float) * (size_t)b.n * b.h * b.w * b.c);
        const cuseg_tensor *in[1] = {x}, *y;
        if ((st = cuseg_session_run(sess, in, 1)) != CUSEG_OK || (st = cuseg_session_output(sess, 0, &y)) != CUSEG_OK)
            break;
        int d[4];
        cuseg_tensor_shape(y, d);
        if (d[1] != b.h || d[2] != b.w) {
            st = cs_error(CUSEG_ERR_SHAPE, "validation: output %dx%d for input %dx%d", d[1], d[2], b.h, b.w);
            break;
        }
        const size_t px = (size_t)b.n * b.h * b.w;
        if (px > pred_cap) {
            free(pred);
            if (!(pred = malloc(sizeof(int32_t) * px))) {
                st = cs_error(CUSEG_ERR_OUT_OF_MEMORY, "validation: out of memory");
                break;
            }
            pred_cap = px;
        }
        const float *logits = cuseg_tensor_data(y);
        for (size_t i = 0; i < px; ++i) {
            const float *l = logits + i * (size_t)d[3];
            int best = 0;
            for (int k = 1; k < d[3]; ++k)
                if (l[k] > l[best]) best = k;
            pred[i] = best;
        }
        st = cs_confusion_add(&cm, b.label, pred, px, t->val.pairs[cs_loader_item(t->val_loader, b.first)].label);
    }
    if (st == CUSEG_OK) st = cs_metrics_compute(&cm, m);
    free(pred);
    cuseg_tensor_release(x);
    cs_confusion_free(&cm);
    cuseg_session_release(sess);
    cuseg_model_release(model);
    return st;
}

static cuseg_status save_model_file(const trainer *t, const char *path) {
    cuseg_model *m;
    CS_CHECK(snapshot_model(t, &m));
    cuseg_status st = cuseg_model_save(m, path);
    cuseg_model_release(m);
    return st;
}

/* The recipe as one line, stored in checkpoints (a resume with another
 * recipe is refused, except for the number of epochs). */
static void recipe_string(const cs_train_config *c, char *buf, size_t n) {
    const cs_augment *a = &c->augment;
    snprintf(buf, n,
             "arch=%s opts=%s batch=%d seed=%llu optim=%d lr=%g mom=%g nesterov=%d wd=%g b1=%g b2=%g sched=%d "
             "power=%g min_lr=%g step_epochs=%g gamma=%g warmup=%ld/%g clip=%g nodecay=%d freeze=%s loss=%g/%g/%g "
             "aux=%g ls=%g fg=%g fa=%g resize=%d:%dx%d scale=%g-%g rot=%g flip=%d%d crop=%dx%d jitter=%g/%g/%g "
             "ignore=%d classes=%d",
             c->arch, c->arch_opts ? c->arch_opts : "", c->batch, (unsigned long long)c->seed, (int)c->optim.kind,
             c->schedule.base_lr, c->optim.momentum, c->optim.nesterov, c->optim.weight_decay, c->optim.beta1,
             c->optim.beta2, (int)c->schedule.kind, c->schedule.power, c->schedule.min_lr, c->step_epochs,
             c->schedule.gamma, c->schedule.warmup_steps, c->schedule.warmup_start, c->clip, c->no_decay_norm_bias,
             c->freeze ? c->freeze : "", c->w_ce, c->w_dice, c->w_focal, c->aux_weight, c->label_smoothing,
             c->focal_gamma, c->focal_alpha, (int)a->resize, a->resize_w, a->resize_h, a->scale_min, a->scale_max,
             a->rotate_deg, a->hflip, a->vflip, a->crop_w, a->crop_h, a->brightness, a->contrast, a->saturation,
             c->labels.ignore, c->labels.classes);
    /* only when not the default, so that older checkpoints still resume */
    if (c->bn_mode != CS_BN_TRAIN)
        snprintf(buf + strlen(buf), n - strlen(buf), " bn=%s", c->bn_mode == CS_BN_EVAL ? "eval" : "frozen");
}

static void release_trainer(trainer *t) {
    cs_loader_release(t->train_loader);
    cs_loader_release(t->val_loader);
    cs_dataset_free(&t->train);
    cs_dataset_free(&t->val);
    cs_labelme_classes_free(&t->labelme);
    cs_optimizer_release(t->opt);
    cs_autodiff_release(t->ad);
    cuseg_graph_release(t->g);
    cuseg_context_release(t->ctx);
    free(t->trainable);
    free(t->params);
    free(t->grads);
    free(t->counts);
    free(t->frozen);
    free(t->no_decay);
    for (int o = 0; o < CS_MAX_OUTPUTS; ++o) free(t->dlogits[o]);
    free(t->dtmp);
}

static int uses_labelme(const cs_dataset *d) {
    for (int i = 0; i < d->n; ++i)
        if (cs_label_is_labelme(d->pairs[i].label)) return 1;
    return 0;
}

/* labels.txt beside the data: in DATA (a directory) or the list's
 * directory, or in its parent (labelme's examples keep it beside json/). */
static int find_labels_txt(const char *data, char *path, size_t n) {
    struct stat sb;
    char dir[4096];
    if (stat(data, &sb) == 0 && S_ISDIR(sb.st_mode)) {
        snprintf(dir, sizeof dir, "%s", data);
    } else {
        const char *slash = strrchr(data, '/');
        snprintf(dir, sizeof dir, "%.*s", slash ? (int)(slash - data) : 1, slash ? data : ".");
    }
    for (int up = 0; up < 2; ++up) {
        snprintf(path, n, up ? "%s/../labels.txt" : "%s/labels.txt", dir);
        if (stat(path, &sb) == 0 && S_ISREG(sb.st_mode)) return 1;
    }
    return 0;
}

/* Label names for labelme JSON labels: --class-names, or labels.txt beside
 * the training data (labelme2voc's convention). The names (without
 * __ignore__) become the model's class_names. */
static cuseg_status setup_labelme(trainer *t, cs_train_config *c) {
    char path[4200];
    if (c->class_names) {
        CS_CHECK(cs_labelme_classes_parse(c->class_names, c->labels.ignore, &t->labelme));
        snprintf(path, sizeof path, "--class-names");
    } else if (find_labels_txt(c->train_data, path, sizeof path)) {
        CS_CHECK(cs_labelme_classes_read(path, c->labels.ignore, &t->labelme));
    } else {
        return cs_error(CUSEG_ERR_INVALID_ARGUMENT,
                        "train: %s has labelme JSON labels: name their classes with --class-names or a labels.txt "
                        "beside the data", c->train_data);
    }
    if (t->labelme.has_ignore && c->labels.ignore < 0)
        return cs_error(CUSEG_ERR_INVALID_ARGUMENT, "train: %s names __ignore__ but --ignore is -1 (none)", path);
    const int n = cs_labelme_class_count(&t->labelme);
    if (n != t->classes)
        return cs_error(CUSEG_ERR_INVALID_ARGUMENT, "train: %s names %d classes but the model has classes=%d", path, n,
                        t->classes);
    size_t len = 1;
    for (int i = t->labelme.has_ignore; i < t->labelme.n; ++i) len += strlen(t->labelme.names[i]) + 1;
    char *names = malloc(len);
    if (!names) return cs_error(CUSEG_ERR_OUT_OF_MEMORY, "train: out of memory");
    names[0] = 0;
    for (int i = t->labelme.has_ignore; i < t->labelme.n; ++i)
        strcat(strcat(names, i > t->labelme.has_ignore ? "," : ""), t->labelme.names[i]);
    const cuseg_status st = cuseg_graph_set_meta(t->g, "class_names", names);
    free(names);
    c->labels.labelme = &t->labelme;
    return st;
}

static cuseg_status setup(trainer *t, cs_train_config *c) {
    CS_CHECK_ARG(c->arch && c->train_data && c->out_dir, "train: --arch, --train and --out are required");
    CS_CHECK_ARG(c->epochs >= 1 && c->batch >= 1, "train: epochs and batch must be >= 1 (got %d, %d)", c->epochs,
                 c->batch);
    CS_CHECK(cuseg_arch_build(c->arch, c->arch_opts, &t->g));
    cuseg_graph *g = t->g;
    CS_CHECK_ARG(g->n_inputs == 1, "train: the model has %d inputs; cuseg train feeds one image", g->n_inputs);
    t->channels = g->values[g->inputs[0]].channels;
    t->classes = g->values[g->outputs[0]].channels;
    CS_CHECK_ARG(t->channels == 1 || t->channels == 3,
                 "train: the model takes %d input channels; images are read as 1 (gray) or 3 (RGB)", t->channels);
    if (c->labels.classes == 0) c->labels.classes = t->classes;
    CS_CHECK_ARG(c->labels.classes == t->classes, "train: --classes %d but the model outputs %d classes",
                 c->labels.classes, t->classes);
    if (c->labels.kind == CS_LABEL_INDEX && c->labels.n_values)
        CS_CHECK_ARG(c->labels.n_values == t->classes, "train: %d label values for %d classes", c->labels.n_values,
                     t->classes);
    if (c->labels.kind == CS_LABEL_COLOR)
        CS_CHECK_ARG(c->labels.n_colors == t->classes, "train: the palette has %d colours for %d classes",
                     c->labels.n_colors, t->classes);
    CS_CHECK_ARG(!c->has_class_weights || c->has_class_weights == t->classes,
                 "train: %d class weights for %d classes", c->has_class_weights, t->classes);
    CS_CHECK(cs_preprocess_from_graph(g, &t->pre));
    c->augment.ignore = c->labels.ignore;

    /* metadata for inference: how images were sized, classes, ignore */
    char buf[256];
    const cs_augment *a = &c->augment;
    if (a->resize == CS_RESIZE_NONE) snprintf(buf, sizeof buf, "none");
    else snprintf(buf, sizeof buf, "%s:%dx%d", a->resize == CS_RESIZE_STRETCH ? "stretch" : "letterbox", a->resize_w,
                  a->resize_h);
    CS_CHECK(cuseg_graph_set_meta(g, "resize", buf));
    snprintf(buf, sizeof buf, "%d", c->labels.ignore);
    CS_CHECK(cuseg_graph_set_meta(g, "ignore_index", buf));
    if (c->class_names) CS_CHECK(cuseg_graph_set_meta(g, "class_names", c->class_names));
    if (c->labels.kind == CS_LABEL_COLOR) {
        char pal[CS_MAX_LABEL_COLORS * 13] = "";
        for (int k = 0; k < c->labels.n_colors; ++k)
            snprintf(pal + strlen(pal), sizeof pal - strlen(pal), "%s%d,%d,%d", k ? ";" : "", c->labels.colors[k][0],
                     c->labels.colors[k][1], c->labels.colors[k][2]);
        CS_CHECK(cuseg_graph_set_meta(g, "palette", pal));
    }

    if (c->init && c->init_partial) {
        init_params(g, c->seed);
        CS_CHECK(load_init_partial(g, c->init));
    } else if (c->init) {
        const cuseg_status st = cuseg_graph_load_weights(g, c->init);
        if (st == CUSEG_ERR_SHAPE || st == CUSEG_ERR_NOT_FOUND) {
            char msg[1024];
            snprintf(msg, sizeof msg, "%s", cuseg_last_error());
            return cs_error(st, "%s (--init-partial loads only the tensors that match, e.g. for another class count)",
                            msg);
        }
        CS_CHECK(st);
    } else {
        init_params(g, c->seed);
    }

    if (c->threads <= 0) {
        const long n = sysconf(_SC_NPROCESSORS_ONLN);
        c->threads = n > 0 ? (int)n : 1;
    }
    /* --device picks where training runs too; "auto" is the first GPU when one is visible. */
    const char *device = !c->device || !strcmp(c->device, "cpu") ? "cpu"
                         : !strcmp(c->device, "auto") ? (cuseg_cuda_device_count() > 0 ? "cuda:0" : "cpu")
                                                      : c->device;
    CS_CHECK(cs_autodiff_create_on(g, device, c->threads, c->precision, &t->ad));
    t->use_scaler = c->precision == CUSEG_PRECISION_FP16;
    cs_loss_scaler_init(&t->scaler);
    cs_autodiff_set_dropout_rng(t->ad, c->seed, 0);
    int n = 0;
    for (int i = 0; i < g->n_params; ++i) n += !g->params[i].buffer;
    t->n_train = n;
    const size_t m = (size_t)n + 1;
    CS_CHECK(cs_calloc((void **)&t->trainable, sizeof(int) * m, "trainer"));
    CS_CHECK(cs_calloc((void **)&t->params, sizeof(float *) * m, "trainer"));
    CS_CHECK(cs_calloc((void **)&t->grads, sizeof(float *) * m, "trainer"));
    CS_CHECK(cs_calloc((void **)&t->counts, sizeof(size_t) * m, "trainer"));
    CS_CHECK(cs_calloc((void **)&t->frozen, m, "trainer"));
    CS_CHECK(cs_calloc((void **)&t->no_decay, m, "trainer"));
    cs_autodiff_set_bn_eval(t->ad, c->bn_mode != CS_BN_TRAIN);
    unsigned char *bn_affine = NULL; /* per graph parameter: a batch norm's gamma or beta */
    CS_CHECK(cs_calloc((void **)&bn_affine, (size_t)g->n_params + 1, "trainer"));
    for (int i = 0; i < g->n_nodes; ++i)
        if (g->nodes[i].op == CS_OP_BATCH_NORM && g->nodes[i].n_params >= 2)
            bn_affine[g->nodes[i].param0] = bn_affine[g->nodes[i].param0 + 1] = 1;
    int frozen = 0;
    for (int i = 0, k = 0; i < g->n_params; ++i) {
        if (g->params[i].buffer) continue;
        t->trainable[k] = i;
        t->params[k] = g->params[i].data;
        t->grads[k] = cs_autodiff_param_grad(t->ad, i);
        t->counts[k] = g->params[i].count;
        t->frozen[k] = (unsigned char)(starts_with_any(g->params[i].name, c->freeze) ||
                                       (c->bn_mode == CS_BN_FROZEN && bn_affine[i]));
        t->no_decay[k] = (unsigned char)(c->no_decay_norm_bias && g->params[i].ndim <= 1);
        frozen += starts_with_any(g->params[i].name, c->freeze);
        ++k;
    }
    free(bn_affine);
    if (c->freeze && *c->freeze && frozen == 0)
        return cs_error(CUSEG_ERR_INVALID_ARGUMENT, "train: --freeze '%s' matches no parameter", c->freeze);
    CS_CHECK(cs_optimizer_create(&c->optim, n, t->counts, &t->opt));

    CS_CHECK(cs_dataset_open(c->train_data, c->root, c->train_split, &t->train));
    if (c->val_data) CS_CHECK(cs_dataset_open(c->val_data, c->root, c->val_split ? c->val_split : "val", &t->val));
    if (uses_labelme(&t->train) || uses_labelme(&t->val)) CS_CHECK(setup_labelme(t, c));
    cs_loader_config lc = {&t->train, &c->labels, &c->augment, &t->pre, t->channels, c->batch,
                           c->workers > 0 ? c->workers : 1, c->prefetch > 0 ? c->prefetch : 1, c->seed, 1};
    CS_CHECK(cs_loader_create(&lc, &t->train_loader));
    if (c->val_data) {
        /* Whole images (after the resize policy): a crop would score only
         * its top-left window (lc.train = 0 makes no random draws). */
        t->val_augment = c->augment;
        t->val_augment.crop_h = t->val_augment.crop_w = 0;
        lc.data = &t->val;
        lc.augment = &t->val_augment;
        lc.train = 0;
        lc.batch = c->val_batch > 0 ? c->val_batch : (a->resize != CS_RESIZE_NONE ? c->batch : 1);
        CS_CHECK(cs_loader_create(&lc, &t->val_loader));
        cuseg_context_options co = {.device = c->device ? c->device : "cpu", .cpu_threads = c->threads};
        CS_CHECK(cuseg_context_create(&co, &t->ctx));
    }
    /* the schedule in optimizer steps */
    const long per_epoch = cs_loader_batches(t->train_loader);
    if (c->schedule.total_steps <= 0) c->schedule.total_steps = per_epoch * c->epochs - c->schedule.warmup_steps;
    if (c->schedule.total_steps <= 0) c->schedule.total_steps = 1;
    if (c->schedule.kind == CS_SCHED_STEP && c->schedule.step_size <= 0) {
        c->schedule.step_size = (long)lround((c->step_epochs > 0 ? c->step_epochs : (c->epochs + 2) / 3) * per_epoch);
        if (c->schedule.step_size < 1) c->schedule.step_size = 1;
    }

    if (cs_mkdir_p(c->out_dir) != 0) return cs_error(CUSEG_ERR_IO, "%s: cannot create the output directory", c->out_dir);
    const char *names[] = {"last.ckpt", "best.safetensors", "model.safetensors", "log.csv", "init.safetensors", ""};
    for (int k = 0; k < 5; ++k) snprintf(t->paths[k], sizeof t->paths[k], "%s/%s", c->out_dir, names[k]);
    return CUSEG_OK;
}

/* Keeps the CSV rows of epochs <= `epochs` (a resumed run rewrites the rest). */
static void trim_csv(const char *path, int epochs) {
    FILE *f = fopen(path, "r");
    if (!f) return;
    char tmp[4300];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *o = fopen(tmp, "w");
    if (!o) {
        fclose(f);
        return;
    }
    char line[4096];
    int first = 1;
    while (fgets(line, sizeof line, f)) {
        if (first || atoi(line) <= epochs) fputs(line, o);
        first = 0;
    }
    fclose(f);
    if (fclose(o) == 0) rename(tmp, path);
    else remove(tmp);
}

cuseg_status cs_train_run(const cs_train_config *config) {
    CS_CHECK_ARG(config, "cs_train_run: NULL config");
    cs_train_config c = *config;
    trainer t;
    memset(&t, 0, sizeof t);
    t.c = &c;
    cuseg_status st = setup(&t, &c);
    cs_ckpt_state state = {0, 0, c.seed, 0, -1.0, 0, t.scaler.scale, t.scaler.good_steps};
    char recipe[2048], stored[2048];
    recipe_string(&c, recipe, sizeof recipe);
    FILE *f = NULL;
    if (st == CUSEG_OK && c.resume && access(t.paths[P_LAST], F_OK) == 0) {
        st = cs_checkpoint_load(t.paths[P_LAST], t.g, t.opt, t.trainable, t.n_train, &state, stored, sizeof stored);
        if (st == CUSEG_OK && strcmp(stored, recipe) != 0)
            st = cs_error(CUSEG_ERR_INVALID_ARGUMENT,
                          "--resume: %s was written with another recipe (only --epochs may change):\n  checkpoint: "
                          "%s\n  now:        %s",
                          t.paths[P_LAST], stored, recipe);
        if (st == CUSEG_OK) {
            cs_autodiff_set_dropout_rng(t.ad, state.seed, state.dropout_draws);
            t.scaler.scale = state.loss_scale;
            t.scaler.good_steps = state.loss_scale_good_steps;
            if (!c.quiet) printf("resuming from %s after epoch %d (step %ld)\n", t.paths[P_LAST], state.epoch, state.step);
            trim_csv(t.paths[P_CSV], state.epoch);
        }
    } else if (st == CUSEG_OK) {
        if (c.resume && !c.quiet) printf("--resume: no checkpoint in %s, starting from scratch\n", c.out_dir);
        st = save_model_file(&t, t.paths[P_INIT]);
        if (st == CUSEG_OK) {
            f = fopen(t.paths[P_CSV], "w");
            if (!f) st = cs_error(CUSEG_ERR_IO, "%s: cannot write", t.paths[P_CSV]);
            else fprintf(f, "epoch,step,lr,train_loss,val_miou,val_pixel_acc,val_mean_acc,epoch_s,images_per_s\n");
        }
    }
    if (st == CUSEG_OK && !f && !(f = fopen(t.paths[P_CSV], "a")))
        st = cs_error(CUSEG_ERR_IO, "%s: cannot write", t.paths[P_CSV]);
    const int per_epoch = st == CUSEG_OK ? cs_loader_batches(t.train_loader) : 0;
    const int interactive = isatty(2) && !c.quiet;
    const double t_start = now_s();
    int epochs_run = 0;
    for (int epoch = state.epoch; st == CUSEG_OK && epoch < c.epochs; ++epoch) {
        const double t0 = now_s();
        double loss_sum = 0, lr = 0;
        long images = 0;
        st = cs_loader_start(t.train_loader, epoch);
        for (int bi = 0; st == CUSEG_OK; ++bi) {
            cs_batch b;
            if ((st = cs_loader_next(t.train_loader, &b)) != CUSEG_OK || b.n == 0) break;
            double loss = 0;
            st = train_step(&t, &b, state.step, &loss, &lr);
            if (st != CUSEG_OK) break;
            state.step++;
            loss_sum += loss * b.n;
            images += b.n;
            if (interactive) {
                const double el = now_s() - t0, ips = images / (el > 0 ? el : 1e-9);
                const double done = epochs_run + (double)(bi + 1) / per_epoch;
                const double left = (now_s() - t_start) / done * (c.epochs - state.epoch - done);
                char eta[32];
                fmt_duration(left, eta, sizeof eta);
                fprintf(stderr, "\repoch %d/%d [%d/%d] loss %.4f  %.1f img/s  ETA %s   ", epoch + 1, c.epochs, bi + 1,
                        per_epoch, loss_sum / images, ips, eta);
                fflush(stderr);
            }
        }
        if (interactive) fprintf(stderr, "\r%*s\r", 72, "");
        if (st != CUSEG_OK) break;
        const double train_s = now_s() - t0;
        ++epochs_run;
        cs_metrics m = {0};
        int have_val = 0;
        if (t.val_loader) {
            if ((st = validate(&t, epoch, &m)) != CUSEG_OK) break;
            have_val = 1;
        }
        state.epoch = epoch + 1;
        state.dropout_draws = cs_autodiff_dropout_draws(t.ad);
        state.loss_scale = t.scaler.scale;
        state.loss_scale_good_steps = t.scaler.good_steps;
        const int best = have_val && m.miou > state.best_miou;
        if (best) {
            state.best_miou = m.miou;
            state.best_epoch = epoch + 1;
            st = save_model_file(&t, t.paths[P_BEST]);
        }
        if (st == CUSEG_OK)
            st = cs_checkpoint_save(t.paths[P_LAST], t.g, t.opt, t.trainable, t.n_train, &state, recipe);
        if (st == CUSEG_OK && c.save_every > 0 && (epoch + 1) % c.save_every == 0) {
            snprintf(t.paths[P_TMP], sizeof t.paths[P_TMP], "%s/epoch_%d.ckpt", c.out_dir, epoch + 1);
            st = cs_checkpoint_save(t.paths[P_TMP], t.g, t.opt, t.trainable, t.n_train, &state, recipe);
        }
        const double ep_s = now_s() - t0;
        if (st == CUSEG_OK) {
            fprintf(f, "%d,%ld,%.6g,%.6f,%.6f,%.6f,%.6f,%.2f,%.2f\n", epoch + 1, state.step, lr, loss_sum / images,
                    have_val ? m.miou : NAN, have_val ? m.pixel_accuracy : NAN, have_val ? m.mean_accuracy : NAN, ep_s,
                    images / (train_s > 0 ? train_s : 1e-9));
            fflush(f);
        }
        if (!c.quiet) {
            char eta[32];
            fmt_duration((now_s() - t_start) / epochs_run * (c.epochs - state.epoch), eta, sizeof eta);
            printf("epoch %d/%d  loss %.4f  lr %.3g  %.1f img/s", epoch + 1, c.epochs, loss_sum / images, lr,
                   images / (train_s > 0 ? train_s : 1e-9));
            if (have_val)
                printf("  val mIoU %.4f  pixel acc %.4f  mean acc %.4f%s", m.miou, m.pixel_accuracy, m.mean_accuracy,
                       best ? " *" : "");
            printf("  %.1fs  ETA %s\n", ep_s, eta);
            fflush(stdout);
        }
        cs_metrics_free(&m);
    }
    if (st == CUSEG_OK) st = save_model_file(&t, t.paths[P_FINAL]);
    if (st == CUSEG_OK && !c.quiet) {
        printf("wrote %s", t.paths[P_FINAL]);
        if (state.best_miou >= 0) printf(" (best val mIoU %.4f at epoch %d: %s)", state.best_miou, state.best_epoch,
                                         t.paths[P_BEST]);
        printf("\n");
    }
    if (f) fclose(f);
    release_trainer(&t);
    return st;
}
