/* Segmentation metrics from a dataset-accumulated confusion matrix
 * (models.md §6.5: FCN's fast_hist / jfzhang95's Evaluator). Rows are ground
 * truth, columns predictions; 64-bit counts. */
#ifndef CS_POST_METRICS_H
#define CS_POST_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "cuseg.h"

typedef struct cs_confusion {
    int classes;
    int ignore; /* ground-truth value that is skipped (e.g. 255; -1 for none) */
    uint64_t *m; /* classes x classes */
} cs_confusion;

cuseg_status cs_confusion_init(cs_confusion *cm, int classes, int ignore);
void cs_confusion_free(cs_confusion *cm);
/* Adds n pixels. Ground truth outside [0, classes) other than the ignore
 * value, or a prediction outside [0, classes), is an error naming `what` and
 * the pixel index. Labels are int32 so that 8- and 16-bit PNGs both fit. */
cuseg_status cs_confusion_add(cs_confusion *cm, const int32_t *gt, const int32_t *pred, size_t n,
                              const char *what);

typedef struct cs_metrics {
    double pixel_accuracy, mean_accuracy, miou, fw_iou, mean_dice;
    double *iou, *accuracy, *dice; /* per class; NaN where undefined */
    uint64_t pixels;
} cs_metrics;

/* NaN-mean conventions: classes with 0/0 are skipped. */
cuseg_status cs_metrics_compute(const cs_confusion *cm, cs_metrics *out);
void cs_metrics_free(cs_metrics *m);

#endif
