#include "post/metrics.h"

#include <math.h>
#include <stdlib.h>

#include "core/status.h"

cuseg_status cs_confusion_init(cs_confusion *cm, int classes, int ignore) {
    CS_CHECK_ARG(cm && classes > 0 && classes <= 65536, "confusion matrix: classes must be in [1, 65536], got %d",
                 classes);
    cm->classes = classes;
    cm->ignore = ignore;
    return cs_calloc((void **)&cm->m, sizeof(uint64_t) * (size_t)classes * (size_t)classes, "confusion matrix");
}

void cs_confusion_free(cs_confusion *cm) {
    if (!cm) return;
    free(cm->m);
    cm->m = NULL;
}

cuseg_status cs_confusion_add(cs_confusion *cm, const int32_t *gt, const int32_t *pred, size_t n,
                              const char *what) {
    const int C = cm->classes;
    for (size_t i = 0; i < n; ++i) {
        if (gt[i] == cm->ignore) continue;
        if (gt[i] < 0 || gt[i] >= C)
            return cs_error(CUSEG_ERR_INVALID_ARGUMENT,
                            "%s: ground truth %d at pixel %zu is not a class in [0, %d) nor the ignore value %d",
                            what, (int)gt[i], i, C, cm->ignore);
        if (pred[i] < 0 || pred[i] >= C)
            return cs_error(CUSEG_ERR_INVALID_ARGUMENT, "%s: prediction %d at pixel %zu is not a class in [0, %d)",
                            what, (int)pred[i], i, C);
        cm->m[(size_t)gt[i] * C + pred[i]]++;
    }
    return CUSEG_OK;
}

cuseg_status cs_metrics_compute(const cs_confusion *cm, cs_metrics *out) {
    const int C = cm->classes;
    double *buf;
    CS_CHECK(cs_alloc((void **)&buf, sizeof(double) * 3 * (size_t)C, "metrics"));
    *out = (cs_metrics){0};
    out->iou = buf, out->accuracy = buf + C, out->dice = buf + 2 * C;
    uint64_t total = 0, diag = 0;
    for (int g = 0; g < C; ++g)
        for (int p = 0; p < C; ++p) total += cm->m[(size_t)g * C + p];
    double sum_iou = 0, sum_acc = 0, sum_dice = 0, fw = 0;
    int n_iou = 0, n_acc = 0, n_dice = 0;
    for (int c = 0; c < C; ++c) {
        uint64_t row = 0, col = 0;
        for (int k = 0; k < C; ++k) {
            row += cm->m[(size_t)c * C + k];
            col += cm->m[(size_t)k * C + c];
        }
        const uint64_t tp = cm->m[(size_t)c * C + c];
        diag += tp;
        const uint64_t uni = row + col - tp;
        out->iou[c] = uni ? (double)tp / (double)uni : NAN;
        out->accuracy[c] = row ? (double)tp / (double)row : NAN;
        out->dice[c] = row + col ? 2.0 * (double)tp / (double)(row + col) : NAN;
        if (uni) sum_iou += out->iou[c], ++n_iou;
        if (row) sum_acc += out->accuracy[c], ++n_acc;
        if (row + col) sum_dice += out->dice[c], ++n_dice;
        if (row && uni) fw += (double)row / (double)total * out->iou[c];
    }
    out->pixels = total;
    out->pixel_accuracy = total ? (double)diag / (double)total : NAN;
    out->mean_accuracy = n_acc ? sum_acc / n_acc : NAN;
    out->miou = n_iou ? sum_iou / n_iou : NAN;
    out->mean_dice = n_dice ? sum_dice / n_dice : NAN;
    out->fw_iou = total ? fw : NAN;
    return CUSEG_OK;
}

void cs_metrics_free(cs_metrics *m) {
    if (m) free(m->iou);
}
