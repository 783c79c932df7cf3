/* cuseg train: see usage() and docs/training.md. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/preprocess.h"
#include "cli/cli.h"
#include "train/trainer.h"

static int usage(FILE *f, int code) {
    fprintf(f,
"usage: cuseg train --arch ARCH [--arch-opts K=V,...] --train DATA [--val DATA] --out DIR [options]\n"
"\n"
"Trains a zoo architecture on the CPU and writes DIR/model.safetensors (final weights),\n"
"DIR/best.safetensors (best validation mIoU), DIR/last.ckpt (resumable checkpoint, every\n"
"epoch, atomic), DIR/init.safetensors (initial weights) and DIR/log.csv (one row per epoch).\n"
"\n"
"data (DATA: a pair-list file \"IMAGE LABEL\" per line, a directory with images/ + labels/\n"
"(or image/ + label/) paired by file stem, a VOC root with JPEGImages/, or a labelme\n"
"directory of IMG.json beside IMG.jpg|png; .json labels are labelme shapes, drawn as\n"
"cuseg convert labelme draws them):\n"
"  --root DIR            base of relative paths in pair lists (default: the list's directory)\n"
"  --train-split S       VOC split for --train (train); --val-split S (val)\n"
"  --classes N           must equal the model's classes (default: taken from the model)\n"
"  --ignore V            label value ignored by loss and metrics (255; -1: none)\n"
"  --label-values LIST   stored values -> classes 0,1,..., e.g. 0,255 for 0/255 masks\n"
"  --palette FILE        RGB colour labels: one \"R G B [name]\" line per class, \"ignore R G B\"\n"
"  --class-names LIST    comma-separated names stored in the model; for labelme labels the\n"
"                        label -> class map (position; a leading __ignore__ maps to --ignore).\n"
"                        Without it labelme labels use labels.txt in DATA (or its parent)\n"
"augmentation (training only; validation uses the resize policy alone):\n"
"  --resize HxW          stretch every image to HxW     --letterbox HxW  keep_image_size: pad to\n"
"                        a square at the top left, then resize (borders: 0 / ignore)\n"
"  --crop HxW|N          random crop (padded bottom/right with 0 / ignore); default: full size\n"
"  --scale MIN,MAX       random scale (1,1)             --rotate DEG     uniform in [-DEG, DEG] (0)\n"
"  --hflip, --vflip      random flips (off)             --jitter B,C,S   brightness, contrast,\n"
"                        saturation factors in [1-x, 1+x] (0,0,0)\n"
"optimisation:\n"
"  --epochs N (10)  --batch N (4)  --val-batch N  --lr LR (0.01)  --seed N (0)\n"
"  --optim sgd|adam|adamw (sgd)  --momentum M (0.9)  --nesterov  --weight-decay W (1e-4)\n"
"  --betas B1,B2 (0.9,0.999)  --eps E (1e-8)  --no-decay-norm-bias (no decay on 1-D tensors)\n"
"  --schedule poly|cosine|step|constant (poly)  --power P (0.9)  --min-lr LR (0)\n"
"  --step-epochs E  --gamma G (0.1)  --warmup STEPS (0)  --warmup-start F (0.001)\n"
"  --clip NORM (max gradient norm, off)  --freeze PREFIXES (comma-separated parameter-name\n"
"                        prefixes kept fixed, e.g. backbone.)\n"
"  --init FILE           initial weights: every tensor must match the model\n"
"  --init-partial        with --init: load the tensors whose name and shape match, keep the\n"
"                        fresh initialisation for the others (e.g. the classifier when the\n"
"                        class count differs), each reported on stderr\n"
"  --bn train|eval|frozen  batch norms: batch statistics (train, default); running statistics,\n"
"                        kept fixed, gamma/beta learn (eval); eval with gamma/beta fixed (frozen)\n"
"  --loss SPEC           weighted sum, e.g. ce, dice, focal, ce=1,dice=0.5 (ce)\n"
"  --class-weights LIST  cross-entropy class weights  --label-smoothing X (0)\n"
"  --focal-gamma G (2)  --focal-alpha A (none)  --aux-weight W (0.4, auxiliary outputs)\n"
"running:\n"
"  --threads N (compute; all cores)  --workers N (loader threads, 2)  --prefetch N (2 batches)\n"
"  --device D            cpu|auto|cuda:N: training and validation (cpu; auto: cuda:0 when\n"
"                        a GPU is visible)\n"
"  --precision P         fp32 (default), bf16 or fp16 (GPU training; fp16 with dynamic loss\n"
"                        scaling)\n"
"  --resume              continue from DIR/last.ckpt exactly (same recipe; --epochs may grow)\n"
"  --save-every N        also keep DIR/epoch_N.ckpt every N epochs\n"
"  --quiet               no progress output\n"
"\n"
"example:\n"
"  cuseg train --arch unet_bn --arch-opts in_channels=1,classes=2,width=16 --train a.txt --val b.txt \\\n"
"      --label-values 0,255 --crop 256 --hflip --vflip --optim adam --lr 1e-3 --epochs 30 --out runs/isbi\n");
    return code;
}

static int parse_hw(const char *s, int *h, int *w) {
    char *end;
    long a = strtol(s, &end, 10);
    if (end == s || a <= 0) return 0;
    if (*end == 0) {
        *h = *w = (int)a;
        return 1;
    }
    if (*end != 'x' && *end != 'X') return 0;
    const char *p = end + 1;
    long b = strtol(p, &end, 10);
    if (end == p || b <= 0 || *end) return 0;
    *h = (int)a;
    *w = (int)b;
    return 1;
}

static int parse_loss(const char *s, cs_train_config *c) {
    c->w_ce = c->w_dice = c->w_focal = 0;
    char buf[256];
    snprintf(buf, sizeof buf, "%s", s);
    for (char *tok = strtok(buf, ",+"); tok; tok = strtok(NULL, ",+")) {
        float w = 1.0f;
        char *eq = strchr(tok, '=');
        if (eq) {
            *eq = 0;
            char *end;
            w = strtof(eq + 1, &end);
            if (end == eq + 1 || *end) return 0;
        }
        if (!strcmp(tok, "ce")) c->w_ce = w;
        else if (!strcmp(tok, "dice")) c->w_dice = w;
        else if (!strcmp(tok, "focal")) c->w_focal = w;
        else return 0;
    }
    return c->w_ce != 0 || c->w_dice != 0 || c->w_focal != 0;
}

static int bad(const char *flag, const char *value) {
    fprintf(stderr, "cuseg train: bad value '%s' for %s (see cuseg train --help)\n", value, flag);
    return 2;
}

int cs_cli_train(int argc, char **argv) {
    cs_train_config c;
    cs_train_defaults(&c);
    const char *palette = NULL, *label_values = NULL;
    for (int i = 1; i < argc; ++i) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) return usage(stdout, 0);
        /* flags without a value */
        if (!strcmp(a, "--hflip")) { c.augment.hflip = 1; continue; }
        if (!strcmp(a, "--vflip")) { c.augment.vflip = 1; continue; }
        if (!strcmp(a, "--nesterov")) { c.optim.nesterov = 1; continue; }
        if (!strcmp(a, "--no-decay-norm-bias")) { c.no_decay_norm_bias = 1; continue; }
        if (!strcmp(a, "--resume")) { c.resume = 1; continue; }
        if (!strcmp(a, "--init-partial")) { c.init_partial = 1; continue; }
        if (!strcmp(a, "--quiet")) { c.quiet = 1; continue; }
        if (i + 1 >= argc || strncmp(a, "--", 2) != 0) {
            fprintf(stderr, "cuseg train: %s '%s'\n\n", strncmp(a, "--", 2) ? "unexpected argument" : "missing value for", a);
            return usage(stderr, 2);
        }
        const char *v = argv[++i];
        char *end = NULL;
        float fv[4];
#define INT_ARG(field, lo)                                   \
    do {                                                     \
        long x_ = strtol(v, &end, 10);                       \
        if (end == v || *end || x_ < (lo) || x_ > 1000000000) \
            return bad(a, v);                                \
        field = (int)x_;                                     \
    } while (0)
#define FLOAT_ARG(field)                 \
    do {                                 \
        float x_ = strtof(v, &end);      \
        if (end == v || *end) return bad(a, v); \
        field = x_;                      \
    } while (0)
        if (!strcmp(a, "--arch")) c.arch = v;
        else if (!strcmp(a, "--arch-opts")) c.arch_opts = v;
        else if (!strcmp(a, "--init")) c.init = v;
        else if (!strcmp(a, "--train")) c.train_data = v;
        else if (!strcmp(a, "--val")) c.val_data = v;
        else if (!strcmp(a, "--root")) c.root = v;
        else if (!strcmp(a, "--train-split")) c.train_split = v;
        else if (!strcmp(a, "--val-split")) c.val_split = v;
        else if (!strcmp(a, "--out")) c.out_dir = v;
        else if (!strcmp(a, "--classes")) INT_ARG(c.labels.classes, 1);
        else if (!strcmp(a, "--ignore")) INT_ARG(c.labels.ignore, -1);
        else if (!strcmp(a, "--label-values")) label_values = v;
        else if (!strcmp(a, "--palette")) palette = v;
        else if (!strcmp(a, "--class-names")) c.class_names = v;
        else if (!strcmp(a, "--resize") || !strcmp(a, "--letterbox")) {
            if (!parse_hw(v, &c.augment.resize_h, &c.augment.resize_w)) return bad(a, v);
            c.augment.resize = a[2] == 'r' ? CS_RESIZE_STRETCH : CS_RESIZE_LETTERBOX;
        } else if (!strcmp(a, "--crop")) {
            if (!parse_hw(v, &c.augment.crop_h, &c.augment.crop_w)) return bad(a, v);
        } else if (!strcmp(a, "--scale")) {
            const int n = cs_parse_floats(v, fv, 2);
            if (n < 1 || fv[0] <= 0 || (n == 2 && fv[1] < fv[0])) return bad(a, v);
            c.augment.scale_min = fv[0];
            c.augment.scale_max = n == 2 ? fv[1] : fv[0];
        } else if (!strcmp(a, "--rotate")) FLOAT_ARG(c.augment.rotate_deg);
        else if (!strcmp(a, "--jitter")) {
            const int n = cs_parse_floats(v, fv, 3);
            if (n < 1) return bad(a, v);
            c.augment.brightness = fv[0];
            c.augment.contrast = fv[n > 1 ? 1 : 0];
            c.augment.saturation = fv[n > 2 ? 2 : n - 1];
        } else if (!strcmp(a, "--epochs")) INT_ARG(c.epochs, 1);
        else if (!strcmp(a, "--batch")) INT_ARG(c.batch, 1);
        else if (!strcmp(a, "--val-batch")) INT_ARG(c.val_batch, 1);
        else if (!strcmp(a, "--lr")) FLOAT_ARG(c.schedule.base_lr);
        else if (!strcmp(a, "--seed")) {
            unsigned long long s = strtoull(v, &end, 10);
            if (end == v || *end) return bad(a, v);
            c.seed = s;
        } else if (!strcmp(a, "--optim")) {
            if (!strcmp(v, "sgd")) c.optim.kind = CS_OPT_SGD;
            else if (!strcmp(v, "adam")) c.optim.kind = CS_OPT_ADAM;
            else if (!strcmp(v, "adamw")) c.optim.kind = CS_OPT_ADAMW;
            else return bad(a, v);
        } else if (!strcmp(a, "--momentum")) FLOAT_ARG(c.optim.momentum);
        else if (!strcmp(a, "--weight-decay")) FLOAT_ARG(c.optim.weight_decay);
        else if (!strcmp(a, "--betas")) {
            if (cs_parse_floats(v, fv, 2) != 2) return bad(a, v);
            c.optim.beta1 = fv[0];
            c.optim.beta2 = fv[1];
        } else if (!strcmp(a, "--eps")) FLOAT_ARG(c.optim.eps);
        else if (!strcmp(a, "--schedule")) {
            if (!strcmp(v, "poly")) c.schedule.kind = CS_SCHED_POLY;
            else if (!strcmp(v, "cosine")) c.schedule.kind = CS_SCHED_COSINE;
            else if (!strcmp(v, "step")) c.schedule.kind = CS_SCHED_STEP;
            else if (!strcmp(v, "constant")) c.schedule.kind = CS_SCHED_CONSTANT;
            else return bad(a, v);
        } else if (!strcmp(a, "--power")) FLOAT_ARG(c.schedule.power);
        else if (!strcmp(a, "--min-lr")) FLOAT_ARG(c.schedule.min_lr);
        else if (!strcmp(a, "--step-epochs")) FLOAT_ARG(c.step_epochs);
        else if (!strcmp(a, "--gamma")) FLOAT_ARG(c.schedule.gamma);
        else if (!strcmp(a, "--warmup")) {
            int w;
            INT_ARG(w, 0);
            c.schedule.warmup_steps = w;
        } else if (!strcmp(a, "--warmup-start")) FLOAT_ARG(c.schedule.warmup_start);
        else if (!strcmp(a, "--clip")) FLOAT_ARG(c.clip);
        else if (!strcmp(a, "--freeze")) c.freeze = v;
        else if (!strcmp(a, "--bn")) {
            if (!strcmp(v, "train")) c.bn_mode = CS_BN_TRAIN;
            else if (!strcmp(v, "eval")) c.bn_mode = CS_BN_EVAL;
            else if (!strcmp(v, "frozen")) c.bn_mode = CS_BN_FROZEN;
            else return bad(a, v);
        }
        else if (!strcmp(a, "--loss")) {
            if (!parse_loss(v, &c)) return bad(a, v);
        } else if (!strcmp(a, "--class-weights")) {
            int n = 0;
            const char *s = v;
            while (*s && n < CS_TRAIN_MAX_CLASSES) {
                c.class_weights[n++] = strtof(s, &end);
                if (end == s) return bad(a, v);
                s = *end == ',' ? end + 1 : end;
                if (*end && *end != ',') return bad(a, v);
            }
            c.has_class_weights = n;
        } else if (!strcmp(a, "--label-smoothing")) FLOAT_ARG(c.label_smoothing);
        else if (!strcmp(a, "--focal-gamma")) FLOAT_ARG(c.focal_gamma);
        else if (!strcmp(a, "--focal-alpha")) FLOAT_ARG(c.focal_alpha);
        else if (!strcmp(a, "--aux-weight")) FLOAT_ARG(c.aux_weight);
        else if (!strcmp(a, "--threads")) INT_ARG(c.threads, 0);
        else if (!strcmp(a, "--workers")) INT_ARG(c.workers, 1);
        else if (!strcmp(a, "--prefetch")) INT_ARG(c.prefetch, 1);
        else if (!strcmp(a, "--device")) c.device = v;
        else if (!strcmp(a, "--precision")) {
            if (!strcmp(v, "fp32")) c.precision = CUSEG_PRECISION_FP32;
            else if (!strcmp(v, "bf16")) c.precision = CUSEG_PRECISION_BF16;
            else if (!strcmp(v, "fp16")) c.precision = CUSEG_PRECISION_FP16;
            else return bad(a, v);
        }
        else if (!strcmp(a, "--save-every")) INT_ARG(c.save_every, 0);
        else {
            fprintf(stderr, "cuseg train: unknown option '%s'\n\n", a);
            return usage(stderr, 2);
        }
#undef INT_ARG
#undef FLOAT_ARG
    }
    if (!c.arch || !c.train_data || !c.out_dir) {
        fprintf(stderr, "cuseg train: --arch, --train and --out are required\n\n");
        return usage(stderr, 2);
    }
    if (c.init_partial && !c.init) {
        fprintf(stderr, "cuseg train: --init-partial needs --init FILE\n");
        return 2;
    }
    if (palette && label_values) {
        fprintf(stderr, "cuseg train: --palette and --label-values exclude each other\n");
        return 2;
    }
    if ((palette && cs_label_read_palette(palette, &c.labels) != CUSEG_OK) ||
        (label_values && cs_label_parse_values(label_values, &c.labels) != CUSEG_OK)) {
        fprintf(stderr, "cuseg train: %s\n", cuseg_last_error());
        return 2;
    }
    if (c.has_class_weights && c.labels.classes && c.has_class_weights != c.labels.classes) {
        fprintf(stderr, "cuseg train: %d class weights for %d classes\n", c.has_class_weights, c.labels.classes);
        return 2;
    }
    if (cs_train_run(&c) != CUSEG_OK) {
        fprintf(stderr, "cuseg train: %s\n", cuseg_last_error());
        return 1;
    }
    return 0;
}
