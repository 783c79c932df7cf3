#define _GNU_SOURCE
#include "train/data.h"

#include <ctype.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "core/status.h"
#include "io/image.h"

void cs_dataset_free(cs_dataset *d) {
    if (!d) return;
    for (int i = 0; i < d->n; ++i) {
        free(d->pairs[i].image);
        free(d->pairs[i].label);
    }
    free(d->pairs);
    memset(d, 0, sizeof *d);
}

static cuseg_status add_pair(cs_dataset *d, const char *image, const char *label) {
    if (d->n == d->cap) {
        const int cap = d->cap ? 2 * d->cap : 64;
        cs_pair *p = realloc(d->pairs, sizeof *p * (size_t)cap);
        if (!p) return cs_error(CUSEG_ERR_OUT_OF_MEMORY, "dataset: out of memory");
        d->pairs = p;
        d->cap = cap;
    }
    cs_pair *p = &d->pairs[d->n];
    p->image = cs_strdup(image);
    p->label = cs_strdup(label);
    if (!p->image || !p->label) {
        free(p->image);
        free(p->label);
        return cs_error(CUSEG_ERR_OUT_OF_MEMORY, "dataset: out of memory");
    }
    d->n++;
    return CUSEG_OK;
}

static int is_file(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static int is_dir(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static int has_ext(const char *name, const char *ext) {
    const size_t n = strlen(name), m = strlen(ext);
    return n > m && strcasecmp(name + n - m, ext) == 0;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Sorted file names of a directory with one of the image extensions. */
static cuseg_status list_images(const char *dir, char ***names, int *n) {
    *names = NULL;
    *n = 0;
    DIR *d = opendir(dir);
    if (!d) return cs_error(CUSEG_ERR_IO, "%s: cannot open the directory", dir);
    int cap = 0;
    cuseg_status st = CUSEG_OK;
    struct dirent *e;
    while (st == CUSEG_OK && (e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        if (!has_ext(e->d_name, ".png") && !has_ext(e->d_name, ".jpg") && !has_ext(e->d_name, ".jpeg")) continue;
        if (*n == cap) {
            cap = cap ? 2 * cap : 64;
            char **p = realloc(*names, sizeof(char *) * (size_t)cap);
            if (!p) {
                st = cs_error(CUSEG_ERR_OUT_OF_MEMORY, "%s: out of memory", dir);
                break;
            }
            *names = p;
        }
        if (!((*names)[*n] = cs_strdup(e->d_name))) st = cs_error(CUSEG_ERR_OUT_OF_MEMORY, "%s: out of memory", dir);
        else ++*n;
    }
    closedir(d);
    if (*n) qsort(*names, (size_t)*n, sizeof(char *), cmp_str);
    return st;
}

static void free_names(char **names, int n) {
    for (int i = 0; i < n; ++i) free(names[i]);
    free(names);
}

cuseg_status cs_dataset_from_dirs(const char *image_dir, const char *label_dir, cs_dataset *out) {
    CS_CHECK_ARG(image_dir && label_dir && out, "cs_dataset_from_dirs: NULL argument");
    memset(out, 0, sizeof *out);
    char **names;
    int n;
    CS_CHECK(list_images(image_dir, &names, &n));
    cuseg_status st = CUSEG_OK;
    char img[4096], lab[4096];
    const int same_dir = strcmp(image_dir, label_dir) == 0;
    for (int i = 0; st == CUSEG_OK && i < n; ++i) {
        char stem[1024];
        snprintf(stem, sizeof stem, "%s", names[i]);
        char *dot = strrchr(stem, '.');
        if (dot) *dot = 0;
        snprintf(img, sizeof img, "%s/%s", image_dir, names[i]);
        snprintf(lab, sizeof lab, "%s/%s.png", label_dir, stem);
        if (same_dir || !is_file(lab)) {
            char png[4096];
            snprintf(png, sizeof png, "%s", lab);
            snprintf(lab, sizeof lab, "%s/%s.json", label_dir, stem);
            if (!is_file(lab)) {
                if (!same_dir)
                    st = cs_error(CUSEG_ERR_NOT_FOUND, "%s: no label for this image (expected %s or %s)", img, png,
                                  lab);
                continue;
            }
        }
        st = add_pair(out, img, lab);
    }
    free_names(names, n);
    if (st != CUSEG_OK) cs_dataset_free(out);
    return st;
}

/* dir of `path` (without the trailing slash) into buf; "." when none. */
static void dirname_of(const char *path, char *buf, size_t size) {
    const char *slash = strrchr(path, '/');
    if (!slash) snprintf(buf, size, ".");
    else if (slash == path) snprintf(buf, size, "/");
    else snprintf(buf, size, "%.*s", (int)(slash - path), path);
}

/* 0 when the joined path does not fit. */
static int join(char *buf, size_t size, const char *root, const char *rel) {
    const int n = rel[0] == '/' || !root ? snprintf(buf, size, "%s", rel) : snprintf(buf, size, "%s/%s", root, rel);
    return n >= 0 && (size_t)n < size;
}

cuseg_status cs_dataset_from_list(const char *list_file, const char *root, cs_dataset *out) {
    CS_CHECK_ARG(list_file && out, "cs_dataset_from_list: NULL argument");
    memset(out, 0, sizeof *out);
    FILE *f = fopen(list_file, "r");
    if (!f) return cs_error(CUSEG_ERR_IO, "%s: cannot open the pair list", list_file);
    char base[4096];
    if (root) snprintf(base, sizeof base, "%s", root);
    else dirname_of(list_file, base, sizeof base);
    char line[8192], img[4096], lab[4096];
    int lineno = 0;
    cuseg_status st = CUSEG_OK;
    while (st == CUSEG_OK && fgets(line, sizeof line, f)) {
        ++lineno;
        char *p = line;
        while (isspace((unsigned char)*p)) ++p;
        if (!*p || *p == '#') continue;
        char a[4096], b[4096], extra[8];
        const int k = sscanf(p, "%4095s %4095s %7s", a, b, extra);
        if (k != 2) {
            st = cs_error(CUSEG_ERR_FORMAT, "%s:%d: expected \"IMAGE LABEL\" (two paths), got %d field%s",
                          list_file, lineno, k < 0 ? 0 : k, k == 1 ? "" : "s");
            break;
        }
        if (!join(img, sizeof img, base, a) || !join(lab, sizeof lab, base, b)) {
            st = cs_error(CUSEG_ERR_INVALID_ARGUMENT, "%s:%d: path too long", list_file, lineno);
            break;
        }
        if (!is_file(img)) st = cs_error(CUSEG_ERR_NOT_FOUND, "%s:%d: image %s does not exist", list_file, lineno, img);
        else if (!is_file(lab))
            st = cs_error(CUSEG_ERR_NOT_FOUND, "%s:%d: label %s does not exist", list_file, lineno, lab);
        else st = add_pair(out, img, lab);
    }
    fclose(f);
    if (st != CUSEG_OK) cs_dataset_free(out);
    return st;
}

cuseg_status cs_dataset_from_voc(const char *root, const char *split, cs_dataset *out) {
    CS_CHECK_ARG(root && split && out, "cs_dataset_from_voc: NULL argument");
    memset(out, 0, sizeof *out);
    char list[4096];
    snprintf(list, sizeof list, "%s/ImageSets/Segmentation/%s.txt", root, split);
    FILE *f = fopen(list, "r");
    if (!f) return cs_error(CUSEG_ERR_IO, "%s: cannot open the VOC split list", list);
    char line[1024], img[4096], lab[4096];
    int lineno = 0;
    cuseg_status st = CUSEG_OK;
    while (st == CUSEG_OK && fgets(line, sizeof line, f)) {
        ++lineno;
        char id[1024];
        if (sscanf(line, "%1023s", id) != 1) continue;
        snprintf(img, sizeof img, "%s/JPEGImages/%s.jpg", root, id);
        snprintf(lab, sizeof lab, "%s/SegmentationClass/%s.png", root, id);
        if (!is_file(img)) st = cs_error(CUSEG_ERR_NOT_FOUND, "%s:%d: image %s does not exist", list, lineno, img);
        else if (!is_file(lab)) st = cs_error(CUSEG_ERR_NOT_FOUND, "%s:%d: label %s does not exist", list, lineno, lab);
        else st = add_pair(out, img, lab);
    }
    fclose(f);
    if (st != CUSEG_OK) cs_dataset_free(out);
    return st;
}

int cs_label_is_labelme(const char *label_path) { return has_ext(label_path, ".json"); }

static int has_json(const char *dir) {
    DIR *d = opendir(dir);
    struct dirent *e;
    int found = 0;
    while (d && !found && (e = readdir(d)))
        found = e->d_name[0] != '.' && has_ext(e->d_name, ".json");
    if (d) closedir(d);
    return found;
}

cuseg_status cs_dataset_open(const char *spec, const char *root, const char *split, cs_dataset *out) {
    CS_CHECK_ARG(spec && out, "cs_dataset_open: NULL argument");
    memset(out, 0, sizeof *out);
    char a[4096], b[4096];
    if (is_file(spec)) {
        CS_CHECK(cs_dataset_from_list(spec, root, out));
    } else if (is_dir(spec)) {
        snprintf(a, sizeof a, "%s/JPEGImages", spec);
        if (is_dir(a)) {
            CS_CHECK(cs_dataset_from_voc(spec, split ? split : "train", out));
        } else {
            static const char *const layouts[][2] = {{"images", "labels"}, {"image", "label"}};
            int found = 0;
            for (int k = 0; k < 2 && !found; ++k) {
                snprintf(a, sizeof a, "%s/%s", spec, layouts[k][0]);
                snprintf(b, sizeof b, "%s/%s", spec, layouts[k][1]);
                found = is_dir(a) && is_dir(b);
            }
            if (!found && has_json(spec)) /* labelme's layout: IMG.jpg beside IMG.json */
                snprintf(a, sizeof a, "%s", spec), snprintf(b, sizeof b, "%s", spec), found = 1;
            if (!found)
                return cs_error(CUSEG_ERR_NOT_FOUND,
                                "%s: not a dataset (expected JPEGImages/ (VOC), images/ + labels/, labelme .json files "
                                "beside their images, or a pair-list file)",
                                spec);
            CS_CHECK(cs_dataset_from_dirs(a, b, out));
        }
    } else {
        return cs_error(CUSEG_ERR_NOT_FOUND, "%s: no such file or directory", spec);
    }
    if (out->n == 0) return cs_error(CUSEG_ERR_NOT_FOUND, "%s: the dataset is empty (no image/label pairs)", spec);
    return CUSEG_OK;
}

/* ---------------------------------------------------------------- labels */

cuseg_status cs_label_parse_values(const char *list, cs_label_spec *spec) {
    CS_CHECK_ARG(list && spec, "cs_label_parse_values: NULL argument");
    int n = 0;
    const char *s = list;
    while (*s) {
        char *end;
        const long v = strtol(s, &end, 10);
        if (end == s || v < 0 || v > 65535 || n == CS_MAX_LABEL_COLORS)
            return cs_error(CUSEG_ERR_INVALID_ARGUMENT, "label values '%s': expected up to %d comma-separated integers in 0..65535",
                            list, CS_MAX_LABEL_COLORS);
        spec->values[n++] = (int)v;
        s = end;
        if (*s == ',') ++s;
        else if (*s) return cs_error(CUSEG_ERR_INVALID_ARGUMENT, "label values '%s': unexpected '%c'", list, *s);
    }
    if (n == 0) return cs_error(CUSEG_ERR_INVALID_ARGUMENT, "label values: empty list");
    spec->n_values = n;
    return CUSEG_OK;
}

cuseg_status cs_label_read_palette(const char *path, cs_label_spec *spec) {
    CS_CHECK_ARG(path && spec, "cs_label_read_palette: NULL argument");
    FILE *f = fopen(path, "r");
    if (!f) return cs_error(CUSEG_ERR_IO, "%s: cannot open the palette file", path);
    char line[1024];
    int lineno = 0, n = 0;
    cuseg_status st = CUSEG_OK;
    while (st == CUSEG_OK && fgets(line, sizeof line, f)) {
        ++lineno;
        char *p = line;
        while (isspace((unsigned char)*p)) ++p;
        if (!*p || *p == '#') continue;
        int is_ignore = strncmp(p, "ignore", 6) == 0 && isspace((unsigned char)p[6]);
        if (is_ignore) p += 6;
        for (char *q = p; *q; ++q)
            if (*q == ',') *q = ' ';
        int r, g, b;
        if (sscanf(p, "%d %d %d", &r, &g, &b) != 3 || r < 0 || r > 255 || g < 0 || g > 255 || b < 0 || b > 255) {
            st = cs_error(CUSEG_ERR_FORMAT, "%s:%d: expected \"R G B [name]\" with values 0..255", path, lineno);
        } else if (is_ignore) {
            spec->has_ignore_color = 1;
            spec->ignore_color[0] = (uint8_t)r, spec->ignore_color[1] = (uint8_t)g, spec->ignore_color[2] = (uint8_t)b;
        } else if (n == CS_MAX_LABEL_COLORS) {
            st = cs_error(CUSEG_ERR_FORMAT, "%s:%d: more than %d colours", path, lineno, CS_MAX_LABEL_COLORS);
        } else {
            spec->colors[n][0] = (uint8_t)r, spec->colors[n][1] = (uint8_t)g, spec->colors[n][2] = (uint8_t)b;
            ++n;
        }
    }
    fclose(f);
    if (st == CUSEG_OK && n == 0) st = cs_error(CUSEG_ERR_FORMAT, "%s: no colours", path);
    if (st == CUSEG_OK) {
        spec->kind = CS_LABEL_COLOR;
        spec->n_colors = n;
    }
    return st;
}

void cs_sample_free(cs_sample *s) {
    if (!s) return;
    free(s->image);
    free(s->label);
    s->image = NULL;
    s->label = NULL;
}

/* A labelme JSON label: the drawn values are classes (or the ignore value,
 * for __ignore__); they are checked like any other label's. */
static cuseg_status labelme_labels(const cs_pair *pair, const cs_label_spec *spec, cs_sample *out) {
    if (!spec->labelme)
        return cs_error(CUSEG_ERR_INVALID_ARGUMENT,
                        "%s: a labelme label needs class names (--class-names, or a labels.txt beside the data)",
                        pair->label);
    int h, w;
    CS_CHECK(cs_labelme_rasterize(pair->label, spec->labelme, &out->label, &h, &w));
    if (h != out->h || w != out->w)
        return cs_error(CUSEG_ERR_SHAPE, "%s: imageWidth x imageHeight is %dx%d but its image %s is %dx%d",
                        pair->label, w, h, pair->image, out->w, out->h);
    for (size_t i = 0; i < (size_t)h * w; ++i) {
        const int cls = out->label[i];
        if ((cls < 0 || cls >= spec->classes) && cls != spec->ignore)
            return cs_error(CUSEG_ERR_FORMAT, "%s: pixel (x=%zu, y=%zu) has class %d, not below classes=%d and not the "
                            "ignore value %d", pair->label, i % (size_t)w, i / (size_t)w, cls, spec->classes,
                            spec->ignore);
    }
    return CUSEG_OK;
}

static cuseg_status map_labels(const cs_pair *pair, const cs_label_spec *spec, int *lut, int lut_n, cs_sample *out) {
    if (cs_label_is_labelme(pair->label)) return labelme_labels(pair, spec, out);
    cs_image lab;
    const int color = spec->kind == CS_LABEL_COLOR;
    CS_CHECK(cs_image_read(pair->label, color ? CS_IMAGE_RGB : CS_IMAGE_LABEL, &lab));
    cuseg_status st = CUSEG_OK;
    if (lab.h != out->h || lab.w != out->w)
        st = cs_error(CUSEG_ERR_SHAPE, "%s: label is %dx%d (WxH) but its image %s is %dx%d", pair->label, lab.w, lab.h,
                      pair->image, out->w, out->h);
    const size_t n = (size_t)out->h * out->w;
    if (st == CUSEG_OK && !(out->label = malloc(sizeof(int32_t) * (n ? n : 1))))
        st = cs_error(CUSEG_ERR_OUT_OF_MEMORY, "%s: out of memory", pair->label);
    for (size_t i = 0; st == CUSEG_OK && i < n; ++i) {
        int cls;
        if (color) {
            const uint8_t *px = (const uint8_t *)lab.data + 3 * i;
            cls = -2;
            for (int k = 0; k < spec->n_colors && cls < 0; ++k)
                if (!memcmp(px, spec->colors[k], 3)) cls = k;
            if (cls < 0 && spec->has_ignore_color && !memcmp(px, spec->ignore_color, 3)) cls = spec->ignore;
            if (cls == -2) {
                st = cs_error(CUSEG_ERR_FORMAT, "%s: pixel (x=%zu, y=%zu) has colour (%d,%d,%d), which is not in the palette",
                              pair->label, i % (size_t)out->w, i / (size_t)out->w, px[0], px[1], px[2]);
                break;
            }
        } else {
            const int v = lab.bit_depth == 16 ? ((const uint16_t *)lab.data)[i] : ((const uint8_t *)lab.data)[i];
            cls = lut ? (v < lut_n ? lut[v] : -2) : v;
            if (lut && cls == -2 && v != spec->ignore) {
                st = cs_error(CUSEG_ERR_FORMAT, "%s: pixel (x=%zu, y=%zu) has value %d, which is not one of the label values",
                              pair->label, i % (size_t)out->w, i / (size_t)out->w, v);
                break;
            }
            if (cls == -2) cls = v;
        }
        if ((cls < 0 || cls >= spec->classes) && cls != spec->ignore) {
            st = cs_error(CUSEG_ERR_FORMAT, "%s: pixel (x=%zu, y=%zu) has class %d, not below classes=%d and not the ignore value %d",
                          pair->label, i % (size_t)out->w, i / (size_t)out->w, cls, spec->classes, spec->ignore);
            break;
        }
        out->label[i] = cls;
    }
    cs_image_free(&lab);
    return st;
}

cuseg_status cs_sample_load(const cs_pair *pair, const cs_label_spec *spec, int channels, cs_sample *out) {
    CS_CHECK_ARG(pair && spec && out && (channels == 1 || channels == 3), "cs_sample_load: bad argument");
    memset(out, 0, sizeof *out);
    cs_image img;
    CS_CHECK(cs_image_read(pair->image, channels == 1 ? CS_IMAGE_GRAY : CS_IMAGE_RGB, &img));
    out->h = img.h;
    out->w = img.w;
    out->c = channels;
    out->image = img.data;
    int *lut = NULL, lut_n = 0;
    cuseg_status st = CUSEG_OK;
    if (spec->kind == CS_LABEL_INDEX && spec->n_values > 0) { /* value -> class, -2 where unmapped */
        for (int k = 0; k < spec->n_values; ++k)
            if (spec->values[k] + 1 > lut_n) lut_n = spec->values[k] + 1;
        if (!(lut = malloc(sizeof(int) * (size_t)lut_n))) st = cs_error(CUSEG_ERR_OUT_OF_MEMORY, "out of memory");
        for (int v = 0; lut && v < lut_n; ++v) lut[v] = -2;
        for (int k = 0; lut && k < spec->n_values; ++k) lut[spec->values[k]] = k;
    }
    if (st == CUSEG_OK) st = map_labels(pair, spec, lut, lut_n, out);
    free(lut);
    if (st != CUSEG_OK) cs_sample_free(out);
    return st;
}
