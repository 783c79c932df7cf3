#include "train/loss_scale.h"

#include <math.h>

void cs_loss_scaler_init(cs_loss_scaler *s) {
    s->scale = 65536.0f;
    s->growth_factor = 2.0f;
    s->backoff_factor = 0.5f;
    s->growth_interval = 2000;
    s->good_steps = 0;
}

int cs_loss_scaler_unscale(const cs_loss_scaler *s, float *const *grads, const size_t *counts,
                           int n) {
    /* GradScaler multiplies by the reciprocal computed in fp32; with a power
     * of two scale that is exact either way. */
    const float inv = 1.0f / s->scale;
    int finite = 1;
    for (int k = 0; k < n; ++k) {
        float *g = grads[k];
        if (!g) continue;
        for (size_t i = 0; i < counts[k]; ++i) {
            if (!isfinite(g[i])) finite = 0;
            g[i] *= inv;
        }
    }
    return finite;
}

void cs_loss_scaler_update(cs_loss_scaler *s, int finite) {
    if (!finite) {
        s->scale *= s->backoff_factor;
        s->good_steps = 0;
        return;
    }
    if (++s->good_steps >= s->growth_interval) {
        const float grown = s->scale * s->growth_factor;
        if (isfinite(grown)) s->scale = grown; /* GradScaler never grows to inf */
        s->good_steps = 0;
    }
}
