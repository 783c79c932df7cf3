/* cuseg convert labelme IN.json|DIR -o OUT_DIR --labels labels.txt
 *
 * labelme JSON annotations to class-index PNGs, drawn by io/labelme.c exactly
 * as labelme's shapes_to_label / shape_to_mask (labelme/_utils/shape.py). */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/fs.h"
#include "cli/cli.h"
#include "io/labelme.h"
#include "io/image.h"

static int convert_usage(FILE *f, int code) {
    fprintf(f,
            "usage: cuseg convert labelme IN.json|DIR -o OUT_DIR --labels FILE [--quiet]\n"
            "Draws the shapes of labelme JSON files (polygon, rectangle, circle, line, linestrip,\n"
            "point, oriented_rectangle) as labelme's shapes_to_label does and writes, per file,\n"
            "OUT_DIR/<name>.png (class indices, 8-bit; 16-bit above value 255) and\n"
            "OUT_DIR/<name>_color.png (the same indices as a palette PNG, VOC colours).\n"
            "A directory is searched recursively for *.json and mirrored under OUT_DIR.\n"
            "--labels: one class name per line, value = line number; when the first line is\n"
            "__ignore__ (labelme2voc's convention) it maps to 255 and the next lines to 0, 1, ...\n");
    return code;
}

static void voc_palette(uint8_t pal[768]) {
    for (int i = 0; i < 256; ++i) {
        int r = 0, g = 0, b = 0, c = i;
        for (int j = 0; j < 8; ++j, c >>= 3) {
            r |= ((c >> 0) & 1) << (7 - j);
            g |= ((c >> 1) & 1) << (7 - j);
            b |= ((c >> 2) & 1) << (7 - j);
        }
        pal[3 * i] = (uint8_t)r, pal[3 * i + 1] = (uint8_t)g, pal[3 * i + 2] = (uint8_t)b;
    }
}

/* Converts one JSON file; prints the reason and returns -1 on failure. */
static int convert_file(const char *json_path, const char *out_base, const cs_labelme_classes *labels) {
    int32_t *cls = NULL;
    int h, w;
    if (cs_labelme_rasterize(json_path, labels, &cls, &h, &w) != CUSEG_OK) {
        fprintf(stderr, "cuseg convert: FAILED %s\n", cuseg_last_error());
        return -1;
    }
    int rc = -1;
    const int wide = labels->max_value > 255;
    void *out = malloc((size_t)h * w * (wide ? 2 : 1));
    char *color = NULL, *index_png = NULL;
    if (asprintf(&color, "%s_color.png", out_base) < 0) color = NULL;
    if (asprintf(&index_png, "%s.png", out_base) < 0) index_png = NULL;
    if (!out || !color || !index_png) {
        fprintf(stderr, "cuseg convert: FAILED %s: out of memory\n", json_path);
    } else {
        for (size_t i = 0; i < (size_t)h * w; ++i) {
            if (wide) ((uint16_t *)out)[i] = (uint16_t)cls[i];
            else ((uint8_t *)out)[i] = (uint8_t)cls[i];
        }
        uint8_t pal[768];
        voc_palette(pal);
        if ((!wide && cs_png_write(color, out, h, w, 1, 8, pal) != CUSEG_OK) ||
            cs_png_write(index_png, out, h, w, 1, wide ? 16 : 8, NULL) != CUSEG_OK)
            fprintf(stderr, "cuseg convert: FAILED %s: %s\n", json_path, cuseg_last_error());
        else
            rc = 0;
    }
    free(color);
    free(index_png);
    free(out);
    free(cls);
    return rc;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* *.json below root (relative paths, sorted). */
static void list_json(const char *root, const char *rel, char ***v, int *n, int *cap) {
    char *dir = NULL;
    if (asprintf(&dir, "%s%s%s", root, rel[0] ? "/" : "", rel) < 0) return;
    DIR *d = opendir(dir);
    struct dirent *e;
    while (d && (e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char *sub = NULL, *full = NULL;
        struct stat st;
        if (asprintf(&sub, "%s%s%s", rel, rel[0] ? "/" : "", e->d_name) < 0) continue;
        if (asprintf(&full, "%s/%s", dir, e->d_name) >= 0 && stat(full, &st) == 0) {
            const size_t len = strlen(e->d_name);
            if (S_ISDIR(st.st_mode)) {
                list_json(root, sub, v, n, cap);
            } else if (len > 5 && !strcasecmp(e->d_name + len - 5, ".json")) {
                if (*n == *cap) {
                    *cap = *cap ? 2 * *cap : 64;
                    char **p = realloc(*v, sizeof(char *) * (size_t)*cap);
                    if (!p) {
                        free(sub);
                        free(full);
                        break;
                    }
                    *v = p;
                }
                (*v)[(*n)++] = sub;
                sub = NULL;
            }
        }
        free(sub);
        free(full);
    }
    if (d) closedir(d);
    free(dir);
}

int cs_cli_convert(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) return convert_usage(argc < 2 ? stderr : stdout, argc < 2 ? 2 : 0);
    if (strcmp(argv[1], "labelme") != 0) {
        fprintf(stderr, "cuseg convert: unknown format '%s' (supported: labelme)\n", argv[1]);
        return 2;
    }
    const char *in = NULL, *out_dir = NULL, *labels_path = NULL;
    int quiet = 0;
    for (int i = 2; i < argc; ++i) {
        if (!strcmp(argv[i], "--help")) return convert_usage(stdout, 0);
        if (!strcmp(argv[i], "--quiet")) quiet = 1;
        else if ((!strcmp(argv[i], "-o") || !strcmp(argv[i], "--output")) && i + 1 < argc) out_dir = argv[++i];
        else if (!strcmp(argv[i], "--labels") && i + 1 < argc) labels_path = argv[++i];
        else if (argv[i][0] != '-' && !in) in = argv[i];
        else return convert_usage(stderr, 2);
    }
    if (!in || !out_dir || !labels_path) return convert_usage(stderr, 2);
    cs_labelme_classes labels;
    if (cs_labelme_classes_read(labels_path, 255, &labels) != CUSEG_OK) {
        fprintf(stderr, "cuseg convert: %s\n", cuseg_last_error());
        return 1;
    }
    if (labels.max_value > 65535) {
        fprintf(stderr, "cuseg convert: more than 65536 labels\n");
        cs_labelme_classes_free(&labels);
        return 1;
    }
    struct stat st;
    char **rel = NULL;
    int n = 0, cap = 0, failed = 0;
    const int is_dir = stat(in, &st) == 0 && S_ISDIR(st.st_mode);
    if (is_dir) {
        list_json(in, "", &rel, &n, &cap);
        if (rel) qsort(rel, (size_t)n, sizeof(char *), cmp_str);
    } else {
        rel = malloc(sizeof(char *));
        const char *slash = strrchr(in, '/');
        if (rel) rel[n++] = strdup(slash ? slash + 1 : in);
    }
    if (n == 0) fprintf(stderr, "cuseg convert: no .json files in %s\n", in);
    for (int i = 0; i < n; ++i) {
        char *src = NULL, *base = NULL;
        const size_t stem = strlen(rel[i]) - 5 * (strlen(rel[i]) > 5 && !strcasecmp(rel[i] + strlen(rel[i]) - 5, ".json"));
        if ((is_dir ? asprintf(&src, "%s/%s", in, rel[i]) : asprintf(&src, "%s", in)) < 0 ||
            asprintf(&base, "%s/%.*s", out_dir, (int)stem, rel[i]) < 0) {
            ++failed;
            continue;
        }
        char *parent = strdup(base);
        char *slash = parent ? strrchr(parent, '/') : NULL;
        if (slash) *slash = '\0';
        if (!parent || cs_mkdir_p(parent) != 0) {
            fprintf(stderr, "cuseg convert: FAILED %s: cannot create %s: %s\n", src, parent ? parent : out_dir,
                    strerror(errno));
            ++failed;
        } else if (convert_file(src, base, &labels) != 0) {
            ++failed;
        }
        free(parent);
        free(src);
        free(base);
        free(rel[i]);
    }
    free(rel);
    if (!quiet) printf("%d converted, %d failed\n", n - failed, failed);
    cs_labelme_classes_free(&labels);
    return failed || n == 0 ? 1 : 0;
}
