#include "train/loss.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/status.h"

static cuseg_status check_target(const int32_t *target, size_t pixels, int classes, int ignore,
                                 int binary) {
    const int limit = binary ? 2 : classes;
    for (size_t i = 0; i < pixels; ++i)
        if (target[i] != ignore && (target[i] < 0 || target[i] >= limit))
            return cs_error(
                CUSEG_ERR_INVALID_ARGUMENT,
                "target %d at pixel %zu is outside [0, %d) and is not the ignore value %d",
                (int)target[i], i, limit, ignore);
    return CUSEG_OK;
}

/* log-softmax of one pixel's logits into out (double), returns nothing. */
static void log_softmax(const float *z, int C, double *out) {
    double m = z[0];
    for (int c = 1; c < C; ++c)
        m = z[c] > m ? z[c] : m;
    double s = 0;
    for (int c = 0; c < C; ++c)
        s += exp(z[c] - m);
    const double lse = m + log(s);
    for (int c = 0; c < C; ++c)
        out[c] = z[c] - lse;
}

cuseg_status cs_loss_cross_entropy(const float *logits, const int32_t *target, size_t pixels,
                                   int classes, int ignore_index, const float *weights,
                                   float label_smoothing, cs_reduction reduction, double *loss,
                                   float *dlogits) {
    CS_CHECK_ARG(logits && target && loss && classes > 0, "cross_entropy: bad argument");
    CS_CHECK_ARG(label_smoothing >= 0.0f && label_smoothing <= 1.0f,
                 "cross_entropy: label_smoothing must be in [0, 1], got %g", label_smoothing);
    CS_CHECK(check_target(target, pixels, classes, ignore_index, 0));
    const int C = classes;
    const double eps = label_smoothing;
    double w_all = 0; /* sum of the class weights (the smoothing term's total weight) */
    for (int c = 0; c < C; ++c)
        w_all += weights ? weights[c] : 1.0;
    double *lp;
    CS_CHECK(cs_alloc((void **)&lp, sizeof(double) * (size_t)C, "cross_entropy"));
    /* PyTorch: nll = sum w[t] (-log p_t) / D, smooth = sum_c w_c (-log p_c) / D,
     * loss = (1 - eps) nll + eps / C * smooth, with the same divisor D. */
    double nll = 0, smooth = 0, divisor = 0;
    for (size_t i = 0; i < pixels; ++i) {
        if (target[i] == ignore_index)
            continue;
        const float *z = logits + i * (size_t)C;
        log_softmax(z, C, lp);
        const double wt = weights ? weights[target[i]] : 1.0;
        nll -= wt * lp[target[i]];
        for (int c = 0; c < C; ++c)
            smooth -= (weights ? weights[c] : 1.0) * lp[c];
        divisor += reduction == CS_REDUCE_MEAN ? wt : 1.0;
    }
    if (reduction == CS_REDUCE_SUM)
        divisor = 1.0;
    /* All pixels ignored: PyTorch's mean is 0/0 = NaN; cuseg returns 0 with
     * zero gradients so that one empty crop does not poison training. */
    const double scale = divisor > 0 ? 1.0 / divisor : 0.0;
    *loss = ((1 - eps) * nll + eps / C * smooth) * scale;
    if (dlogits) {
        for (size_t i = 0; i < pixels; ++i) {
            float *d = dlogits + i * (size_t)C;
            if (target[i] == ignore_index) {
                memset(d, 0, sizeof(float) * (size_t)C);
                continue;
            }
            const float *z = logits + i * (size_t)C;
            log_softmax(z, C, lp);
            const double wt = weights ? weights[target[i]] : 1.0;
            for (int c = 0; c < C; ++c) {
                const double p = exp(lp[c]);
                /* d(-w_t log p_t)/dz_c = w_t (p_c - [c = t]);
                 * d(-sum_k w_k log p_k)/dz_c = W p_c - w_c. */
                const double g_nll = wt * (p - (c == target[i]));
                const double g_smooth = w_all * p - (weights ? weights[c] : 1.0);
                d[c] = (float)(((1 - eps) * g_nll + eps / C * g_smooth) * scale);
            }
        }
    }
    free(lp);
    return CUSEG_OK;
}

/* log(1 + exp(-|z|)) + max(-z, 0) = -log(sigmoid(z)), stably. */
static double softplus_neg(double z) { return log1p(exp(-fabs(z))) + (z < 0 ? -z : 0); }
static double sigmoid(double z) { return z >= 0 ? 1 / (1 + exp(-z)) : exp(z) / (1 + exp(z)); }

cuseg_status cs_loss_bce_with_logits(const float *logits, const float *target, size_t pixels,
                                     int classes, const float *pos_weight, double *loss,
                                     float *dlogits) {
    CS_CHECK_ARG(logits && target && loss && classes > 0, "bce_with_logits: bad argument");
    const size_t n = pixels * (size_t)classes;
    double sum = 0;
    for (size_t i = 0; i < n; ++i) {
        const double z = logits[i], y = target[i];
        const double pw = pos_weight ? pos_weight[i % (size_t)classes] : 1.0;
        /* PyTorch: (1 - y) z + (1 + (pw - 1) y) (-log sigmoid(z)). */
        sum += (1 - y) * z + (1 + (pw - 1) * y) * softplus_neg(z);
        if (dlogits) {
            const double s = sigmoid(z);
            dlogits[i] = (float)(((1 - y) - (1 + (pw - 1) * y) * (1 - s)) / (double)n);
        }
    }
    *loss = n ? sum / (double)n : 0.0;
    return CUSEG_OK;
}

/* Probabilities (softmax over C, or sigmoid for C = 1) into p. */
static void probabilities(const float *logits, size_t pixels, int C, double *p) {
    for (size_t i = 0; i < pixels; ++i) {
        if (C == 1) {
            p[i] = sigmoid(logits[i]);
            continue;
        }
        log_softmax(logits + i * (size_t)C, C, p + i * (size_t)C);
        for (int c = 0; c < C; ++c)
            p[i * (size_t)C + c] = exp(p[i * (size_t)C + c]);
    }
}

/* dz from dp through softmax (C > 1) or sigmoid (C = 1). */
static void through_activation(const double *p, const double *dp, size_t pixels, int C, float *dz) {
    for (size_t i = 0; i < pixels; ++i) {
        const double *pi = p + i * (size_t)C, *gi = dp + i * (size_t)C;
        if (C == 1) {
            dz[i] = (float)(gi[0] * pi[0] * (1 - pi[0]));
            continue;
        }
        double dot = 0;
        for (int c = 0; c < C; ++c)
            dot += gi[c] * pi[c];
        for (int c = 0; c < C; ++c)
            dz[i * (size_t)C + c] = (float)(pi[c] * (gi[c] - dot));
    }
}

cuseg_status cs_loss_dice(const float *logits, const int32_t *target, size_t pixels, int classes,
                          int ignore_index, float smooth, int log_loss, double *loss,
                          float *dlogits) {
    CS_CHECK_ARG(logits && target && loss && classes > 0, "dice: bad argument");
    CS_CHECK(check_target(target, pixels, classes, ignore_index, classes == 1));
    const int C = classes;
    const double eps = 1e-7, s = smooth;
    double *p = NULL, *stats = NULL;
    cuseg_status st = cs_alloc((void **)&p, sizeof(double) * pixels * (size_t)C, "dice");
    if (st == CUSEG_OK)
        st = cs_calloc((void **)&stats, sizeof(double) * 3 * (size_t)C, "dice");
    if (st != CUSEG_OK) {
        free(p);
        return st;
    }
    probabilities(logits, pixels, C, p);
    /* Per class: intersection I, sum of p, sum of g, over valid pixels. */
    double *I = stats, *P = stats + C, *G = stats + 2 * C;
    for (size_t i = 0; i < pixels; ++i) {
        if (target[i] == ignore_index)
            continue;
        for (int c = 0; c < C; ++c) {
            const double g = C == 1 ? (double)target[i] : (double)(target[i] == c);
            I[c] += p[i * (size_t)C + c] * g;
            P[c] += p[i * (size_t)C + c];
            G[c] += g;
        }
    }
    /* smp: score = (I + s) / max(0.5 (P + G) + s, eps); loss_c = 1 - score
     * (or -log(max(score, eps))), zero for classes with no target pixels;
     * mean over classes. */
    double total = 0;
    double *dscore_dI = NULL;
    if (dlogits)
        st = cs_calloc((void **)&dscore_dI, sizeof(double) * 2 * (size_t)C, "dice");
    for (int c = 0; st == CUSEG_OK && c < C; ++c) {
        if (!(G[c] > 0))
            continue;
        const double num = I[c] + s, den_raw = 0.5 * (P[c] + G[c]) + s;
        const double den = den_raw > eps ? den_raw : eps;
        const double score = num / den;
        double dl_dscore;
        if (log_loss) {
            total += -log(score > eps ? score : eps);
            dl_dscore = score > eps ? -1.0 / score : 0.0;
        } else {
            total += 1 - score;
            dl_dscore = -1.0;
        }
        if (dscore_dI) {
            /* d score/d p_ic = g_ic / den - num * 0.5 / den^2 (when den is not clamped). */
            dscore_dI[c] = dl_dscore / den / C;
            dscore_dI[C + c] = den_raw > eps ? -dl_dscore * num * 0.5 / (den * den) / C : 0.0;
        }
    }
    *loss = total / C;
    if (st == CUSEG_OK && dlogits) {
        double *dp = NULL;
        st = cs_calloc((void **)&dp, sizeof(double) * pixels * (size_t)C, "dice");
        if (st == CUSEG_OK) {
            for (size_t i = 0; i < pixels; ++i) {
                if (target[i] == ignore_index)
                    continue; /* p was masked: no gradient */
                for (int c = 0; c < C; ++c) {
                    const double g = C == 1 ? (double)target[i] : (double)(target[i] == c);
                    dp[i * (size_t)C + c] = g * dscore_dI[c] + dscore_dI[C + c];
                }
            }
            through_activation(p, dp, pixels, C, dlogits);
        }
        free(dp);
    }
    free(dscore_dI);
    free(stats);
    free(p);
    return st;
}

cuseg_status cs_loss_focal(const float *logits, const int32_t *target, size_t pixels, int classes,
                           int ignore_index, float alpha, float gamma, double *loss,
                           float *dlogits) {
    CS_CHECK_ARG(logits && target && loss && classes > 0 && gamma >= 0.0f, "focal: bad argument");
    CS_CHECK(check_target(target, pixels, classes, ignore_index, classes == 1));
    const int C = classes;
    size_t valid = 0;
    for (size_t i = 0; i < pixels; ++i)
        valid += target[i] != ignore_index;
    if (dlogits)
        memset(dlogits, 0, sizeof(float) * pixels * (size_t)C);
    double total = 0;
    /* One binary focal loss per class (one-vs-rest), each the mean over the
     * valid pixels, then the mean over classes (smp FocalLoss). */
    for (int c = 0; c < C; ++c) {
        double sum = 0;
        for (size_t i = 0; i < pixels; ++i) {
            if (target[i] == ignore_index)
                continue;
            const double z = logits[i * (size_t)C + c];
            const double y = C == 1 ? (double)target[i] : (double)(target[i] == c);
            const double l = (1 - y) * z + softplus_neg(z); /* BCE with logits */
            const double pt = exp(-l), q = 1 - pt;
            const double a = alpha >= 0 ? alpha * y + (1 - alpha) * (1 - y) : 1.0;
            const double mod = pow(q, gamma);
            sum += a * mod * l;
            if (dlogits && valid) {
                const double dl = sigmoid(z) - y;
                /* d/dz [q^gamma l] = dl (q^gamma + gamma q^(gamma-1) pt l). */
                const double dmod = q > 0 && gamma > 0 ? gamma * pow(q, gamma - 1) * pt * l : 0.0;
                dlogits[i * (size_t)C + c] = (float)(a * dl * (mod + dmod) / (double)valid / C);
            }
        }
        total += valid ? sum / (double)valid : 0.0;
    }
    *loss = total / C;
    return CUSEG_OK;
}
