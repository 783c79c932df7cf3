/* cuseg scenes: a procedural generator of labelled scenes (the data of the
 * bundled default model). Each scene has a sky (gradient and soft clouds)
 * above a wavy horizon, textured ground below, and a few discs, boxes and
 * triangles (hue ranges per class) of random sizes, shades and positions that occlude each other;
 * Gaussian noise on top. Classes: 0 sky, 1 ground, 2 disc, 3 box,
 * 4 triangle. Scene i depends only on (seed, i). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jpeglib.h>

#include "core/fs.h"
#include "cli/cli.h"
#include "io/image.h"
#include "train/augment.h"

enum { SKY, GROUND, DISC, BOX, TRIANGLE, N_CLASSES };
static const char *const class_names = "sky,ground,disc,box,triangle";
static const uint8_t palette_rgb[N_CLASSES][3] = {
    {70, 130, 180}, {110, 80, 40}, {220, 20, 60}, {250, 170, 30}, {0, 160, 80}};

static int usage(FILE *f, int code) {
    fprintf(f,
            "usage: cuseg scenes --out DIR [--count N (100)] [--size WxH (128x128)] [--seed S (0)]\n"
            "                    [--format png|jpg (png)] [--first I (0)]\n"
            "Writes N procedurally generated scenes: DIR/images/NNNN.{png,jpg} and class-index\n"
            "palette PNGs DIR/labels/NNNN.png (0 sky, 1 ground, 2 disc, 3 box, 4 triangle), and\n"
            "DIR/classes.txt. Scene i depends only on (seed, i): the same command makes the same\n"
            "files on every machine.\n");
    return code;
}

static double gauss(cs_rng *r) {
    const double u1 = cs_rng_uniform(r) + 1e-12, u2 = cs_rng_uniform(r);
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

/* Smooth value noise in [0, 1]: random values on a grid of `cell` pixels,
 * bilinearly interpolated (smoothstep weights). */
static double value_noise(uint64_t key, double x, double y, double cell) {
    const double gx = x / cell, gy = y / cell;
    const long x0 = (long)floor(gx), y0 = (long)floor(gy);
    double fx = gx - x0, fy = gy - y0;
    fx = fx * fx * (3 - 2 * fx);
    fy = fy * fy * (3 - 2 * fy);
    double v[4];
    for (int k = 0; k < 4; ++k) {
        cs_rng r = cs_rng_for(key, (uint64_t)(x0 + (k & 1)) * 0x9e37u, (uint64_t)(y0 + (k >> 1)));
        v[k] = cs_rng_uniform(&r);
    }
    return (1 - fy) * ((1 - fx) * v[0] + fx * v[1]) + fy * ((1 - fx) * v[2] + fx * v[3]);
}

static double edge(double ax, double ay, double bx, double by, double px, double py) {
    return (bx - ax) * (py - ay) - (by - ay) * (px - ax);
}

/* Each shape class has its own hue range (discs red, boxes orange-yellow,
 * triangles green-cyan) with random saturation and brightness: colour is a
 * cue, shape and context settle the overlaps (green triangles on green
 * ground, dark shapes, noise). */
static void shape_colour(cs_rng *r, int cls, double rgb[3]) {
    static const double hue_of[N_CLASSES] = {0, 0, 0, 40, 150};
    double hue = hue_of[cls] + 40 * (cs_rng_uniform(r) - 0.5);
    hue = fmod(hue + 360, 360) / 60;
    const double sat = 0.45 + 0.55 * cs_rng_uniform(r), val = 90 + 165 * cs_rng_uniform(r);
    const int i = (int)hue;
    const double f = hue - i, p = val * (1 - sat), q = val * (1 - sat * f), t = val * (1 - sat * (1 - f));
    const double table[6][3] = {{val, t, p}, {q, val, p}, {p, val, t}, {p, q, val}, {t, p, val}, {val, p, q}};
    for (int k = 0; k < 3; ++k) rgb[k] = table[i % 6][k];
}

static void make_scene(uint64_t seed, int index, int w, int h, uint8_t *img, uint8_t *lab) {
    cs_rng r = cs_rng_for(seed, (uint64_t)index, 0x5ce7e5u);
    double *rgb = malloc(sizeof(double) * 3 * (size_t)w * h);
    if (!rgb) return;
    /* sky: vertical gradient between two blue-gray tones, clouds */
    double top[3], bottom[3], ground_a[3], ground_b[3];
    const double hue = cs_rng_uniform(&r);
    top[0] = 40 + 60 * hue, top[1] = 90 + 50 * hue, top[2] = 170 + 60 * cs_rng_uniform(&r);
    bottom[0] = 150 + 60 * cs_rng_uniform(&r), bottom[1] = 170 + 50 * cs_rng_uniform(&r), bottom[2] = 210 + 40 * cs_rng_uniform(&r);
    const int brown = cs_rng_uniform(&r) < 0.5;
    ground_a[0] = brown ? 90 + 50 * cs_rng_uniform(&r) : 40 + 40 * cs_rng_uniform(&r);
    ground_a[1] = brown ? 60 + 30 * cs_rng_uniform(&r) : 90 + 60 * cs_rng_uniform(&r);
    ground_a[2] = 20 + 30 * cs_rng_uniform(&r);
    for (int k = 0; k < 3; ++k) ground_b[k] = ground_a[k] * (0.55 + 0.3 * cs_rng_uniform(&r));
    const double horizon = h * (0.3 + 0.35 * cs_rng_uniform(&r)), amp = h * 0.06 * cs_rng_uniform(&r);
    const double freq = 6.283185307179586 / (w * (0.4 + cs_rng_uniform(&r))), phase = 6.3 * cs_rng_uniform(&r);
    const uint64_t cloud_key = cs_rng_next(&r), ground_key = cs_rng_next(&r);
    const double cloudiness = cs_rng_uniform(&r);
    for (int y = 0; y < h; ++y)
        for (int x = 0; x < w; ++x) {
            double *p = rgb + 3 * ((size_t)y * w + x);
            const double hy = horizon + amp * sin(freq * x + phase);
            if (y < hy) {
                const double t = y / (hy > 1 ? hy : 1);
                double c = value_noise(cloud_key, x, y * 2.0, w / 5.0) * 0.7 + value_noise(cloud_key ^ 1, x, y, w / 14.0) * 0.3;
                c = c > 1 - cloudiness * 0.6 ? (c - (1 - cloudiness * 0.6)) / (cloudiness * 0.6 + 1e-9) : 0;
                for (int k = 0; k < 3; ++k) p[k] = ((1 - t) * top[k] + t * bottom[k]) * (1 - c) + 235 * c;
                lab[(size_t)y * w + x] = SKY;
            } else {
                const double n = 0.6 * value_noise(ground_key, x, y, 10) + 0.4 * value_noise(ground_key ^ 7, x, y, 3);
                const double depth = (y - hy) / (h - hy + 1);
                for (int k = 0; k < 3; ++k) p[k] = (n * ground_a[k] + (1 - n) * ground_b[k]) * (0.75 + 0.35 * depth);
                lab[(size_t)y * w + x] = GROUND;
            }
        }
    /* shapes, back to front */
    const int n_shapes = 1 + (int)(cs_rng_uniform(&r) * 5);
    const double dim = w < h ? w : h;
    for (int s = 0; s < n_shapes; ++s) {
        const int cls = DISC + (int)(cs_rng_uniform(&r) * 3);
        double col[3], col2[3];
        shape_colour(&r, cls, col);
        for (int k = 0; k < 3; ++k) col2[k] = col[k] * (0.6 + 0.3 * cs_rng_uniform(&r));
        const double size = dim * (0.08 + 0.2 * cs_rng_uniform(&r));
        const double cx = w * cs_rng_uniform(&r), cy = h * (0.15 + 0.8 * cs_rng_uniform(&r));
        const double angle = 6.283185307179586 * cs_rng_uniform(&r), aspect = 0.6 + 0.8 * cs_rng_uniform(&r);
        const double ca = cos(angle), sa = sin(angle);
        double tx[3], ty[3];
        for (int k = 0; k < 3; ++k) { /* triangle: three jittered vertices around the centre */
            const double a = angle + k * 2.0943951 + 0.5 * (cs_rng_uniform(&r) - 0.5);
            tx[k] = cx + size * 1.2 * cos(a);
            ty[k] = cy + size * 1.2 * sin(a);
        }
        const double orient = edge(tx[0], ty[0], tx[1], ty[1], tx[2], ty[2]) > 0 ? 1 : -1;
        const int x0 = (int)fmax(0, cx - 1.8 * size), x1 = (int)fmin(w - 1, cx + 1.8 * size);
        const int y0 = (int)fmax(0, cy - 1.8 * size), y1 = (int)fmin(h - 1, cy + 1.8 * size);
        for (int y = y0; y <= y1; ++y)
            for (int x = x0; x <= x1; ++x) {
                const double px = x + 0.5, py = y + 0.5, dx = px - cx, dy = py - cy;
                const double u = ca * dx + sa * dy, v = -sa * dx + ca * dy;
                int in = 0;
                if (cls == DISC) in = (u * u) / (size * size) + (v * v) / (size * size * aspect * aspect) <= 1.0;
                else if (cls == BOX) in = fabs(u) <= size && fabs(v) <= size * aspect;
                else
                    in = orient * edge(tx[0], ty[0], tx[1], ty[1], px, py) >= 0 &&
                         orient * edge(tx[1], ty[1], tx[2], ty[2], px, py) >= 0 &&
                         orient * edge(tx[2], ty[2], tx[0], ty[0], px, py) >= 0;
                if (!in) continue;
                const double t = 0.5 + 0.5 * (u / (size * 1.2)); /* shading across the shape */
                double *p = rgb + 3 * ((size_t)y * w + x);
                for (int k = 0; k < 3; ++k) p[k] = (1 - t) * col[k] + t * col2[k];
                lab[(size_t)y * w + x] = (uint8_t)cls;
            }
    }
    const double sigma = 4 + 10 * cs_rng_uniform(&r);
    for (size_t i = 0; i < 3 * (size_t)w * h; ++i) {
        const double v = rgb[i] + sigma * gauss(&r);
        img[i] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : lround(v));
    }
    free(rgb);
}

static int write_jpeg(const char *path, const uint8_t *img, int w, int h) {
    char tmp[4300];
    if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp) return -1;
    FILE *f = fopen(tmp, "wb");
    if (!f) return -1;
    struct jpeg_compress_struct c;
    struct jpeg_error_mgr err;
    c.err = jpeg_std_error(&err);
    jpeg_create_compress(&c);
    jpeg_stdio_dest(&c, f);
    c.image_width = (JDIMENSION)w;
    c.image_height = (JDIMENSION)h;
    c.input_components = 3;
    c.in_color_space = JCS_RGB;
    jpeg_set_defaults(&c);
    jpeg_set_quality(&c, 90, TRUE);
    jpeg_start_compress(&c, TRUE);
    while (c.next_scanline < c.image_height) {
        JSAMPROW row = (JSAMPROW)(img + (size_t)c.next_scanline * w * 3);
        jpeg_write_scanlines(&c, &row, 1);
    }
    jpeg_finish_compress(&c);
    jpeg_destroy_compress(&c);
    if (fclose(f) != 0) {
        remove(tmp);
        return -1;
    }
    return rename(tmp, path);
}

int cs_cli_scenes(int argc, char **argv) {
    const char *out = NULL, *format = "png";
    int count = 100, w = 128, h = 128, first = 0;
    unsigned long long seed = 0;
    for (int i = 1; i < argc; ++i) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) return usage(stdout, 0);
        if (!v) return usage(stderr, 2);
        ++i;
        if (!strcmp(a, "--out")) out = v;
        else if (!strcmp(a, "--count")) count = atoi(v);
        else if (!strcmp(a, "--first")) first = atoi(v);
        else if (!strcmp(a, "--seed")) seed = strtoull(v, NULL, 10);
        else if (!strcmp(a, "--format")) format = v;
        else if (!strcmp(a, "--size")) {
            if (sscanf(v, "%dx%d", &w, &h) != 2) return usage(stderr, 2);
        } else {
            fprintf(stderr, "cuseg scenes: unknown option '%s'\n", a);
            return usage(stderr, 2);
        }
    }
    if (!out || count < 1 || first < 0 || w < 8 || h < 8 || w > 8192 || h > 8192 ||
        (strcmp(format, "png") && strcmp(format, "jpg"))) {
        fprintf(stderr, "cuseg scenes: need --out, --count >= 1, a size from 8x8 to 8192x8192, --format png|jpg\n");
        return 2;
    }
    char dir[4096], path[4200];
    cs_mkdir_p(out);
    snprintf(dir, sizeof dir, "%s/images", out);
    mkdir(dir, 0777);
    snprintf(dir, sizeof dir, "%s/labels", out);
    mkdir(dir, 0777);
    uint8_t *img = malloc((size_t)w * h * 3), *lab = malloc((size_t)w * h);
    uint8_t pal[256 * 3] = {0};
    for (int k = 0; k < N_CLASSES; ++k) memcpy(pal + 3 * k, palette_rgb[k], 3);
    int rc = img && lab ? 0 : 1;
    for (int i = first; rc == 0 && i < first + count; ++i) {
        make_scene(seed, i, w, h, img, lab);
        snprintf(path, sizeof path, "%s/images/%04d.%s", out, i, format);
        if ((format[0] == 'p' ? cs_png_write(path, img, h, w, 3, 8, NULL) != CUSEG_OK : write_jpeg(path, img, w, h) != 0)) {
            fprintf(stderr, "cuseg scenes: cannot write %s\n", path);
            rc = 1;
            break;
        }
        snprintf(path, sizeof path, "%s/labels/%04d.png", out, i);
        if (cs_png_write(path, lab, h, w, 1, 8, pal) != CUSEG_OK) {
            fprintf(stderr, "cuseg scenes: %s\n", cuseg_last_error());
            rc = 1;
        }
    }
    snprintf(path, sizeof path, "%s/classes.txt", out);
    FILE *f = rc == 0 ? fopen(path, "w") : NULL;
    if (f) { /* the palette-file format of cuseg train --palette */
        const char *p = class_names;
        for (int k = 0; k < N_CLASSES; ++k) {
            const size_t n = strcspn(p, ",");
            fprintf(f, "%d %d %d %.*s\n", palette_rgb[k][0], palette_rgb[k][1], palette_rgb[k][2], (int)n, p);
            p += n + (p[n] == ',');
        }
        fclose(f);
    }
    if (rc == 0) printf("wrote %d scenes (%dx%d) to %s\n", count, w, h, out);
    free(img);
    free(lab);
    return rc;
}
