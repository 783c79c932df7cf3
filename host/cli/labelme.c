/* cuseg convert labelme IN.json|DIR -o OUT_DIR --labels labels.txt
 *
 * labelme JSON annotations to class-index PNGs, drawn exactly as labelme's
 * shapes_to_label / shape_to_mask (labelme/_utils/shape.py) with Pillow 13's
 * rasterisers (cli/pil_draw.c): shapes in file order, later ones on top. */
#define _GNU_SOURCE
#include <cjson/cJSON.h> /* the system path: cuseg keeps its cJSON include directory private */
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/fs.h"
#include "cli/cli.h"
#include "cli/pil_draw.h"
#include "io/image.h"

typedef struct label_map {
    char **names;
    int *values;
    int n;
    int max_value;
} label_map;

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

static int read_labels(const char *path, label_map *m) {
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "cuseg convert: cannot read %s: %s\n", path, strerror(errno));
        return -1;
    }
    char line[1024];
    int ignore_first = 0, cap = 0;
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n")] = '\0';
        if (!line[0]) continue;
        if (m->n == cap) {
            cap = cap ? 2 * cap : 64;
            char **nn = realloc(m->names, sizeof(char *) * (size_t)cap);
            int *nv = nn ? realloc(m->values, sizeof(int) * (size_t)cap) : NULL;
            if (nn) m->names = nn;
            if (!nv) {
                fclose(f);
                return -1;
            }
            m->values = nv;
        }
        if (m->n == 0 && !strcmp(line, "__ignore__")) ignore_first = 1;
        m->names[m->n] = strdup(line);
        m->values[m->n] = ignore_first ? (m->n == 0 ? 255 : m->n - 1) : m->n;
        if (m->values[m->n] > m->max_value) m->max_value = m->values[m->n];
        ++m->n;
    }
    fclose(f);
    if (m->n == 0) {
        fprintf(stderr, "cuseg convert: %s lists no labels\n", path);
        return -1;
    }
    return 0;
}

static char *read_text(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    for (size_t got; buf && (got = fread(buf + n, 1, cap - n - 1, f)) > 0;) {
        n += got;
        if (n + 1 == cap) {
            char *p = realloc(buf, cap *= 2);
            if (!p) free(buf);
            buf = p;
        }
    }
    fclose(f);
    if (buf) buf[n] = '\0';
    return buf;
}

/* Python's float % 360 (the result takes the sign of the divisor). */
static double py_mod360(double x) {
    double r = fmod(x, 360.0);
    if (r != 0.0 && r < 0.0) r += 360.0;
    return r == 0.0 ? 0.0 : r;
}

static const double kDegToRad = M_PI / 180.0, kRadToDeg = 180.0 / M_PI;

/* ImageDraw.line(xy, width=width, joint="curve") as Pillow 13 draws it. */
static int draw_curve_line(cs_canvas *im, const double *xy, int n, int width, int ink) {
    cs_draw_lines(im, xy, n, width, ink);
    if (width <= 4) return 0;
    for (int i = 1; i < n - 1; ++i) {
        const double *point = xy + 2 * i;
        double angles[2];
        for (int k = 0; k < 2; ++k) {
            const double *start = xy + 2 * (i - 1 + k), *end = xy + 2 * (i + k);
            angles[k] = py_mod360(atan2(end[0] - start[0], start[1] - end[1]) * kRadToDeg);
        }
        if (angles[0] == angles[1]) continue; /* straight: no joint */
        const int flipped = (angles[1] > angles[0] && angles[1] - 180 > angles[0]) ||
                            (angles[1] < angles[0] && angles[1] + 180 > angles[0]);
        const double c0x = point[0] - width / 2.0 + 1, c0y = point[1] - width / 2.0 + 1;
        const double c1x = point[0] + width / 2.0 - 1, c1y = point[1] + width / 2.0 - 1;
        double start, end;
        if (flipped) start = angles[1] + 90, end = angles[0] + 90;
        else start = angles[0] - 90, end = angles[1] - 90;
        if (cs_draw_pieslice(im, c0x, c0y, c1x, c1y, (float)(start - 90), (float)(end - 90), ink) != 0) return -1;
        if (width > 8) { /* cover gaps between the line and the joint */
            double gap[6];
            for (int k = 0; k < 2; ++k) {
                double angle = (flipped ? angles[k] + 90 : angles[k] - 90) - 90;
                const double distance = width / 2.0 - 1;
                const double pdx = distance * cos(angle * kDegToRad), pdy = distance * sin(angle * kDegToRad);
                double *g = gap + (k ? 4 : 0);
                g[0] = point[0] + (pdx > 0 ? floor(pdx) : ceil(pdx));
                g[1] = point[1] + (pdy > 0 ? floor(pdy) : ceil(pdy));
            }
            gap[2] = point[0], gap[3] = point[1];
            cs_draw_lines(im, gap, 3, 3, ink);
        }
    }
    return 0;
}

/* shape_to_mask: draws one shape with ink 1 into a cleared canvas. NULL or
 * the reason it cannot be drawn (static text). */
static const char *shape_to_mask(cs_canvas *im, const char *type, const double *xy, int n) {
    memset(im->p, 0, (size_t)im->w * im->h);
    if (!type || !strcmp(type, "polygon")) {
        if (n <= 2) return "a polygon needs more than 2 points";
        return cs_draw_polygon(im, xy, n, 1) == 0 ? NULL : "out of memory";
    }
    if (!strcmp(type, "oriented_rectangle")) {
        if (n != 4) return "an oriented_rectangle needs 4 points";
        return cs_draw_polygon(im, xy, n, 1) == 0 ? NULL : "out of memory";
    }
    if (!strcmp(type, "rectangle")) {
        if (n != 2) return "a rectangle needs 2 points";
        cs_draw_rectangle(im, fmin(xy[0], xy[2]), fmin(xy[1], xy[3]), fmax(xy[0], xy[2]), fmax(xy[1], xy[3]), 1);
        return NULL;
    }
    if (!strcmp(type, "circle")) {
        if (n != 2) return "a circle needs 2 points";
        const double cx = xy[0], cy = xy[1], d = sqrt((cx - xy[2]) * (cx - xy[2]) + (cy - xy[3]) * (cy - xy[3]));
        cs_draw_ellipse(im, cx - d, cy - d, cx + d, cy + d, 1);
        return NULL;
    }
    if (!strcmp(type, "point")) {
        if (n != 1) return "a point needs 1 point";
        const double r = 5; /* labelme's point_size */
        cs_draw_ellipse(im, xy[0] - r, xy[1] - r, xy[0] + r, xy[1] + r, 1);
        return NULL;
    }
    if (!strcmp(type, "line")) {
        if (n != 2) return "a line needs 2 points";
        cs_draw_lines(im, xy, n, 10, 1); /* labelme's line_width */
        return NULL;
    }
    if (!strcmp(type, "linestrip")) return draw_curve_line(im, xy, n, 10, 1) == 0 ? NULL : "out of memory";
    return "unsupported shape_type";
}

static int lookup(const label_map *m, const char *name) {
    for (int i = 0; i < m->n; ++i)
        if (!strcmp(m->names[i], name)) return m->values[i];
    return -1;
}

/* Converts one JSON file; prints the reason and returns -1 on failure. */
static int convert_file(const char *json_path, const char *out_base, const label_map *labels) {
    char *text = read_text(json_path);
    if (!text) {
        fprintf(stderr, "cuseg convert: FAILED %s: %s\n", json_path, strerror(errno ? errno : ENOMEM));
        return -1;
    }
    cJSON *root = cJSON_Parse(text);
    const char *err_at = root ? NULL : cJSON_GetErrorPtr();
    const long err_offset = err_at && err_at >= text ? (long)(err_at - text) : -1L;
    free(text);
    int rc = -1;
    uint8_t *mask = NULL;
    int32_t *cls = NULL;
    const cJSON *jh = root ? cJSON_GetObjectItemCaseSensitive(root, "imageHeight") : NULL;
    const cJSON *jw = root ? cJSON_GetObjectItemCaseSensitive(root, "imageWidth") : NULL;
    const cJSON *shapes = root ? cJSON_GetObjectItemCaseSensitive(root, "shapes") : NULL;
    int h = cJSON_IsNumber(jh) ? jh->valueint : 0, w = cJSON_IsNumber(jw) ? jw->valueint : 0;
    if (!root) {
        fprintf(stderr, "cuseg convert: FAILED %s: not valid JSON (near byte %ld)\n", json_path, err_offset);
        return -1;
    }
    if (h <= 0 || w <= 0 || (size_t)h * w > ((size_t)1 << 28) || !cJSON_IsArray(shapes)) {
        fprintf(stderr, "cuseg convert: FAILED %s: needs imageHeight, imageWidth (positive) and a shapes array\n",
                json_path);
        goto done;
    }
    mask = malloc((size_t)h * w);
    cls = calloc((size_t)h * w, sizeof(int32_t));
    if (!mask || !cls) {
        fprintf(stderr, "cuseg convert: FAILED %s: out of memory\n", json_path);
        goto done;
    }
    cs_canvas canvas = {mask, w, h};
    int index = 0;
    const cJSON *s;
    cJSON_ArrayForEach(s, shapes) {
        const cJSON *label = cJSON_GetObjectItemCaseSensitive(s, "label");
        const cJSON *points = cJSON_GetObjectItemCaseSensitive(s, "points");
        const cJSON *type = cJSON_GetObjectItemCaseSensitive(s, "shape_type");
        const int n = cJSON_GetArraySize(points);
        if (!cJSON_IsString(label) || !cJSON_IsArray(points) || (type && !cJSON_IsString(type) && !cJSON_IsNull(type))) {
            fprintf(stderr, "cuseg convert: FAILED %s: shape %d needs a label string and a points array\n", json_path,
                    index);
            goto done;
        }
        const int value = lookup(labels, label->valuestring);
        if (value < 0) {
            fprintf(stderr, "cuseg convert: FAILED %s: shape %d has label '%s', which the label list does not name\n",
                    json_path, index, label->valuestring);
            goto done;
        }
        double *xy = malloc(sizeof(double) * 2 * (size_t)(n + 1));
        int k = 0, bad = !xy;
        const cJSON *p;
        cJSON_ArrayForEach(p, points) {
            const cJSON *x = cJSON_GetArrayItem(p, 0), *y = cJSON_GetArrayItem(p, 1);
            if (!xy || !cJSON_IsNumber(x) || !cJSON_IsNumber(y)) {
                bad = 1;
                break;
            }
            xy[2 * k] = x->valuedouble;
            xy[2 * k + 1] = y->valuedouble;
            ++k;
        }
        const char *why = bad ? "points must be [x, y] number pairs"
                              : shape_to_mask(&canvas, cJSON_IsString(type) ? type->valuestring : NULL, xy, n);
        free(xy);
        if (why) {
            fprintf(stderr, "cuseg convert: FAILED %s: shape %d (%s, '%s'): %s\n", json_path, index,
                    cJSON_IsString(type) ? type->valuestring : "polygon", label->valuestring, why);
            goto done;
        }
        for (size_t i = 0; i < (size_t)h * w; ++i)
            if (mask[i]) cls[i] = value;
        ++index;
    }
    {
        const int wide = labels->max_value > 255;
        void *out = malloc((size_t)h * w * (wide ? 2 : 1));
        if (!out) {
            fprintf(stderr, "cuseg convert: FAILED %s: out of memory\n", json_path);
            goto done;
        }
        for (size_t i = 0; i < (size_t)h * w; ++i) {
            if (wide) ((uint16_t *)out)[i] = (uint16_t)cls[i];
            else ((uint8_t *)out)[i] = (uint8_t)cls[i];
        }
        char *color = NULL, *index_png = NULL;
        uint8_t pal[768];
        voc_palette(pal);
        if (asprintf(&color, "%s_color.png", out_base) < 0) color = NULL;
        if (asprintf(&index_png, "%s.png", out_base) < 0) index_png = NULL;
        if (!color || !index_png) {
            fprintf(stderr, "cuseg convert: FAILED %s: out of memory\n", json_path);
        } else if ((!wide && cs_png_write(color, out, h, w, 1, 8, pal) != CUSEG_OK) ||
                   cs_png_write(index_png, out, h, w, 1, wide ? 16 : 8, NULL) != CUSEG_OK) {
            fprintf(stderr, "cuseg convert: FAILED %s: %s\n", json_path, cuseg_last_error());
        } else {
            rc = 0;
        }
        free(color);
        free(index_png);
        free(out);
    }
done:
    free(mask);
    free(cls);
    cJSON_Delete(root);
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
    label_map labels = {0};
    if (read_labels(labels_path, &labels) != 0) return 1;
    if (labels.max_value > 65535) {
        fprintf(stderr, "cuseg convert: more than 65536 labels\n");
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
    for (int i = 0; i < labels.n; ++i) free(labels.names[i]);
    free(labels.names);
    free(labels.values);
    return failed || n == 0 ? 1 : 0;
}
