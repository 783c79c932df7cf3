/* The rasterisers of Pillow's ImageDraw (libImaging/Draw.c, Pillow 13) on an
 * 8-bit canvas, so that labelme JSON (io/labelme.c) is drawn every pixel exactly as
 * labelme's shape_to_mask does. Coordinates are truncated to int as Pillow's
 * Python bindings do. */
#ifndef CS_IO_PIL_DRAW_H
#define CS_IO_PIL_DRAW_H

#include <stdint.h>

typedef struct cs_canvas {
    uint8_t *p; /* h rows of w bytes */
    int w, h;
} cs_canvas;

/* ImageDraw.polygon(xy, fill=ink) (an outline of the same ink adds nothing).
 * xy: n (x, y) pairs. Returns -1 when out of memory. */
int cs_draw_polygon(cs_canvas *im, const double *xy, int n, int ink);
/* ImageDraw.rectangle(((x0, y0), (x1, y1)), fill=ink), x0 <= x1, y0 <= y1. */
void cs_draw_rectangle(cs_canvas *im, double x0, double y0, double x1, double y1, int ink);
/* ImageDraw.ellipse(((x0, y0), (x1, y1)), fill=ink). */
void cs_draw_ellipse(cs_canvas *im, double x0, double y0, double x1, double y1, int ink);
/* ImageDraw.pieslice(((x0, y0), (x1, y1)), start, end, fill=ink). */
int cs_draw_pieslice(cs_canvas *im, double x0, double y0, double x1, double y1, float start, float end, int ink);
/* The C part of ImageDraw.line(xy, fill=ink, width=width) (no joints). */
void cs_draw_lines(cs_canvas *im, const double *xy, int n, int width, int ink);

#endif
