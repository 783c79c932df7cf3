/* A port of the parts of Pillow's libImaging/Draw.c (Pillow 13, commit
 * 4e5f09f5) that labelme's shape_to_mask uses, restricted to 8-bit images
 * without blending or masks. The arithmetic (float vs double, rounding
 * macros, integer divisions) is kept as in the original on purpose: the
 * point is pixel-for-pixel agreement.
 *
 * Original notice:
 *   The Python Imaging Library (PIL) is
 *     Copyright (c) 1997-2011 by Secret Labs AB
 *     Copyright (c) 1995-2011 by Fredrik Lundh and contributors
 *   Pillow is the friendly PIL fork. It is
 *     Copyright (c) 2010 by Jeffrey 'Alex' Clark and contributors
 *   Like PIL, Pillow is licensed under the open source MIT-CMU License:
 *
 *   Permission to use, copy, modify and distribute this software and its
 *   documentation for any purpose and without fee is hereby granted,
 *   provided that the above copyright notice appears in all copies, and that
 *   both that copyright notice and this permission notice appear in supporting
 *   documentation, and that the name of Secret Labs AB or the author not be
 *   used in advertising or publicity pertaining to distribution of the software
 *   without specific, written prior permission.
 *
 *   SECRET LABS AB AND THE AUTHOR DISCLAIMS ALL WARRANTIES WITH REGARD TO THIS
 *   SOFTWARE, INCLUDING ALL IMPLIED WARRANTIES OF MERCHANTABILITY AND FITNESS.
 *   IN NO EVENT SHALL SECRET LABS AB OR THE AUTHOR BE LIABLE FOR ANY SPECIAL,
 *   INDIRECT OR CONSEQUENTIAL DAMAGES OR ANY DAMAGES WHATSOEVER RESULTING FROM
 *   LOSS OF USE, DATA OR PROFITS, WHETHER IN AN ACTION OF CONTRACT, NEGLIGENCE
 *   OR OTHER TORTIOUS ACTION, ARISING OUT OF OR IN CONNECTION WITH THE USE OR
 *   PERFORMANCE OF THIS SOFTWARE.
 */
#include "io/pil_draw.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#ifndef M_PI
#define M_PI 3.14159265358979323846
#endif

#define ROUND_UP(f) ((int)((f) >= 0.0 ? floor((f) + 0.5F) : -floor(fabs(f) + 0.5F)))
#define ROUND_DOWN(f) ((int)((f) >= 0.0 ? ceil((f) - 0.5F) : -ceil(fabs(f) - 0.5F)))

typedef struct {
    int d;
    int x0, y0;
    int xmin, ymin, xmax, ymax;
    float dx;
} Edge;

static void point8(cs_canvas *im, int x, int y, int ink) {
    if (x >= 0 && x < im->w && y >= 0 && y < im->h) im->p[(size_t)y * im->w + x] = (uint8_t)ink;
}

static void hline8(cs_canvas *im, int x0, int y0, int x1, int ink) {
    if (y0 >= 0 && y0 < im->h) {
        if (x0 < 0) x0 = 0;
        else if (x0 >= im->w) return;
        if (x1 < 0) return;
        else if (x1 >= im->w) x1 = im->w - 1;
        if (x0 <= x1) memset(im->p + (size_t)y0 * im->w + x0, (uint8_t)ink, (size_t)(x1 - x0 + 1));
    }
}

static void line8(cs_canvas *im, int x0, int y0, int x1, int y1, int ink) {
    int i, n, e, dx, dy, xs, ys;
    dx = x1 - x0;
    if (dx < 0) dx = -dx, xs = -1;
    else xs = 1;
    dy = y1 - y0;
    if (dy < 0) dy = -dy, ys = -1;
    else ys = 1;
    n = (dx > dy) ? dx : dy;
    if (dx == 0) {
        for (i = 0; i < dy; i++) {
            point8(im, x0, y0, ink);
            y0 += ys;
        }
    } else if (dy == 0) {
        for (i = 0; i < dx; i++) {
            point8(im, x0, y0, ink);
            x0 += xs;
        }
    } else if (dx > dy) {
        n = dx;
        dy += dy;
        e = dy - dx;
        dx += dx;
        for (i = 0; i < n; i++) {
            point8(im, x0, y0, ink);
            if (e >= 0) {
                y0 += ys;
                e -= dx;
            }
            e += dy;
            x0 += xs;
        }
    } else {
        n = dy;
        dx += dx;
        e = dx - dy;
        dy += dy;
        for (i = 0; i < n; i++) {
            point8(im, x0, y0, ink);
            if (e >= 0) {
                x0 += xs;
                e -= dy;
            }
            e += dx;
            y0 += ys;
        }
    }
}

static int x_cmp(const void *x0, const void *x1) {
    float diff = *((const float *)x0) - *((const float *)x1);
    return diff < 0 ? -1 : diff > 0 ? 1 : 0;
}

/* Scan-line polygon fill (polygon_generic without the RGBA branch). */
static int polygon_generic(cs_canvas *im, int n, Edge *e, int ink) {
    Edge **edge_table;
    float *xx;
    int edge_count = 0;
    int ymin = im->h - 1;
    int ymax = 0;
    int i, j, k;
    float adjacent_line_x, adjacent_line_x_other_edge;
    if (n <= 0) return 0;
    edge_table = calloc((size_t)n, sizeof(Edge *));
    if (!edge_table) return -1;
    for (i = 0; i < n; i++) {
        if (ymin > e[i].ymin) ymin = e[i].ymin;
        if (ymax < e[i].ymax) ymax = e[i].ymax;
        if (e[i].ymin == e[i].ymax) {
            hline8(im, e[i].xmin, e[i].ymin, e[i].xmax, ink);
            continue;
        }
        edge_table[edge_count++] = (e + i);
    }
    if (ymin < 0) ymin = 0;
    if (ymax > im->h) ymax = im->h;
    xx = calloc((size_t)edge_count * 2 + 1, sizeof(float));
    if (!xx) {
        free(edge_table);
        return -1;
    }
    for (; ymin <= ymax; ymin++) {
        j = 0;
        for (i = 0; i < edge_count; i++) {
            Edge *current = edge_table[i];
            if (ymin >= current->ymin && ymin <= current->ymax) {
                xx[j++] = (ymin - current->y0) * current->dx + current->x0;
                if (ymin == current->ymax && ymin < ymax) {
                    /* Needed to draw consistent polygons */
                    xx[j] = xx[j - 1];
                    j++;
                } else if ((ymin == current->ymin || ymin == current->ymax) && current->dx != 0) {
                    /* Connect discontiguous corners */
                    for (k = 0; k < i; k++) {
                        Edge *other_edge = edge_table[k];
                        if ((ymin != other_edge->ymin && ymin != other_edge->ymax) || other_edge->dx == 0) continue;
                        /* Check if the two edges join to make a corner */
                        if (roundf(xx[j - 1]) == roundf((ymin - other_edge->y0) * other_edge->dx + other_edge->x0)) {
                            /* Points from the edges on the next row, or the previous one on the last row */
                            int offset = ymin == current->ymax ? -1 : 1;
                            adjacent_line_x = (ymin + offset - current->y0) * current->dx + current->x0;
                            if (ymin + offset >= other_edge->ymin && ymin + offset <= other_edge->ymax) {
                                adjacent_line_x_other_edge =
                                    (ymin + offset - other_edge->y0) * other_edge->dx + other_edge->x0;
                                if (xx[j - 1] > adjacent_line_x + 1 && xx[j - 1] > adjacent_line_x_other_edge + 1) {
                                    xx[j - 1] = roundf(fmax(adjacent_line_x, adjacent_line_x_other_edge)) + 1;
                                } else if (xx[j - 1] < adjacent_line_x - 1 &&
                                           xx[j - 1] < adjacent_line_x_other_edge - 1) {
                                    xx[j - 1] = roundf(fmin(adjacent_line_x, adjacent_line_x_other_edge)) - 1;
                                }
                                break;
                            }
                        }
                    }
                }
            }
        }
        qsort(xx, (size_t)j, sizeof(float), x_cmp);
        for (i = 1; i < j; i += 2) hline8(im, ROUND_UP(xx[i - 1]), ymin, ROUND_DOWN(xx[i]), ink);
    }
    free(xx);
    free(edge_table);
    return 0;
}

static void add_edge(Edge *e, int x0, int y0, int x1, int y1) {
    if (x0 <= x1) e->xmin = x0, e->xmax = x1;
    else e->xmin = x1, e->xmax = x0;
    if (y0 <= y1) e->ymin = y0, e->ymax = y1;
    else e->ymin = y1, e->ymax = y0;
    if (y0 == y1) {
        e->d = 0;
        e->dx = 0.0;
    } else {
        e->dx = ((float)(x1 - x0)) / (y1 - y0);
        e->d = y0 == e->ymin ? 1 : -1;
    }
    e->x0 = x0;
    e->y0 = y0;
}

static void draw_wide_line(cs_canvas *im, int x0, int y0, int x1, int y1, int ink, int width) {
    int dx, dy;
    double big_hypotenuse, small_hypotenuse, ratio_max, ratio_min;
    int dxmin, dxmax, dymin, dymax;
    Edge e[4];
    dx = x1 - x0;
    dy = y1 - y0;
    if (dx == 0 && dy == 0) {
        point8(im, x0, y0, ink);
        return;
    }
    big_hypotenuse = hypot(dx, dy);
    small_hypotenuse = (width - 1) / 2.0;
    ratio_max = ROUND_UP(small_hypotenuse) / big_hypotenuse;
    ratio_min = ROUND_DOWN(small_hypotenuse) / big_hypotenuse;
    dxmin = ROUND_DOWN(ratio_min * dy);
    dxmax = ROUND_DOWN(ratio_max * dy);
    dymin = ROUND_DOWN(ratio_min * dx);
    dymax = ROUND_DOWN(ratio_max * dx);
    const int v[4][2] = {{x0 - dxmin, y0 + dymax}, {x1 - dxmin, y1 + dymax}, {x1 + dxmax, y1 - dymin},
                         {x0 + dxmax, y0 - dymin}};
    add_edge(e + 0, v[0][0], v[0][1], v[1][0], v[1][1]);
    add_edge(e + 1, v[1][0], v[1][1], v[2][0], v[2][1]);
    add_edge(e + 2, v[2][0], v[2][1], v[3][0], v[3][1]);
    add_edge(e + 3, v[3][0], v[3][1], v[0][0], v[0][1]);
    polygon_generic(im, 4, e, ink);
}

int cs_draw_polygon(cs_canvas *im, const double *xyd, int count, int ink) {
    int i, n, x0, y0, x1, y1;
    if (count <= 0) return 0;
    int *xy = malloc(sizeof(int) * 2 * (size_t)count);
    Edge *e = calloc((size_t)count, sizeof(Edge));
    if (!xy || !e) {
        free(xy);
        free(e);
        return -1;
    }
    for (i = 0; i < 2 * count; i++) xy[i] = (int)xyd[i]; /* _imaging.c's (int) casts */
    for (i = n = 0; i < count - 1; i++) {
        x0 = xy[i * 2];
        y0 = xy[i * 2 + 1];
        x1 = xy[i * 2 + 2];
        y1 = xy[i * 2 + 3];
        if (y0 == y1 && i != 0 && y0 == xy[i * 2 - 1]) {
            /* A horizontal line that immediately follows another horizontal line */
            Edge *last_e = &e[n - 1];
            if (x1 > x0 && x0 > xy[i * 2 - 2]) {
                last_e->xmax = x1;
                continue;
            } else if (x1 < x0 && x0 < xy[i * 2 - 2]) {
                last_e->xmin = x1;
                continue;
            }
        }
        add_edge(&e[n++], x0, y0, x1, y1);
    }
    if (xy[i * 2] != xy[0] || xy[i * 2 + 1] != xy[1]) add_edge(&e[n++], xy[i * 2], xy[i * 2 + 1], xy[0], xy[1]);
    const int rc = polygon_generic(im, n, e, ink);
    free(e);
    free(xy);
    return rc;
}

void cs_draw_rectangle(cs_canvas *im, double fx0, double fy0, double fx1, double fy1, int ink) {
    int x0 = (int)fx0, y0 = (int)fy0, x1 = (int)fx1, y1 = (int)fy1, tmp;
    if (y0 > y1) tmp = y0, y0 = y1, y1 = tmp;
    if (y0 < 0) y0 = 0;
    else if (y0 >= im->h) return;
    if (y1 < 0) return;
    else if (y1 > im->h) y1 = im->h;
    for (int y = y0; y <= y1; y++) hline8(im, x0, y, x1, ink);
}

void cs_draw_lines(cs_canvas *im, const double *xy, int n, int width, int ink) {
    if (width == 1) {
        const double *p = NULL;
        for (int i = 0; i < n - 1; i++) {
            p = &xy[i + i];
            line8(im, (int)p[0], (int)p[1], (int)p[2], (int)p[3], ink);
        }
        if (p) point8(im, (int)p[2], (int)p[3], ink); /* last point */
    } else {
        for (int i = 0; i < n - 1; i++) {
            const double *p = &xy[i + i];
            draw_wide_line(im, (int)p[0], (int)p[1], (int)p[2], (int)p[3], ink, width);
        }
    }
}

/* ---------------------------------------------------------------- ellipses */

/* A quarter of an ellipse with semi-axes a, b on the grid {(2x+x0, 2y+y0)}. */
typedef struct {
    int32_t a, b, cx, cy, ex, ey;
    int64_t a2, b2, a2b2;
    int8_t finished;
} quarter_state;

static void quarter_init(quarter_state *s, int32_t a, int32_t b) {
    if (a < 0 || b < 0) {
        s->finished = 1;
    } else {
        s->a = a;
        s->b = b;
        s->cx = a;
        s->cy = b % 2;
        s->ex = a % 2;
        s->ey = b;
        s->a2 = (int64_t)a * a;
        s->b2 = (int64_t)b * b;
        s->a2b2 = s->a2 * s->b2;
        s->finished = 0;
    }
}

static int64_t quarter_delta(quarter_state *s, int64_t x, int64_t y) {
    return llabs(s->a2 * y * y + s->b2 * x * x - s->a2b2);
}

static int8_t quarter_next(quarter_state *s, int32_t *ret_x, int32_t *ret_y) {
    if (s->finished) return -1;
    *ret_x = s->cx;
    *ret_y = s->cy;
    if (s->cx == s->ex && s->cy == s->ey) {
        s->finished = 1;
    } else {
        int32_t nx = s->cx;
        int32_t ny = s->cy + 2;
        int64_t ndelta = quarter_delta(s, nx, ny);
        if (nx > 1) {
            int64_t newdelta = quarter_delta(s, s->cx - 2, s->cy + 2);
            if (ndelta > newdelta) {
                nx = s->cx - 2;
                ny = s->cy + 2;
                ndelta = newdelta;
            }
            newdelta = quarter_delta(s, s->cx - 2, s->cy);
            if (ndelta > newdelta) {
                nx = s->cx - 2;
                ny = s->cy;
            }
        }
        s->cx = nx;
        s->cy = ny;
    }
    return 0;
}

typedef struct {
    quarter_state st_o, st_i;
    int32_t py, pl, pr;
    int32_t cy[4], cl[4], cr[4];
    int8_t bufcnt;
    int8_t finished;
    int8_t leftmost;
} ellipse_state;

static void ellipse_init(ellipse_state *s, int32_t a, int32_t b, int32_t w) {
    s->bufcnt = 0;
    s->leftmost = a % 2;
    quarter_init(&s->st_o, a, b);
    if (w < 1 || quarter_next(&s->st_o, &s->pr, &s->py) == -1) {
        s->finished = 1;
    } else {
        s->finished = 0;
        quarter_init(&s->st_i, a - 2 * (w - 1), b - 2 * (w - 1));
        s->pl = s->leftmost;
    }
}

static int8_t ellipse_next(ellipse_state *s, int32_t *ret_x0, int32_t *ret_y, int32_t *ret_x1) {
    if (s->bufcnt == 0) {
        if (s->finished) return -1;
        int32_t y = s->py;
        int32_t l = s->pl;
        int32_t r = s->pr;
        int32_t cx = 0, cy = 0;
        int8_t next_ret;
        while ((next_ret = quarter_next(&s->st_o, &cx, &cy)) != -1 && cy <= y) {
        }
        if (next_ret == -1) {
            s->finished = 1;
        } else {
            s->pr = cx;
            s->py = cy;
        }
        while ((next_ret = quarter_next(&s->st_i, &cx, &cy)) != -1 && cy <= y) l = cx;
        s->pl = next_ret == -1 ? s->leftmost : cx;
        if ((l > 0 || l < r) && y > 0) {
            s->cl[s->bufcnt] = l == 0 ? 2 : l;
            s->cy[s->bufcnt] = y;
            s->cr[s->bufcnt] = r;
            ++s->bufcnt;
        }
        if (y > 0) {
            s->cl[s->bufcnt] = -r;
            s->cy[s->bufcnt] = y;
            s->cr[s->bufcnt] = -l;
            ++s->bufcnt;
        }
        if (l > 0 || l < r) {
            s->cl[s->bufcnt] = l == 0 ? 2 : l;
            s->cy[s->bufcnt] = -y;
            s->cr[s->bufcnt] = r;
            ++s->bufcnt;
        }
        s->cl[s->bufcnt] = -r;
        s->cy[s->bufcnt] = -y;
        s->cr[s->bufcnt] = -l;
        ++s->bufcnt;
    }
    --s->bufcnt;
    *ret_x0 = s->cl[s->bufcnt];
    *ret_y = s->cy[s->bufcnt];
    *ret_x1 = s->cr[s->bufcnt];
    return 0;
}

static void ellipse_new(cs_canvas *im, int x0, int y0, int x1, int y1, int ink, int fill, int width) {
    int a = x1 - x0;
    int b = y1 - y0;
    if (a < 0 || b < 0) return;
    if (fill) width = a + b;
    ellipse_state st;
    ellipse_init(&st, a, b, width);
    int32_t X0, Y, X1;
    while (ellipse_next(&st, &X0, &Y, &X1) != -1)
        hline8(im, x0 + (X0 + a) / 2, y0 + (Y + b) / 2, x0 + (X1 + a) / 2, ink);
}

void cs_draw_ellipse(cs_canvas *im, double x0, double y0, double x1, double y1, int ink) {
    ellipse_new(im, (int)x0, (int)y0, (int)x1, (int)y1, ink, 1, 0);
}

/* ---------------------------------------------------------------- pie slices */

typedef enum { CT_AND, CT_OR, CT_CLIP } clip_type;

typedef struct clip_node {
    clip_type type;
    double a, b, c;
    struct clip_node *l;
    struct clip_node *r;
} clip_node;

typedef struct event_list {
    int32_t x;
    int8_t type;
    struct event_list *next;
} event_list;

static int clip_tree_do_clip(clip_node *root, int32_t x0, int32_t y, int32_t x1, event_list **ret) {
    if (root == NULL || root->type == CT_CLIP) {
        if (root) {
            double eps = 1e-9;
            double A = root->a;
            double B = root->b;
            double C = root->c;
            if (fabs(A) < eps) {
                if (B * y + C < -eps) {
                    x0 = 1;
                    x1 = 0;
                }
            } else {
                double ix = -(B * y + C) / A;
                if (A * x0 + B * y + C < eps) x0 = lround(fmax(x0, ix));
                if (A * x1 + B * y + C < eps) x1 = lround(fmin(x1, ix));
            }
        }
        if (x0 <= x1) {
            event_list *start = malloc(sizeof(event_list));
            event_list *end = malloc(sizeof(event_list));
            if (!start || !end) {
                free(start);
                free(end);
                return -1;
            }
            start->x = x0;
            start->type = 1;
            start->next = end;
            end->x = x1;
            end->type = -1;
            end->next = NULL;
            *ret = start;
        } else {
            *ret = NULL;
        }
        return 0;
    }
    event_list *l1;
    event_list *l2;
    if (clip_tree_do_clip(root->l, x0, y, x1, &l1) < 0) return -1;
    if (clip_tree_do_clip(root->r, x0, y, x1, &l2) < 0) {
        while (l1) {
            l2 = l1->next;
            free(l1);
            l1 = l2;
        }
        return -1;
    }
    *ret = NULL;
    event_list *tail = NULL;
    int32_t k1 = 0;
    int32_t k2 = 0;
    while (l1 != NULL || l2 != NULL) {
        event_list *t;
        if (l2 == NULL || (l1 != NULL && (l1->x < l2->x || (l1->x == l2->x && l1->type > l2->type)))) {
            t = l1;
            k1 += t->type;
            l1 = l1->next;
        } else {
            t = l2;
            k2 += t->type;
            l2 = l2->next;
        }
        t->next = NULL;
        if ((root->type == CT_OR && ((t->type == 1 && (tail == NULL || tail->type == -1)) ||
                                     (t->type == -1 && k1 == 0 && k2 == 0))) ||
            (root->type == CT_AND &&
             ((t->type == 1 && (tail == NULL || tail->type == -1) && k1 > 0 && k2 > 0) ||
              (t->type == -1 && tail != NULL && tail->type == 1 && (k1 == 0 || k2 == 0))))) {
            if (tail == NULL) *ret = t;
            else tail->next = t;
            tail = t;
        } else {
            free(t);
        }
    }
    return 0;
}

typedef struct {
    ellipse_state st;
    clip_node *root;
    clip_node nodes[7];
    int32_t node_count;
    event_list *head;
    int32_t y;
} clip_ellipse_state;

/* Resulting angles satisfy 0 <= al < 360, al <= ar <= al + 360. */
static void normalize_angles(float *al, float *ar) {
    if (*ar - *al >= 360) {
        *al = 0;
        *ar = 360;
    } else {
        *al = fmod(*al < 0 ? 360 - (fmod(-*al, 360)) : *al, 360);
        *ar = *al + fmod(*ar < *al ? 360 - fmod(*al - *ar, 360) : *ar - *al, 360);
    }
}

static void pie_init(clip_ellipse_state *s, int32_t a, int32_t b, int32_t w, float al, float ar) {
    ellipse_init(&s->st, a, b, w);
    s->head = NULL;
    s->node_count = 0;
    double xl = a * cos(al * M_PI / 180.0), xr = a * cos(ar * M_PI / 180.0);
    double yl = b * sin(al * M_PI / 180.0), yr = b * sin(ar * M_PI / 180.0);
    clip_node *lc = s->nodes + s->node_count++;
    clip_node *rc = s->nodes + s->node_count++;
    lc->l = lc->r = rc->l = rc->r = NULL;
    lc->type = rc->type = CT_CLIP;
    lc->a = -yl;
    lc->b = xl;
    lc->c = 0;
    rc->a = yr;
    rc->b = -xr;
    rc->c = 0;
    s->root = s->nodes + s->node_count++;
    s->root->l = lc;
    s->root->r = rc;
    s->root->type = ar - al < 180 ? CT_AND : CT_OR;
    if (ar - al < 90) { /* one more half-plane to avoid spikes */
        clip_node *old_root = s->root;
        clip_node *spike_clipper = s->nodes + s->node_count++;
        s->root = s->nodes + s->node_count++;
        s->root->l = old_root;
        s->root->r = spike_clipper;
        s->root->type = CT_AND;
        spike_clipper->l = spike_clipper->r = NULL;
        spike_clipper->type = CT_CLIP;
        spike_clipper->a = (xl + xr) / 2.0;
        spike_clipper->b = (yl + yr) / 2.0;
        spike_clipper->c = 0;
    }
}

static void clip_ellipse_free(clip_ellipse_state *s) {
    while (s->head != NULL) {
        event_list *t = s->head;
        s->head = s->head->next;
        free(t);
    }
}

static int8_t clip_ellipse_next(clip_ellipse_state *s, int32_t *ret_x0, int32_t *ret_y, int32_t *ret_x1) {
    int32_t x0, y, x1;
    while (s->head == NULL && ellipse_next(&s->st, &x0, &y, &x1) >= 0) {
        if (clip_tree_do_clip(s->root, x0, y, x1, &s->head) < 0) return -2;
        s->y = y;
    }
    if (s->head != NULL) {
        *ret_y = s->y;
        event_list *t = s->head;
        s->head = s->head->next;
        *ret_x0 = t->x;
        free(t);
        t = s->head; /* events come in pairs */
        s->head = s->head->next;
        *ret_x1 = t->x;
        free(t);
        return 0;
    }
    return -1;
}

int cs_draw_pieslice(cs_canvas *im, double fx0, double fy0, double fx1, double fy1, float start, float end, int ink) {
    const int x0 = (int)fx0, y0 = (int)fy0, x1 = (int)fx1, y1 = (int)fy1;
    normalize_angles(&start, &end);
    if (start + 360 == end) {
        ellipse_new(im, x0, y0, x1, y1, ink, 1, 0);
        return 0;
    }
    if (start == end) return 0;
    const int a = x1 - x0, b = y1 - y0;
    if (a < 0 || b < 0) return 0;
    clip_ellipse_state st;
    pie_init(&st, a, b, x1 + y1 - x0 - y0, start, end);
    int32_t X0, Y, X1;
    int next_code;
    while ((next_code = clip_ellipse_next(&st, &X0, &Y, &X1)) >= 0)
        hline8(im, x0 + (X0 + a) / 2, y0 + (Y + b) / 2, x0 + (X1 + a) / 2, ink);
    clip_ellipse_free(&st);
    return next_code == -1 ? 0 : -1;
}
