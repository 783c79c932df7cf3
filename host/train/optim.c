#include "train/optim.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/status.h"

struct cs_optimizer {
    cs_optim_config c;
    int n;
    size_t *counts;
    float **state[2]; /* per tensor: momentum / exp_avg, and exp_avg_sq */
    long steps;
};

cuseg_status cs_optimizer_create(const cs_optim_config *config, int n_tensors, const size_t *counts,
                                 cs_optimizer **out) {
    CS_CHECK_ARG(config && out && n_tensors >= 0 && (n_tensors == 0 || counts),
                 "cs_optimizer_create: bad argument");
    const cs_optim_config *c = config;
    CS_CHECK_ARG(c->kind == CS_OPT_SGD || c->kind == CS_OPT_ADAM || c->kind == CS_OPT_ADAMW,
                 "optimizer: unknown kind %d", (int)c->kind);
    CS_CHECK_ARG(c->momentum >= 0 && c->weight_decay >= 0 && c->dampening >= 0,
                 "optimizer: momentum, dampening and weight decay must be >= 0");
    CS_CHECK_ARG(!c->nesterov || (c->momentum > 0 && c->dampening == 0),
                 "optimizer: Nesterov momentum requires a momentum and zero dampening");
    CS_CHECK_ARG(c->kind == CS_OPT_SGD ||
                     (c->beta1 >= 0 && c->beta1 < 1 && c->beta2 >= 0 && c->beta2 < 1 && c->eps > 0),
                 "optimizer: Adam needs 0 <= beta1, beta2 < 1 and eps > 0");
    cs_optimizer *o;
    CS_CHECK(cs_calloc((void **)&o, sizeof *o, "optimizer"));
    o->c = *c;
    o->n = n_tensors;
    cuseg_status st =
        cs_alloc((void **)&o->counts, sizeof(size_t) * (size_t)(n_tensors + 1), "optimizer");
    for (int k = 0; k < 2 && st == CUSEG_OK; ++k)
        st = cs_calloc((void **)&o->state[k], sizeof(float *) * (size_t)(n_tensors + 1),
                       "optimizer");
    if (st == CUSEG_OK)
        memcpy(o->counts, counts, sizeof(size_t) * (size_t)n_tensors);
    if (st != CUSEG_OK) {
        cs_optimizer_release(o);
        return st;
    }
    *out = o;
    return CUSEG_OK;
}

void cs_optimizer_release(cs_optimizer *o) {
    if (!o)
        return;
    for (int k = 0; k < 2; ++k) {
        for (int i = 0; o->state[k] && i < o->n; ++i)
            free(o->state[k][i]);
        free(o->state[k]);
    }
    free(o->counts);
    free(o);
}

long cs_optimizer_steps(const cs_optimizer *o) { return o ? o->steps : 0; }
void cs_optimizer_set_steps(cs_optimizer *o, long steps) { o->steps = steps; }

float *cs_optimizer_state(cs_optimizer *o, int tensor, int which) {
    if (!o || tensor < 0 || tensor >= o->n || which < 0 || which > 1)
        return NULL;
    return o->state[which][tensor];
}

cuseg_status cs_optimizer_restore_state(cs_optimizer *o, int tensor, int which, const float *data) {
    CS_CHECK_ARG(o && data && tensor >= 0 && tensor < o->n && which >= 0 && which <= 1,
                 "cs_optimizer_restore_state: bad argument");
    if (!o->state[which][tensor])
        CS_CHECK(cs_alloc((void **)&o->state[which][tensor], sizeof(float) * o->counts[tensor],
                          "optimizer state"));
    memcpy(o->state[which][tensor], data, sizeof(float) * o->counts[tensor]);
    return CUSEG_OK;
}

/* Allocates a zeroed state buffer on first use (as PyTorch does lazily). */
static cuseg_status state(cs_optimizer *o, int which, int i, float **out, int *fresh) {
    *fresh = o->state[which][i] == NULL;
    if (*fresh)
        CS_CHECK(cs_calloc((void **)&o->state[which][i], sizeof(float) * o->counts[i],
                           "optimizer state"));
    *out = o->state[which][i];
    return CUSEG_OK;
}

cuseg_status cs_optimizer_step(cs_optimizer *o, float *const *params, const float *const *grads,
                               float lr, const unsigned char *frozen,
                               const unsigned char *no_decay) {
    CS_CHECK_ARG(o && params && grads, "cs_optimizer_step: NULL argument");
    const cs_optim_config *c = &o->c;
    o->steps++;
    const long t = o->steps;
    /* Adam's bias corrections, as torch.optim.Adam computes them. */
    const double bc1 = 1 - pow(c->beta1, (double)t), bc2 = 1 - pow(c->beta2, (double)t);
    for (int i = 0; i < o->n; ++i) {
        if ((frozen && frozen[i]) || !grads[i])
            continue;
        float *p = params[i];
        const float *g = grads[i];
        const size_t n = o->counts[i];
        const float wd = no_decay && no_decay[i] ? 0.0f : c->weight_decay;
        int fresh;
        if (c->kind == CS_OPT_SGD) {
            float *buf = NULL;
            if (c->momentum > 0)
                CS_CHECK(state(o, 0, i, &buf, &fresh));
            for (size_t k = 0; k < n; ++k) {
                float d = g[k] + wd * p[k];
                if (buf) {
                    buf[k] = fresh ? d : c->momentum * buf[k] + (1 - c->dampening) * d;
                    d = c->nesterov ? d + c->momentum * buf[k] : buf[k];
                }
                p[k] -= lr * d;
            }
        } else {
            float *m, *v;
            CS_CHECK(state(o, 0, i, &m, &fresh));
            CS_CHECK(state(o, 1, i, &v, &fresh));
            const float step_size = (float)(lr / bc1);
            const float sqrt_bc2 = (float)sqrt(bc2);
            if (c->kind == CS_OPT_ADAMW)
                for (size_t k = 0; k < n; ++k)
                    p[k] *= 1 - lr * wd; /* decoupled decay first */
            for (size_t k = 0; k < n; ++k) {
                const float d = c->kind == CS_OPT_ADAM ? g[k] + wd * p[k] : g[k];
                m[k] = c->beta1 * m[k] + (1 - c->beta1) * d;
                v[k] = c->beta2 * v[k] + (1 - c->beta2) * d * d;
                const float denom = sqrtf(v[k]) / sqrt_bc2 + c->eps;
                p[k] -= step_size * m[k] / denom;
            }
        }
    }
    return CUSEG_OK;
}

float cs_schedule_lr(const cs_schedule *s, long step) {
    double factor = 1.0;
    if (s->warmup_steps > 0 && step < s->warmup_steps) {
        /* LinearLR: start_factor -> 1 over warmup_steps. */
        return (float)(s->base_lr * (s->warmup_start + (1.0 - s->warmup_start) * (double)step /
                                                           (double)s->warmup_steps));
    }
    const long k = step - (s->warmup_steps > 0 ? s->warmup_steps : 0);
    switch (s->kind) {
    case CS_SCHED_CONSTANT:
        break;
    case CS_SCHED_POLY: /* PolynomialLR(total_iters, power) */
        factor =
            k >= s->total_steps ? 0.0 : pow(1.0 - (double)k / (double)s->total_steps, s->power);
        break;
    case CS_SCHED_COSINE: /* CosineAnnealingLR(T_max, eta_min): periodic past T_max, as torch */
        return (float)(s->min_lr + (s->base_lr - s->min_lr) *
                                       (1 + cos(M_PI * (double)k / (double)s->total_steps)) / 2);
    case CS_SCHED_STEP:
        factor = pow(s->gamma, (double)(k / s->step_size));
        break;
    }
    return (float)(s->base_lr * factor);
}

double cs_clip_grad_norm(float *const *grads, const size_t *counts, int n, double max_norm) {
    double sq = 0;
    for (int i = 0; i < n; ++i)
        for (size_t k = 0; grads[i] && k < counts[i]; ++k)
            sq += (double)grads[i][k] * grads[i][k];
    const double norm = sqrt(sq);
    const double coef = max_norm / (norm + 1e-6); /* clip_grad_norm_'s epsilon */
    if (coef < 1)
        for (int i = 0; i < n; ++i)
            for (size_t k = 0; grads[i] && k < counts[i]; ++k)
                grads[i][k] = (float)(grads[i][k] * coef);
    return norm;
}
