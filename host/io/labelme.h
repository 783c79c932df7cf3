/* labelme JSON annotations as class-index maps, drawn exactly as labelme's
 * shapes_to_label / shape_to_mask (labelme/_utils/shape.py) with Pillow 13's
 * rasterisers (io/pil_draw.c): shapes in file order, later ones on top,
 * 0 where no shape is. Used by `cuseg convert labelme` and by the training
 * data loader, so that both give the same pixels. */
#ifndef CS_IO_LABELME_H
#define CS_IO_LABELME_H

#include <stdint.h>

#include "cuseg.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Label name -> value, labelme2voc's convention: value = position in the
 * list; when the first name is "__ignore__" it maps to `ignore_value` and
 * the next names to 0, 1, ... ("_background_" is then 0). */
typedef struct cs_labelme_classes {
    char **names;
    int *values;
    int n;
    int max_value;
    int has_ignore; /* the list starts with __ignore__ */
} cs_labelme_classes;

/* labels.txt: one name per line (blank lines skipped). */
cuseg_status cs_labelme_classes_read(const char *path, int ignore_value, cs_labelme_classes *out);
/* The same from a comma-separated list ("_background_,cat,dog"). */
cuseg_status cs_labelme_classes_parse(const char *list, int ignore_value, cs_labelme_classes *out);
void cs_labelme_classes_free(cs_labelme_classes *c);
/* Number of classes: the names other than __ignore__. */
static inline int cs_labelme_class_count(const cs_labelme_classes *c) { return c->n - c->has_ignore; }

/* Draws the shapes of one labelme JSON file: *out (h*w values, row-major,
 * caller frees) and its size from imageHeight / imageWidth. Every error
 * (unreadable or invalid JSON, a shape that cannot be drawn, a label the
 * class list does not name) is a status whose message starts with the
 * file name. */
cuseg_status cs_labelme_rasterize(const char *json_path, const cs_labelme_classes *classes, int32_t **out,
                                  int *h, int *w);

#ifdef __cplusplus
}
#endif

#endif
