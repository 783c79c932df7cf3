/* labelme JSON to class indices (see labelme.h). */
#define _GNU_SOURCE
#include "io/labelme.h"

#include <cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/status.h"
#include "io/pil_draw.h"

void cs_labelme_classes_free(cs_labelme_classes *c) {
    if (!c) return;
    for (int i = 0; i < c->n; ++i) free(c->names[i]);
    free(c->names);
    free(c->values);
    memset(c, 0, sizeof *c);
}

static cuseg_status add_class(cs_labelme_classes *c, const char *name, size_t len, int ignore_value, int *cap) {
    if (c->n == *cap) {
        *cap = *cap ? 2 * *cap : 64;
        char **nn = realloc(c->names, sizeof(char *) * (size_t)*cap);
        if (nn) c->names = nn;
        int *nv = nn ? realloc(c->values, sizeof(int) * (size_t)*cap) : NULL;
        if (!nv) return cs_error(CUSEG_ERR_OUT_OF_MEMORY, "labelme classes: out of memory");
        c->values = nv;
    }
    if (c->n == 0 && len == 10 && !strncmp(name, "__ignore__", len)) c->has_ignore = 1;
    if (!(c->names[c->n] = strndup(name, len))) return cs_error(CUSEG_ERR_OUT_OF_MEMORY, "labelme classes: out of memory");
    c->values[c->n] = c->has_ignore ? (c->n == 0 ? ignore_value : c->n - 1) : c->n;
    if (c->values[c->n] > c->max_value) c->max_value = c->values[c->n];
    ++c->n;
    return CUSEG_OK;
}

cuseg_status cs_labelme_classes_read(const char *path, int ignore_value, cs_labelme_classes *out) {
    CS_CHECK_ARG(path && out, "cs_labelme_classes_read: NULL argument");
    memset(out, 0, sizeof *out);
    FILE *f = fopen(path, "r");
    if (!f) return cs_error(CUSEG_ERR_IO, "%s: cannot read the label list: %s", path, strerror(errno));
    char line[1024];
    int cap = 0;
    cuseg_status st = CUSEG_OK;
    while (st == CUSEG_OK && fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n")] = '\0';
        if (line[0]) st = add_class(out, line, strlen(line), ignore_value, &cap);
    }
    fclose(f);
    if (st == CUSEG_OK && cs_labelme_class_count(out) == 0) st = cs_error(CUSEG_ERR_FORMAT, "%s lists no labels", path);
    if (st != CUSEG_OK) cs_labelme_classes_free(out);
    return st;
}

cuseg_status cs_labelme_classes_parse(const char *list, int ignore_value, cs_labelme_classes *out) {
    CS_CHECK_ARG(list && out, "cs_labelme_classes_parse: NULL argument");
    memset(out, 0, sizeof *out);
    int cap = 0;
    cuseg_status st = CUSEG_OK;
    for (const char *p = list; st == CUSEG_OK && *p;) {
        const size_t len = strcspn(p, ",");
        if (len == 0) st = cs_error(CUSEG_ERR_INVALID_ARGUMENT, "class names '%s': empty name", list);
        else st = add_class(out, p, len, ignore_value, &cap);
        p += len;
        if (*p == ',') ++p;
    }
    if (st == CUSEG_OK && cs_labelme_class_count(out) == 0)
        st = cs_error(CUSEG_ERR_INVALID_ARGUMENT, "class names '%s': no classes", list);
    if (st != CUSEG_OK) cs_labelme_classes_free(out);
    return st;
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

static int lookup(const cs_labelme_classes *m, const char *name) {
    for (int i = 0; i < m->n; ++i)
        if (!strcmp(m->names[i], name)) return m->values[i];
    return -1;
}

cuseg_status cs_labelme_rasterize(const char *json_path, const cs_labelme_classes *classes, int32_t **out, int *h_out,
                                  int *w_out) {
    CS_CHECK_ARG(json_path && classes && out && h_out && w_out, "cs_labelme_rasterize: NULL argument");
    *out = NULL;
    errno = 0;
    char *text = read_text(json_path);
    if (!text) return cs_error(CUSEG_ERR_IO, "%s: %s", json_path, strerror(errno ? errno : ENOMEM));
    cJSON *root = cJSON_Parse(text);
    const char *err_at = root ? NULL : cJSON_GetErrorPtr();
    const long err_offset = err_at && err_at >= text ? (long)(err_at - text) : -1L;
    free(text);
    if (!root) return cs_error(CUSEG_ERR_FORMAT, "%s: not valid JSON (near byte %ld)", json_path, err_offset);
    cuseg_status st = CUSEG_OK;
    uint8_t *mask = NULL;
    int32_t *cls = NULL;
    const cJSON *jh = cJSON_GetObjectItemCaseSensitive(root, "imageHeight");
    const cJSON *jw = cJSON_GetObjectItemCaseSensitive(root, "imageWidth");
    const cJSON *shapes = cJSON_GetObjectItemCaseSensitive(root, "shapes");
    const int h = cJSON_IsNumber(jh) ? jh->valueint : 0, w = cJSON_IsNumber(jw) ? jw->valueint : 0;
    if (h <= 0 || w <= 0 || (size_t)h * w > ((size_t)1 << 28) || !cJSON_IsArray(shapes)) {
        st = cs_error(CUSEG_ERR_FORMAT, "%s: needs imageHeight, imageWidth (positive) and a shapes array", json_path);
        goto done;
    }
    mask = malloc((size_t)h * w);
    cls = calloc((size_t)h * w, sizeof(int32_t));
    if (!mask || !cls) {
        st = cs_error(CUSEG_ERR_OUT_OF_MEMORY, "%s: out of memory", json_path);
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
            st = cs_error(CUSEG_ERR_FORMAT, "%s: shape %d needs a label string and a points array", json_path, index);
            goto done;
        }
        const int value = lookup(classes, label->valuestring);
        if (value < 0) {
            st = cs_error(CUSEG_ERR_FORMAT, "%s: shape %d has label '%s', which the label list does not name",
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
            st = cs_error(CUSEG_ERR_FORMAT, "%s: shape %d (%s, '%s'): %s", json_path, index,
                          cJSON_IsString(type) ? type->valuestring : "polygon", label->valuestring, why);
            goto done;
        }
        for (size_t i = 0; i < (size_t)h * w; ++i)
            if (mask[i]) cls[i] = value;
        ++index;
    }
    *out = cls;
    cls = NULL;
    *h_out = h;
    *w_out = w;
done:
    free(mask);
    free(cls);
    cJSON_Delete(root);
    return st;
}
