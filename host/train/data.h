/* Training data: which image goes with which label file (image/label
 * directories paired by file stem, pair-list files, the VOC layout), and how
 * a label file becomes class indices (index or palette PNG as stored, a
 * value list such as "0,255" -> {0, 1}, or RGB colours mapped through a
 * palette file). Every error names the file. */
#ifndef CS_TRAIN_DATA_H
#define CS_TRAIN_DATA_H

#include <stdint.h>

#include "cuseg.h"
#include "io/labelme.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct cs_pair {
    char *image, *label;
} cs_pair;

typedef struct cs_dataset {
    cs_pair *pairs;
    int n, cap;
} cs_dataset;

/* Pairs IMAGE_DIR/<stem>.{png,jpg,jpeg} with LABEL_DIR/<stem>.png, or else
 * LABEL_DIR/<stem>.json (labelme), sorted by stem. An image without a label
 * is an error naming it; extra labels are ignored. When both directories
 * are the same (labelme's own layout: IMG.jpg beside IMG.json) only .json
 * labels count and images without one are skipped. */
cuseg_status cs_dataset_from_dirs(const char *image_dir, const char *label_dir, cs_dataset *out);
/* One "image label" pair per line (blank lines and '#' comments skipped);
 * relative paths are relative to `root`, or to the list file's directory
 * when root is NULL. A missing file is an error naming the line. */
cuseg_status cs_dataset_from_list(const char *list_file, const char *root, cs_dataset *out);
/* ROOT/ImageSets/Segmentation/SPLIT.txt, ROOT/JPEGImages/ID.jpg,
 * ROOT/SegmentationClass/ID.png. */
cuseg_status cs_dataset_from_voc(const char *root, const char *split, cs_dataset *out);
/* A file: a pair list. A directory with JPEGImages/: VOC (split `split`,
 * "train" when NULL). A directory with images/ and labels/ (or image/ and
 * label/): paired by stem. Any other directory with labelme .json files:
 * each paired with the image of its stem beside it. An empty result is an
 * error. */
cuseg_status cs_dataset_open(const char *spec, const char *root, const char *split, cs_dataset *out);
void cs_dataset_free(cs_dataset *d);
/* Whether a label file is labelme JSON (by its extension). */
int cs_label_is_labelme(const char *label_path);

typedef enum cs_label_kind {
    CS_LABEL_INDEX, /* gray or palette PNG: the stored value (or index) is the class */
    CS_LABEL_COLOR, /* RGB PNG: each colour is looked up in `colors` */
} cs_label_kind;

#define CS_MAX_LABEL_COLORS 256

typedef struct cs_label_spec {
    int classes;
    int ignore;          /* label value skipped by loss and metrics (-1: none) */
    cs_label_kind kind;
    /* CS_LABEL_INDEX with n_values > 0: stored value values[k] is class k
     * ("0,255" for masks saved as 0/255); other values are errors unless
     * equal to `ignore`. */
    int n_values;
    int values[CS_MAX_LABEL_COLORS];
    /* CS_LABEL_COLOR: colour k is class k; an unknown colour is an error, or
     * the ignore class when ignore_color is set and matches it. */
    int n_colors;
    uint8_t colors[CS_MAX_LABEL_COLORS][3];
    int has_ignore_color;
    uint8_t ignore_color[3];
    /* Label files ending in .json (any kind): labelme shapes drawn as
     * `cuseg convert labelme` draws them, names mapped through this list
     * (owned by the caller; NULL: a .json label is an error). */
    const cs_labelme_classes *labelme;
} cs_label_spec;

/* Palette file: one class per line, "R G B" or "R,G,B", optionally followed
 * by a name; '#' comments. A line "ignore R G B" sets the ignore colour. */
cuseg_status cs_label_read_palette(const char *path, cs_label_spec *spec);
/* "0,255" into spec->values. */
cuseg_status cs_label_parse_values(const char *list, cs_label_spec *spec);

/* A decoded sample: image (h x w x channels, 8-bit) and class indices. */
typedef struct cs_sample {
    int h, w, c;
    uint8_t *image;
    int32_t *label;
} cs_sample;

/* Loads pair i: the image as `channels` (1 gray, 3 RGB) and the label
 * mapped to classes. Size mismatch, class >= classes (and != ignore),
 * unknown colours: errors naming the file, the pixel and the value. */
cuseg_status cs_sample_load(const cs_pair *pair, const cs_label_spec *spec, int channels,
                            cs_sample *out);
void cs_sample_free(cs_sample *s);

#ifdef __cplusplus
}
#endif

#endif
