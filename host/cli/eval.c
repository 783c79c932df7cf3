/* cuseg eval --pred DIR --gt DIR --classes N [--ignore V] [--names FILE] [--json FILE] */
#define _GNU_SOURCE
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/cli.h"
#include "io/image.h"
#include "post/metrics.h"

typedef struct file_list {
    char **paths; /* relative to the root */
    int n, cap;
} file_list;

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Every *.png below root, relative paths, sorted (deterministic order). */
static int list_pngs(const char *root, const char *rel, file_list *out) {
    char dir[4096];
    snprintf(dir, sizeof dir, "%s%s%s", root, rel[0] ? "/" : "", rel);
    DIR *d = opendir(dir);
    if (!d) return -1;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char sub[4096], full[4096];
        if (snprintf(sub, sizeof sub, "%s%s%s", rel, rel[0] ? "/" : "", e->d_name) >= (int)sizeof sub ||
            snprintf(full, sizeof full, "%s/%s", root, sub) >= (int)sizeof full)
            continue; /* path too long */
        struct stat st;
        if (stat(full, &st) != 0) continue;
        if (S_ISDIR(st.st_mode)) {
            list_pngs(root, sub, out);
        } else {
            size_t n = strlen(e->d_name);
            if (n < 4 || strcasecmp(e->d_name + n - 4, ".png") != 0) continue;
            if (out->n == out->cap) {
                out->cap = out->cap ? 2 * out->cap : 256;
                char **p = realloc(out->paths, sizeof(char *) * (size_t)out->cap);
                if (!p) break;
                out->paths = p;
            }
            out->paths[out->n++] = strdup(sub);
        }
    }
    closedir(d);
    return 0;
}

static int usage(FILE *f, int code) {
    fprintf(f, "usage: cuseg eval --pred DIR --gt DIR --classes N [--ignore V] [--names FILE] [--json FILE]\n"
               "Compares class-index PNGs in DIR --pred with those of the same relative path in\n"
               "--gt (8- or 16-bit gray or palette PNGs; the stored value is the class). Prints the\n"
               "confusion-matrix metrics accumulated over all images (models.md 6.5): per-class IoU,\n"
               "accuracy and Dice; pixel accuracy, mean accuracy, mIoU, frequency-weighted IoU, mean\n"
               "Dice. Ground truth equal to --ignore (default 255) is skipped. Classes that appear in\n"
               "neither (0/0) are left out of the means. --names: one class name per line.\n");
    return code;
}

static void to_int32(const cs_image *img, int32_t *dst) {
    const size_t n = (size_t)img->h * img->w;
    for (size_t i = 0; i < n; ++i)
        dst[i] = img->bit_depth == 16 ? ((const uint16_t *)img->data)[i] : ((const uint8_t *)img->data)[i];
}

int cs_cli_report_metrics(const cs_confusion *cm, const char *names_file, int images, int failures,
                          const char *json) {
    const int classes = cm->classes;
    int rc = 0;
    char **names = calloc((size_t)classes, sizeof(char *));
    FILE *nf = names_file ? fopen(names_file, "r") : NULL;
    char line[256];
    for (int c = 0; nf && names && c < classes && fgets(line, sizeof line, nf); ++c) {
        line[strcspn(line, "\r\n")] = '\0';
        names[c] = strdup(line);
    }
    if (nf) fclose(nf);
    cs_metrics m;
    cs_metrics_compute(cm, &m);
    printf("%d images, %llu labelled pixels, %d failed\n\n", images, (unsigned long long)m.pixels, failures);
    printf("%-5s %-20s %10s %10s %10s\n", "class", "name", "IoU", "accuracy", "Dice");
    for (int c = 0; c < classes; ++c)
        printf("%-5d %-20s %10.6f %10.6f %10.6f\n", c, names && names[c] ? names[c] : "", m.iou[c], m.accuracy[c],
               m.dice[c]);
    printf("\npixel accuracy   %.6f\nmean accuracy    %.6f\nmIoU             %.6f\nFW IoU           %.6f\n"
           "mean Dice        %.6f\n",
           m.pixel_accuracy, m.mean_accuracy, m.miou, m.fw_iou, m.mean_dice);
    if (json) {
        FILE *f = fopen(json, "w");
        if (!f) {
            fprintf(stderr, "cuseg eval: cannot write %s\n", json);
            rc = 1;
        } else {
            fprintf(f, "{\"images\":%d,\"failed\":%d,\"pixels\":%llu,\"pixel_accuracy\":%.17g,\"mean_accuracy\":%.17g,"
                       "\"miou\":%.17g,\"fw_iou\":%.17g,\"mean_dice\":%.17g,\"per_class\":[",
                    images, failures, (unsigned long long)m.pixels, m.pixel_accuracy, m.mean_accuracy, m.miou,
                    m.fw_iou, m.mean_dice);
            for (int c = 0; c < classes; ++c) {
                /* NaN is not JSON: null. */
                char iou[32], acc[32], dice[32];
                snprintf(iou, sizeof iou, isnan(m.iou[c]) ? "null" : "%.17g", m.iou[c]);
                snprintf(acc, sizeof acc, isnan(m.accuracy[c]) ? "null" : "%.17g", m.accuracy[c]);
                snprintf(dice, sizeof dice, isnan(m.dice[c]) ? "null" : "%.17g", m.dice[c]);
                fprintf(f, "%s{\"class\":%d,\"iou\":%s,\"accuracy\":%s,\"dice\":%s}", c ? "," : "", c, iou, acc, dice);
            }
            fprintf(f, "],\"confusion\":[");
            for (int g = 0; g < classes; ++g) {
                fprintf(f, "%s[", g ? "," : "");
                for (int p = 0; p < classes; ++p)
                    fprintf(f, "%s%llu", p ? "," : "", (unsigned long long)cm->m[(size_t)g * classes + p]);
                fprintf(f, "]");
            }
            fprintf(f, "]}\n");
            fclose(f);
        }
    }
    for (int c = 0; names && c < classes; ++c) free(names[c]);
    free(names);
    cs_metrics_free(&m);
    return rc;
}

int cs_cli_eval(int argc, char **argv) {
    const char *pred_dir = NULL, *gt_dir = NULL, *json = NULL, *names_file = NULL;
    int classes = 0, ignore = 255;
    for (int i = 1; i < argc; ++i) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help")) return usage(stdout, 0);
        if (!v) return usage(stderr, 2);
        if (!strcmp(a, "--pred")) pred_dir = v;
        else if (!strcmp(a, "--gt")) gt_dir = v;
        else if (!strcmp(a, "--classes")) classes = atoi(v);
        else if (!strcmp(a, "--ignore")) ignore = atoi(v);
        else if (!strcmp(a, "--json")) json = v;
        else if (!strcmp(a, "--names")) names_file = v;
        else return usage(stderr, 2);
        ++i;
    }
    if (!pred_dir || !gt_dir || classes <= 0) return usage(stderr, 2);
    file_list gts = {0};
    if (list_pngs(gt_dir, "", &gts) != 0 || gts.n == 0) {
        fprintf(stderr, "cuseg eval: no PNG files under %s\n", gt_dir);
        return 1;
    }
    qsort(gts.paths, (size_t)gts.n, sizeof(char *), cmp_str);
    cs_confusion cm;
    if (cs_confusion_init(&cm, classes, ignore) != CUSEG_OK) {
        fprintf(stderr, "cuseg eval: %s\n", cuseg_last_error());
        return 1;
    }
    int failures = 0;
    for (int i = 0; i < gts.n; ++i) {
        char gp[8192], pp[8192];
        if (snprintf(gp, sizeof gp, "%s/%s", gt_dir, gts.paths[i]) >= (int)sizeof gp ||
            snprintf(pp, sizeof pp, "%s/%s", pred_dir, gts.paths[i]) >= (int)sizeof pp) {
            fprintf(stderr, "cuseg eval: path too long: %s\n", gts.paths[i]);
            ++failures;
            continue;
        }
        cs_image g = {0}, p = {0};
        int32_t *gv = NULL, *pv = NULL;
        if (cs_image_read(gp, CS_IMAGE_LABEL, &g) != CUSEG_OK || cs_image_read(pp, CS_IMAGE_LABEL, &p) != CUSEG_OK) {
            fprintf(stderr, "cuseg eval: %s\n", cuseg_last_error());
            ++failures;
        } else if (g.h != p.h || g.w != p.w) {
            fprintf(stderr, "cuseg eval: %s is %dx%d but %s is %dx%d\n", pp, p.w, p.h, gp, g.w, g.h);
            ++failures;
        } else if (!(gv = malloc(sizeof(int32_t) * (size_t)g.h * g.w)) ||
                   !(pv = malloc(sizeof(int32_t) * (size_t)g.h * g.w))) {
            fprintf(stderr, "cuseg eval: out of memory\n");
            ++failures;
        } else {
            to_int32(&g, gv);
            to_int32(&p, pv);
            if (cs_confusion_add(&cm, gv, pv, (size_t)g.h * g.w, pp) != CUSEG_OK) {
                fprintf(stderr, "cuseg eval: %s\n", cuseg_last_error());
                ++failures;
            }
        }
        free(gv);
        free(pv);
        cs_image_free(&g);
        cs_image_free(&p);
    }
    if (cs_cli_report_metrics(&cm, names_file, gts.n - failures, failures, json) != 0) ++failures;
    cs_confusion_free(&cm);
    for (int i = 0; i < gts.n; ++i) free(gts.paths[i]);
    free(gts.paths);
    return failures ? 1 : 0;
}
