#include "train/checkpoint.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/status.h"
#include "io/safetensors.h"
#include "train/loss_scale.h"

static char *prefixed(const char *prefix, const char *name) {
    const size_t n = strlen(prefix) + strlen(name) + 1;
    char *s = malloc(n);
    if (s) snprintf(s, n, "%s%s", prefix, name);
    return s;
}

cuseg_status cs_checkpoint_save(const char *path, const cuseg_graph *g, cs_optimizer *opt,
                                const int *trainable, int n_trainable, const cs_ckpt_state *state,
                                const char *recipe) {
    CS_CHECK_ARG(path && g && opt && state && (n_trainable == 0 || trainable), "cs_checkpoint_save: bad argument");
    const int cap = g->n_params + 2 * n_trainable;
    cs_st_tensor_in *t = NULL;
    char **names = NULL;
    cuseg_status st = cs_calloc((void **)&t, sizeof *t * (size_t)(cap + 1), "checkpoint");
    if (st == CUSEG_OK) st = cs_calloc((void **)&names, sizeof(char *) * (size_t)(cap + 1), "checkpoint");
    int n = 0;
    for (int i = 0; st == CUSEG_OK && i < g->n_params; ++i) {
        const cs_param *q = &g->params[i];
        if (!(names[n] = prefixed("model.", q->name))) st = cs_error(CUSEG_ERR_OUT_OF_MEMORY, "checkpoint");
        t[n] = (cs_st_tensor_in){names[n], CS_ST_F32, 1, {(int64_t)q->count}, q->data};
        ++n;
    }
    for (int k = 0; k < 2 && st == CUSEG_OK; ++k)
        for (int i = 0; st == CUSEG_OK && i < n_trainable; ++i) {
            const float *buf = cs_optimizer_state(opt, i, k);
            if (!buf) continue;
            const cs_param *q = &g->params[trainable[i]];
            if (!(names[n] = prefixed(k ? "optim1." : "optim0.", q->name))) st = cs_error(CUSEG_ERR_OUT_OF_MEMORY, "checkpoint");
            t[n] = (cs_st_tensor_in){names[n], CS_ST_F32, 1, {(int64_t)q->count}, buf};
            ++n;
        }
    char epoch[32], step[32], seed[32], draws[32], best[40], best_epoch[32], scale[32], good[32];
    snprintf(epoch, sizeof epoch, "%d", state->epoch);
    snprintf(step, sizeof step, "%ld", state->step);
    snprintf(seed, sizeof seed, "%" PRIu64, state->seed);
    snprintf(draws, sizeof draws, "%" PRIu64, state->dropout_draws);
    snprintf(best, sizeof best, "%.17g", state->best_miou);
    snprintf(best_epoch, sizeof best_epoch, "%d", state->best_epoch);
    snprintf(scale, sizeof scale, "%.9g", state->loss_scale); /* round-trips a float */
    snprintf(good, sizeof good, "%d", state->loss_scale_good_steps);
    const char *arch = cuseg_graph_meta(g, "arch"), *options = cuseg_graph_meta(g, "options");
    const char *kv[] = {"cuseg_checkpoint", "1", "epoch", epoch, "step", step, "seed", seed,
                        "dropout_draws", draws, "best_miou", best, "best_epoch", best_epoch,
                        "loss_scale", scale, "loss_scale_good_steps", good,
                        "recipe", recipe ? recipe : "", "arch", arch ? arch : "",
                        "options", options ? options : "", NULL};
    if (st == CUSEG_OK) st = cs_safetensors_write(path, t, n, kv);
    for (int i = 0; names && i < n; ++i) free(names[i]);
    free(names);
    free(t);
    return st;
}

static int parse_u64(const char *s, uint64_t *v) {
    char *end;
    if (!s || !*s) return 0;
    *v = strtoull(s, &end, 10);
    return *end == 0;
}

cuseg_status cs_checkpoint_load(const char *path, cuseg_graph *g, cs_optimizer *opt,
                                const int *trainable, int n_trainable, cs_ckpt_state *state,
                                char *recipe_out, size_t size) {
    CS_CHECK_ARG(path && g && opt && state, "cs_checkpoint_load: bad argument");
    cs_safetensors *sf;
    CS_CHECK(cs_safetensors_open(path, &sf));
    cuseg_status st = CUSEG_OK;
    if (!cs_safetensors_metadata(sf, "cuseg_checkpoint"))
        st = cs_error(CUSEG_ERR_FORMAT, "%s: not a cuseg training checkpoint", path);
    cs_ckpt_state s = {0};
    uint64_t epoch = 0, step = 0;
    char *end = NULL;
    if (st == CUSEG_OK) {
        const char *be = cs_safetensors_metadata(sf, "best_epoch"), *bm = cs_safetensors_metadata(sf, "best_miou");
        uint64_t best_epoch = 0;
        if (!parse_u64(cs_safetensors_metadata(sf, "epoch"), &epoch) ||
            !parse_u64(cs_safetensors_metadata(sf, "step"), &step) ||
            !parse_u64(cs_safetensors_metadata(sf, "seed"), &s.seed) ||
            !parse_u64(cs_safetensors_metadata(sf, "dropout_draws"), &s.dropout_draws) ||
            !parse_u64(be, &best_epoch) || !bm || (s.best_miou = strtod(bm, &end), *end != 0))
            st = cs_error(CUSEG_ERR_FORMAT, "%s: malformed checkpoint metadata", path);
        s.epoch = (int)epoch;
        s.step = (long)step;
        s.best_epoch = (int)best_epoch;
        /* Checkpoints from before the loss scaler existed have neither key. */
        const char *ls = cs_safetensors_metadata(sf, "loss_scale"), *lg = cs_safetensors_metadata(sf, "loss_scale_good_steps");
        cs_loss_scaler defaults;
        cs_loss_scaler_init(&defaults);
        s.loss_scale = defaults.scale;
        s.loss_scale_good_steps = 0;
        uint64_t good = 0;
        if (st == CUSEG_OK && ls && lg) {
            s.loss_scale = strtof(ls, &end);
            if (*end != 0 || !(s.loss_scale > 0.0f) || !parse_u64(lg, &good) || good > INT32_MAX)
                st = cs_error(CUSEG_ERR_FORMAT, "%s: malformed loss scaler state in the checkpoint metadata", path);
            s.loss_scale_good_steps = (int)good;
        }
    }
    /* Check every tensor before changing anything. */
    char name[1024];
    for (int i = 0; st == CUSEG_OK && i < g->n_params; ++i) {
        snprintf(name, sizeof name, "model.%s", g->params[i].name);
        const cs_st_tensor *t = cs_safetensors_find(sf, name);
        if (!t) st = cs_error(CUSEG_ERR_FORMAT, "%s: tensor '%s' is missing (a checkpoint of another model?)", path, name);
        else if (t->dtype != CS_ST_F32 || t->numel != g->params[i].count)
            st = cs_error(CUSEG_ERR_SHAPE, "%s: tensor '%s' has %" PRIu64 " elements, the model needs %zu", path, name,
                          t->numel, g->params[i].count);
    }
    for (int k = 0; k < 2 && st == CUSEG_OK; ++k)
        for (int i = 0; st == CUSEG_OK && i < n_trainable; ++i) {
            snprintf(name, sizeof name, "optim%d.%s", k, g->params[trainable[i]].name);
            const cs_st_tensor *t = cs_safetensors_find(sf, name);
            if (t && (t->dtype != CS_ST_F32 || t->numel != g->params[trainable[i]].count))
                st = cs_error(CUSEG_ERR_SHAPE, "%s: tensor '%s' has the wrong size", path, name);
        }
    for (int i = 0; st == CUSEG_OK && i < g->n_params; ++i) {
        snprintf(name, sizeof name, "model.%s", g->params[i].name);
        st = cs_safetensors_read_f32(sf, name, g->params[i].data, g->params[i].count);
    }
    for (int k = 0; k < 2 && st == CUSEG_OK; ++k)
        for (int i = 0; st == CUSEG_OK && i < n_trainable; ++i) {
            snprintf(name, sizeof name, "optim%d.%s", k, g->params[trainable[i]].name);
            const cs_st_tensor *t = cs_safetensors_find(sf, name);
            if (!t) continue;
            float *tmp = malloc(sizeof(float) * (t->numel ? t->numel : 1));
            if (!tmp) st = cs_error(CUSEG_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
            else {
                memcpy(tmp, t->data, sizeof(float) * t->numel); /* the file's data is not aligned */
                st = cs_optimizer_restore_state(opt, i, k, tmp);
                free(tmp);
            }
        }
    if (st == CUSEG_OK) {
        cs_optimizer_set_steps(opt, s.step);
        *state = s;
        if (recipe_out && size) {
            const char *r = cs_safetensors_metadata(sf, "recipe");
            snprintf(recipe_out, size, "%s", r ? r : "");
        }
    }
    cs_safetensors_close(sf);
    return st;
}
