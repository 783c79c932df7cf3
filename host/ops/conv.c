/* Convolution and transposed convolution on the CPU through oneDNN.
 *
 * Why oneDNN: it is the library behind PyTorch's CPU convolutions, picks its
 * JIT kernels by the CPU's ISA at run time (AVX2, AVX-512, ...) and works on
 * NHWC activations directly, so the default build stays portable and fast;
 * bench/results/ has the measurements against im2col + OpenBLAS.
 *
 * At plan time each step builds one primitive for its concrete shapes,
 * folds a following batch norm into the weights and bias (models.md §0.5),
 * fuses ReLU/ReLU6 as a post-op, and reorders the weights once into the
 * layout the chosen kernel wants. Running only sets the data pointers. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <xmmintrin.h>

#include "core/status.h"
#include "ops/conv.h"
#include "ops/cpu.h"
#include "ops/op_math.h"
#include "ops/ops.h"

typedef struct conv_state {
    dnnl_primitive_t prim;
    dnnl_memory_t src, weights, bias, dst, scratch;
    /* Depthwise path (groups == in == out channels): weights [kh][kw][C] and
     * bias, BN folded. */
    float *dw_weights, *dw_bias;
    /* Training: backward primitives, the parameters read in place, and
     * buffers that oneDNN overwrites before they are added to the gradients
     * (cuseg's backward accumulates). */
    dnnl_primitive_t bwd_data, bwd_weights;
    dnnl_memory_t diff_src, diff_weights, diff_bias, diff_dst;
    const float *param_w, *param_b;
    float *zero_bias, *tmp_src, *tmp_w, *tmp_b;
    size_t n_src, n_w, n_b;
    /* Training with the kernels' own weight layouts (the reference kernels
     * that take PyTorch's layout directly are ~50x slower): the parameters
     * are reordered into w_fwd (and w_bd when backward-data wants another
     * layout) each step, and the weight gradient back from dw_kernel. NULL
     * where the kernel takes the PyTorch layout. */
    dnnl_memory_t w_fwd, w_bd, dw_kernel;
    dnnl_primitive_t to_fwd, to_bd, from_dw;
    int bd_uses_fwd; /* backward-data takes w_fwd's layout */
    int weights_cached; /* weights and bias belong to cs_cpu.conv_weights */
} conv_state;

/* Inference weights of one convolution node (see cs_cpu.conv_weights). */
struct cs_conv_weights {
    dnnl_memory_t weights, bias;
    const cs_node *bn; /* the batch norm folded into them */
};

void cs_cpu_free_conv_weights(cs_cpu *cpu) {
    for (int i = 0; i < cpu->n_conv_weights; ++i) {
        if (cpu->conv_weights[i].weights)
            dnnl_memory_destroy(cpu->conv_weights[i].weights);
        if (cpu->conv_weights[i].bias)
            dnnl_memory_destroy(cpu->conv_weights[i].bias);
    }
    free(cpu->conv_weights);
    cpu->conv_weights = NULL;
    cpu->n_conv_weights = 0;
}

static int is_transposed(const cs_node *node) { return node->op == CS_OP_CONV_TRANSPOSE2D; }

static cuseg_status conv_infer(const cs_node *node, const cs_shape *in, cs_shape *out,
                               cs_param_decl *params, int *n_params) {
    const cuseg_conv2d_params *p = &node->p.conv;
    const int transposed = is_transposed(node);
    CS_CHECK(cs_expect_dtype(&in[0], CUSEG_F32, "input"));
    if (p->out_channels <= 0 || p->kernel_h <= 0 || p->kernel_w <= 0)
        return cs_error(CUSEG_ERR_INVALID_ARGUMENT,
                        "out_channels and kernel sizes must be > 0, got %d and %dx%d",
                        p->out_channels, p->kernel_h, p->kernel_w);
    if (p->stride_h <= 0 || p->stride_w <= 0 || p->dilation_h <= 0 || p->dilation_w <= 0 ||
        p->groups <= 0)
        return cs_error(CUSEG_ERR_INVALID_ARGUMENT,
                        "stride %dx%d, dilation %dx%d and groups %d must be > 0", p->stride_h,
                        p->stride_w, p->dilation_h, p->dilation_w, p->groups);
    if (p->pad_top < 0 || p->pad_bottom < 0 || p->pad_left < 0 || p->pad_right < 0)
        return cs_error(CUSEG_ERR_INVALID_ARGUMENT, "padding must be >= 0, got %d,%d,%d,%d",
                        p->pad_top, p->pad_bottom, p->pad_left, p->pad_right);
    if (in[0].c % p->groups || p->out_channels % p->groups)
        return cs_error(CUSEG_ERR_SHAPE,
                        "groups (%d) must divide the input channels (%d) and out_channels (%d)",
                        p->groups, in[0].c, p->out_channels);
    if (!transposed && (p->output_padding_h || p->output_padding_w))
        return cs_error(CUSEG_ERR_INVALID_ARGUMENT,
                        "output_padding is for transposed convolutions");
    if (transposed &&
        (p->output_padding_h < 0 || p->output_padding_w < 0 ||
         (p->output_padding_h >= p->stride_h && p->output_padding_h >= p->dilation_h) ||
         (p->output_padding_w >= p->stride_w && p->output_padding_w >= p->dilation_w)))
        return cs_error(CUSEG_ERR_INVALID_ARGUMENT,
                        "output_padding %dx%d must be >= 0 and smaller than stride or dilation",
                        p->output_padding_h, p->output_padding_w);

    out[0] = in[0];
    out[0].c = p->out_channels;
    if (transposed) {
        out[0].h = cs_conv_transpose_out_size(in[0].h, p->kernel_h, p->stride_h, p->pad_top,
                                              p->pad_bottom, p->dilation_h, p->output_padding_h);
        out[0].w = cs_conv_transpose_out_size(in[0].w, p->kernel_w, p->stride_w, p->pad_left,
                                              p->pad_right, p->dilation_w, p->output_padding_w);
    } else {
        out[0].h = cs_conv_out_size(in[0].h, p->kernel_h, p->stride_h, p->pad_top, p->pad_bottom,
                                    p->dilation_h);
        out[0].w = cs_conv_out_size(in[0].w, p->kernel_w, p->stride_w, p->pad_left, p->pad_right,
                                    p->dilation_w);
    }
    if (params) {
        /* PyTorch layouts: Conv2d [out, in/g, kh, kw]; ConvTranspose2d [in, out/g, kh, kw]. */
        const int a = transposed ? in[0].c : p->out_channels;
        const int b = transposed ? p->out_channels / p->groups : in[0].c / p->groups;
        params[0] = (cs_param_decl){"weight", {a, b, p->kernel_h, p->kernel_w}, 4, 0.0f, 0};
        params[1] = (cs_param_decl){"bias", {p->out_channels}, 1, 0.0f, 0};
        *n_params = p->has_bias ? 2 : 1;
    }
    return CUSEG_OK;
}

static cuseg_status dnnl_check(dnnl_status_t s, const cs_step *st, const char *what) {
    if (s == dnnl_success)
        return CUSEG_OK;
    char in[CS_SHAPE_STR_SIZE], out[CS_SHAPE_STR_SIZE];
    return cs_error(s == dnnl_out_of_memory ? CUSEG_ERR_OUT_OF_MEMORY : CUSEG_ERR_UNSUPPORTED,
                    "oneDNN %s failed (status %d) for input %s -> output %s", what, (int)s,
                    cs_shape_str(&st->in_shape[0], in, sizeof in),
                    cs_shape_str(&st->out_shape[0], out, sizeof out));
}

/* Runs a oneDNN call while `status` (a local of the caller) is still OK. */
#define TRY_DNNL(call, what)                                                                       \
    do {                                                                                           \
        if (status == CUSEG_OK)                                                                    \
            status = dnnl_check((call), st, what);                                                 \
    } while (0)

/* ops/conv.h; shared with cuda/conv.cu. */
cuseg_status cs_conv_folded_params(const cs_step *st, const cuseg_graph *g, float **weights,
                                   float **bias) {
    const cs_node *node = st->node;
    const cuseg_conv2d_params *p = &node->p.conv;
    const cs_param *w = cs_node_param(g, node, 0);
    const int O = p->out_channels, G = p->groups;
    *weights = NULL;
    *bias = NULL;
    CS_CHECK(cs_alloc((void **)weights, w->count * sizeof(float), "folded weights"));
    if (cs_alloc((void **)bias, (size_t)O * sizeof(float), "folded bias")) {
        free(*weights);
        return CUSEG_ERR_OUT_OF_MEMORY;
    }
    memcpy(*weights, w->data, w->count * sizeof(float));
    for (int o = 0; o < O; ++o)
        (*bias)[o] = p->has_bias ? cs_node_param(g, node, 1)->data[o] : 0.0f;
    if (!st->bn)
        return CUSEG_OK;

    const float *gamma = cs_node_param(g, st->bn, 0)->data,
                *beta = cs_node_param(g, st->bn, 1)->data;
    const float *mean = cs_node_param(g, st->bn, 2)->data, *var = cs_node_param(g, st->bn, 3)->data;
    const double eps = st->bn->p.bn.eps;
    const size_t khw = (size_t)p->kernel_h * p->kernel_w;
    for (int o = 0; o < O; ++o)
        if (!((double)var[o] + eps > 0.0)) {
            free(*weights);
            free(*bias);
            *weights = *bias = NULL;
            return cs_error(CUSEG_ERR_INVALID_ARGUMENT,
                            "batch_norm '%s' (folded): running_var[%d] + eps = %g is not positive",
                            st->bn->name, o, (double)var[o] + eps);
        }
    for (int o = 0; o < O; ++o) {
        const double s = gamma[o] / sqrt((double)var[o] + eps);
        (*bias)[o] = (float)(((double)(*bias)[o] - mean[o]) * s + beta[o]);
        if (!is_transposed(node)) {
            float *row = *weights + (size_t)o * (w->count / (size_t)O);
            for (size_t k = 0; k < w->count / (size_t)O; ++k)
                row[k] = (float)(row[k] * s);
        } else {
            /* [in, out/g, kh, kw]: output channel o = group * (O/G) + j. */
            const int per = O / G, j = o % per, grp = o / per, in_per = w->dims[0] / G;
            for (int i = grp * in_per; i < (grp + 1) * in_per; ++i) {
                float *k = *weights + ((size_t)i * per + j) * khw;
                for (size_t t = 0; t < khw; ++t)
                    k[t] = (float)(k[t] * s);
            }
        }
    }
    return CUSEG_OK;
}

static void conv_release(void *state) {
    conv_state *s = state;
    if (!s)
        return;
    if (s->prim)
        dnnl_primitive_destroy(s->prim);
    if (s->src)
        dnnl_memory_destroy(s->src);
    if (s->weights && !s->weights_cached)
        dnnl_memory_destroy(s->weights);
    if (s->bias && !s->weights_cached)
        dnnl_memory_destroy(s->bias);
    if (s->dst)
        dnnl_memory_destroy(s->dst);
    if (s->scratch)
        dnnl_memory_destroy(s->scratch);
    free(s->dw_weights);
    free(s->dw_bias);
    if (s->bwd_data)
        dnnl_primitive_destroy(s->bwd_data);
    if (s->bwd_weights)
        dnnl_primitive_destroy(s->bwd_weights);
    if (s->diff_src)
        dnnl_memory_destroy(s->diff_src);
    if (s->diff_weights)
        dnnl_memory_destroy(s->diff_weights);
    if (s->diff_bias)
        dnnl_memory_destroy(s->diff_bias);
    if (s->diff_dst)
        dnnl_memory_destroy(s->diff_dst);
    dnnl_memory_t mems[3] = {s->w_fwd, s->w_bd, s->dw_kernel};
    dnnl_primitive_t prims[3] = {s->to_fwd, s->to_bd, s->from_dw};
    for (int i = 0; i < 3; ++i) {
        if (mems[i])
            dnnl_memory_destroy(mems[i]);
        if (prims[i])
            dnnl_primitive_destroy(prims[i]);
    }
    free(s->zero_bias);
    free(s->tmp_src);
    free(s->tmp_w);
    free(s->tmp_b);
    free(s);
}

/* Reorders plain PyTorch-layout weights into the layout the primitive chose. */
static cuseg_status reorder_weights(const cs_step *st, cs_cpu *cpu,
                                    const dnnl_memory_desc_t *user_md, float *user,
                                    dnnl_memory_t dst) {
    dnnl_memory_t src = NULL;
    dnnl_primitive_desc_t rpd = NULL;
    dnnl_primitive_t r = NULL;
    const dnnl_memory_desc_t *dst_md;
    cuseg_status status =
        dnnl_check(dnnl_memory_create(&src, user_md, cpu->engine, user), st, "weights memory");
    if (status == CUSEG_OK)
        dnnl_memory_get_memory_desc(dst, &dst_md);
    if (status == CUSEG_OK)
        status = dnnl_check(dnnl_reorder_primitive_desc_create(&rpd, user_md, cpu->engine, dst_md,
                                                               cpu->engine, NULL),
                            st, "weights reorder");
    if (status == CUSEG_OK)
        status = dnnl_check(dnnl_primitive_create(&r, rpd), st, "weights reorder");
    if (status == CUSEG_OK) {
        dnnl_exec_arg_t args[2] = {{DNNL_ARG_FROM, src}, {DNNL_ARG_TO, dst}};
        status = dnnl_check(dnnl_primitive_execute(r, cpu->stream, 2, args), st, "weights reorder");
        if (status == CUSEG_OK)
            status = dnnl_check(dnnl_stream_wait(cpu->stream), st, "weights reorder");
    }
    if (r)
        dnnl_primitive_destroy(r);
    if (rpd)
        dnnl_primitive_desc_destroy(rpd);
    if (src)
        dnnl_memory_destroy(src);
    return status;
}

/* Depthwise convolution (one filter per channel) is memory-bound: 9 FMAs per
 * output for a 3x3. oneDNN 2.6's NHWC depthwise kernel ran at 0.56-0.87x of
 * PyTorch's (oneDNN 3.x) in bench/results/2026-11-25-cpu-conv.md, so cuseg
 * runs its own: per output pixel, 16-channel blocks accumulate in registers
 * over the kernel taps. target_clones compiles AVX-512, AVX2 and baseline
 * versions and picks one at load time, keeping the build portable. */
#define DW_BLOCK 16

/* GCC vector extensions: one 16-float vector is a zmm register in the
 * AVX-512 clone, two ymm in the AVX2 one, four xmm in the baseline. */
typedef float dw_vec __attribute__((vector_size(DW_BLOCK * sizeof(float))));
typedef int dw_ivec __attribute__((vector_size(DW_BLOCK * sizeof(int))));

/* Macros rather than functions: a function taking or returning a vector
 * type compiled outside the AVX-512 clone would change the ABI. */
#define DW_LOAD(p)                                                                                 \
    __extension__({                                                                                \
        dw_vec v_;                                                                                 \
        memcpy(&v_, (p), sizeof v_);                                                               \
        v_;                                                                                        \
    })
#define DW_SELECT(mask, a, b) ((dw_vec)(((dw_ivec)(a) & (mask)) | ((dw_ivec)(b) & ~(mask))))
/* Streaming (non-temporal) stores for large outputs: the output then does
 * not evict the input from the L3 cache, which is what decides the speed of
 * this memory-bound op once input + output exceed the cache (measured: 0.55
 * -> 0.41 ms on bench layer d). SSE stores exist on every x86-64, so every
 * clone can use them; the destination is 16-byte aligned (64-byte arena, C a
 * multiple of 16 on this path). */
#define DW_STORE(dst, v, stream)                                                                   \
    do {                                                                                           \
        if (stream) {                                                                              \
            float tmp_[DW_BLOCK] __attribute__((aligned(64)));                                     \
            memcpy(tmp_, &(v), sizeof tmp_);                                                       \
            for (int k_ = 0; k_ < DW_BLOCK; k_ += 4)                                               \
                _mm_stream_ps((dst) + k_, _mm_load_ps(tmp_ + k_));                                 \
        } else {                                                                                   \
            memcpy((dst), &(v), sizeof(v));                                                        \
        }                                                                                          \
    } while (0)

static inline float dw_activate(float v, cs_act act) {
    return act == CS_ACT_RELU ? cs_relu(v) : act == CS_ACT_RELU6 ? cs_relu6(v) : v;
}

/* Geometry of one output row, copied into locals so that the stores (memcpy
 * may alias anything) do not force reloads in the inner loops. */
typedef struct dw_geom {
    int H, W, C, kh, kw, sw, dw, pl, ih0, dh;
} dw_geom;

/* Output pixel ow, channels [c0, c0 + nb*16): nb independent accumulator
 * chains hide the FMA latency (one chain of 9 dependent FMAs per pixel was
 * latency-bound at ~2x the memory time). Inlined with constant nb. */
__attribute__((always_inline)) static inline void dw_blocks(const float *x, float *out,
                                                            const float *w, const float *b,
                                                            const dw_geom *g, int ow, int c0,
                                                            int nb, cs_act act) {
    const dw_vec zero = {0}, six = zero + 6.0f;
    dw_vec a[8];
#pragma GCC unroll 8
    for (int q = 0; q < nb; ++q)
        a[q] = DW_LOAD(b + c0 + q * DW_BLOCK);
    for (int i = 0; i < g->kh; ++i) {
        const int ih = g->ih0 + i * g->dh;
        if (ih < 0 || ih >= g->H)
            continue;
        for (int j = 0; j < g->kw; ++j) {
            const int iw = ow * g->sw - g->pl + j * g->dw;
            if (iw < 0 || iw >= g->W)
                continue;
            const float *xp = x + ((size_t)ih * g->W + iw) * g->C + c0;
            const float *wp = w + ((size_t)i * g->kw + j) * g->C + c0;
#pragma GCC unroll 8
            for (int q = 0; q < nb; ++q)
                a[q] += DW_LOAD(xp + q * DW_BLOCK) * DW_LOAD(wp + q * DW_BLOCK);
        }
    }
#pragma GCC unroll 8
    for (int q = 0; q < nb; ++q) {
        if (act != CS_ACT_NONE)
            a[q] = DW_SELECT(a[q] > zero, a[q], zero);
        if (act == CS_ACT_RELU6)
            a[q] = DW_SELECT(a[q] < six, a[q], six);
        memcpy(out + c0 + q * DW_BLOCK, &a[q], sizeof a[q]);
    }
}

/* Interior pixels [ow0, ow0 + 8) of channel block c0, every tap inside the
 * image: the 8 pixels are 8 independent FMA chains and each weight vector is
 * loaded once for all of them (about one load per FMA instead of two). */
__attribute__((always_inline)) static inline void dw_tile8(const float *x, float *out,
                                                           const float *w, const float *b,
                                                           const dw_geom *g, int ow0, int c0,
                                                           cs_act act, int stream) {
    const dw_vec zero = {0}, six = zero + 6.0f;
    dw_vec a[8];
    const dw_vec bias = DW_LOAD(b + c0);
#pragma GCC unroll 8
    for (int t = 0; t < 8; ++t)
        a[t] = bias;
    for (int i = 0; i < g->kh; ++i) {
        const int ih = g->ih0 + i * g->dh;
        if (ih < 0 || ih >= g->H)
            continue;
        const float *xr = x + (size_t)ih * g->W * g->C + c0;
        for (int j = 0; j < g->kw; ++j) {
            const dw_vec wv = DW_LOAD(w + ((size_t)i * g->kw + j) * g->C + c0);
            const float *xp = xr + (size_t)(ow0 * g->sw - g->pl + j * g->dw) * g->C;
            const size_t step = (size_t)g->sw * g->C;
#pragma GCC unroll 8
            for (int t = 0; t < 8; ++t)
                a[t] += DW_LOAD(xp + t * step) * wv;
        }
    }
#pragma GCC unroll 8
    for (int t = 0; t < 8; ++t) {
        if (act != CS_ACT_NONE)
            a[t] = DW_SELECT(a[t] > zero, a[t], zero);
        if (act == CS_ACT_RELU6)
            a[t] = DW_SELECT(a[t] < six, a[t], six);
        DW_STORE(out + (size_t)(ow0 + t) * g->C + c0, a[t], stream);
    }
}

/* One pixel anywhere (borders, leftovers): all full channel blocks, eight
 * at a time so that eight FMA chains run side by side. */
__attribute__((always_inline)) static inline void dw_pixel(const float *x, float *y, const float *w,
                                                           const float *b, const dw_geom *g, int ow,
                                                           cs_act act) {
    float *out = y + (size_t)ow * g->C;
    int c0 = 0;
    for (; c0 + 8 * DW_BLOCK <= g->C; c0 += 8 * DW_BLOCK)
        dw_blocks(x, out, w, b, g, ow, c0, 8, act);
    for (; c0 + 2 * DW_BLOCK <= g->C; c0 += 2 * DW_BLOCK)
        dw_blocks(x, out, w, b, g, ow, c0, 2, act);
    for (; c0 + DW_BLOCK <= g->C; c0 += DW_BLOCK)
        dw_blocks(x, out, w, b, g, ow, c0, 1, act);
}

__attribute__((target_clones("avx512f", "avx2", "default"))) static void
dw_row(const float *x, float *y, const float *w, const float *b, const cuseg_conv2d_params *p,
       int H, int W, int C, int Wo, int oh, cs_act act, int stream) {
    const dw_geom g = {H,
                       W,
                       C,
                       p->kernel_h,
                       p->kernel_w,
                       p->stride_w,
                       p->dilation_w,
                       p->pad_left,
                       oh * p->stride_h - p->pad_top,
                       p->dilation_h};
    /* Output columns whose taps all fall inside the image. */
    int in_lo = (g.pl + g.sw - 1) / g.sw;
    int in_hi = (W - 1 + g.pl - (g.kw - 1) * g.dw) / g.sw + 1; /* exclusive */
    if (W - 1 + g.pl - (g.kw - 1) * g.dw < 0)
        in_hi = 0;
    if (in_hi > Wo)
        in_hi = Wo;
    if (in_lo > in_hi)
        in_lo = in_hi;
    const int full = C / DW_BLOCK * DW_BLOCK;
    const int tiles_end = in_lo + (in_hi - in_lo) / 8 * 8;
    for (int ow = 0; ow < in_lo; ++ow)
        dw_pixel(x, y, w, b, &g, ow, act);
    /* Tile outer, channels inner: a tile's input lines (8 pixels x kh rows)
     * stay in L1 across channel blocks; the other order revisits the whole
     * row per block at a power-of-two stride that thrashes L1 sets. */
    for (int ow = in_lo; ow < tiles_end; ow += 8)
        for (int c0 = 0; c0 < full; c0 += DW_BLOCK)
            dw_tile8(x, y, w, b, &g, ow, c0, act, stream);
    for (int ow = tiles_end; ow < Wo; ++ow)
        dw_pixel(x, y, w, b, &g, ow, act);
    for (int ow = 0; ow < Wo && full < C; ++ow) {
        float *out = y + (size_t)ow * C;
        for (int c = full; c < C; ++c) {
            float acc = b[c];
            for (int i = 0; i < g.kh; ++i) {
                const int ih = g.ih0 + i * g.dh;
                if (ih < 0 || ih >= H)
                    continue;
                for (int j = 0; j < g.kw; ++j) {
                    const int iw = ow * g.sw - g.pl + j * g.dw;
                    if (iw < 0 || iw >= W)
                        continue;
                    acc += x[((size_t)ih * W + iw) * C + c] * w[((size_t)i * g.kw + j) * C + c];
                }
            }
            out[c] = dw_activate(acc, act);
        }
    }
}

static int is_depthwise(const cs_step *st) {
    const cuseg_conv2d_params *p = &st->node->p.conv;
    return !is_transposed(st->node) && p->groups > 1 && p->groups == st->in_shape[0].c &&
           p->out_channels == p->groups;
}

/* Repacks [C, 1, kh, kw] into [kh][kw][C] so that channels are contiguous. */
static cuseg_status dw_prepare(cs_step *st, const cuseg_graph *g, conv_state *s) {
    const cuseg_conv2d_params *p = &st->node->p.conv;
    const int C = p->out_channels, taps = p->kernel_h * p->kernel_w;
    float *w, *b;
    CS_CHECK(cs_conv_folded_params(st, g, &w, &b));
    s->dw_bias = b;
    if (cs_alloc((void **)&s->dw_weights, sizeof(float) * (size_t)C * taps, "depthwise weights")) {
        free(w);
        return CUSEG_ERR_OUT_OF_MEMORY;
    }
    for (int c = 0; c < C; ++c)
        for (int t = 0; t < taps; ++t)
            s->dw_weights[(size_t)t * C + c] = w[(size_t)c * taps + t];
    free(w);
    return CUSEG_OK;
}

static cuseg_status dw_forward(const cs_step *st, const cs_io *io, cs_cpu *cpu) {
    const conv_state *s = st->state;
    const cs_shape *x = &st->in_shape[0], *y = &st->out_shape[0];
    const float *in = io->in[0];
    float *out = io->out[0];
    const long rows = (long)y->n * y->h;
    /* Large means more than the L2 caches could hold (a few MiB per core). */
    const int stream = cs_shape_bytes(y) > ((size_t)8 << 20);
#pragma omp parallel for num_threads(cpu->n_threads) schedule(static)
    for (long r = 0; r < rows; ++r) {
        const int n = (int)(r / y->h), oh = (int)(r % y->h);
        dw_row(in + (size_t)n * x->h * x->w * x->c, out + (size_t)r * y->w * y->c, s->dw_weights,
               s->dw_bias, &st->node->p.conv, x->h, x->w, x->c, y->w, oh, st->act, stream);
    }
    if (stream)
        _mm_sfence(); /* order the streaming stores before the next op reads */
    return CUSEG_OK;
}

/* The oneDNN view of a step: memory descriptors (NHWC activations; weights
 * in cuseg's PyTorch layout, and "any" for the layout a kernel prefers) and
 * the geometry, shared by the inference and training paths. */
typedef struct conv_geometry {
    int transposed;
    dnnl_memory_desc_t src, dst, bias, weights_user, weights_any;
    dnnl_dims_t strides, dilates, pad_l, pad_r;
} conv_geometry;

static void conv_geometry_init(const cs_step *st, conv_geometry *d) {
    const cuseg_conv2d_params *p = &st->node->p.conv;
    const cs_shape *x = &st->in_shape[0], *y = &st->out_shape[0];
    const int G = p->groups, O = p->out_channels, C = x->c;
    d->transposed = is_transposed(st->node);
    dnnl_dims_t src_dims = {x->n, C, x->h, x->w}, dst_dims = {y->n, O, y->h, y->w}, bias_dims = {O};
    /* oneDNN's logical weight dims are [g,] out, in, kh, kw for both kinds. */
    dnnl_dims_t wei_g = {G, O / G, C / G, p->kernel_h, p->kernel_w};
    dnnl_dims_t wei_1 = {O, C, p->kernel_h, p->kernel_w};
    const dnnl_format_tag_t wtag =
        d->transposed ? (G > 1 ? dnnl_giohw : dnnl_iohw) : (G > 1 ? dnnl_goihw : dnnl_oihw);
    dnnl_memory_desc_init_by_tag(&d->src, 4, src_dims, dnnl_f32, dnnl_nhwc);
    dnnl_memory_desc_init_by_tag(&d->dst, 4, dst_dims, dnnl_f32, dnnl_nhwc);
    dnnl_memory_desc_init_by_tag(&d->bias, 1, bias_dims, dnnl_f32, dnnl_x);
    dnnl_memory_desc_init_by_tag(&d->weights_user, G > 1 ? 5 : 4, G > 1 ? wei_g : wei_1, dnnl_f32,
                                 wtag);
    dnnl_memory_desc_init_by_tag(&d->weights_any, G > 1 ? 5 : 4, G > 1 ? wei_g : wei_1, dnnl_f32,
                                 dnnl_format_tag_any);
    d->strides[0] = p->stride_h, d->strides[1] = p->stride_w;
    d->dilates[0] = p->dilation_h - 1, d->dilates[1] = p->dilation_w - 1;
    d->pad_l[0] = p->pad_top, d->pad_l[1] = p->pad_left;
    /* output_padding extends the far side: oneDNN expresses it as less padding. */
    d->pad_r[0] = p->pad_bottom - p->output_padding_h;
    d->pad_r[1] = p->pad_right - p->output_padding_w;
}

typedef enum conv_pass { CONV_FORWARD, CONV_BACKWARD_DATA, CONV_BACKWARD_WEIGHTS } conv_pass;

/* One primitive descriptor of a (transposed) convolution. */
static dnnl_status_t conv_pd(const conv_geometry *d, conv_pass pass, dnnl_prop_kind_t prop,
                             const dnnl_memory_desc_t *wei, const_dnnl_primitive_attr_t attr,
                             dnnl_engine_t engine, const_dnnl_primitive_desc_t hint,
                             dnnl_primitive_desc_t *pd) {
    union {
        dnnl_convolution_desc_t conv;
        dnnl_deconvolution_desc_t deconv;
    } u;
    const dnnl_alg_kind_t alg = d->transposed ? dnnl_deconvolution_direct : dnnl_convolution_direct;
    dnnl_status_t s;
    if (!d->transposed)
        s = pass == CONV_FORWARD
                ? dnnl_dilated_convolution_forward_desc_init(&u.conv, prop, alg, &d->src, wei,
                                                             &d->bias, &d->dst, d->strides,
                                                             d->dilates, d->pad_l, d->pad_r)
            : pass == CONV_BACKWARD_DATA
                ? dnnl_dilated_convolution_backward_data_desc_init(&u.conv, alg, &d->src, wei,
                                                                   &d->dst, d->strides, d->dilates,
                                                                   d->pad_l, d->pad_r)
                : dnnl_dilated_convolution_backward_weights_desc_init(
                      &u.conv, alg, &d->src, wei, &d->bias, &d->dst, d->strides, d->dilates,
                      d->pad_l, d->pad_r);
    else
        s = pass == CONV_FORWARD
                ? dnnl_dilated_deconvolution_forward_desc_init(&u.deconv, prop, alg, &d->src, wei,
                                                               &d->bias, &d->dst, d->strides,
                                                               d->dilates, d->pad_l, d->pad_r)
            : pass == CONV_BACKWARD_DATA
                ? dnnl_dilated_deconvolution_backward_data_desc_init(&u.deconv, alg, &d->src, wei,
                                                                     &d->dst, d->strides,
                                                                     d->dilates, d->pad_l, d->pad_r)
                : dnnl_dilated_deconvolution_backward_weights_desc_init(
                      &u.deconv, alg, &d->src, wei, &d->bias, &d->dst, d->strides, d->dilates,
                      d->pad_l, d->pad_r);
    return s == dnnl_success ? dnnl_primitive_desc_create(pd, &u, attr, engine, hint) : s;
}

/* A reorder primitive between two weight layouts. */
static cuseg_status make_reorder(const cs_step *st, cs_cpu *cpu, const dnnl_memory_desc_t *from,
                                 const dnnl_memory_desc_t *to, dnnl_primitive_t *out) {
    dnnl_primitive_desc_t rpd = NULL;
    cuseg_status status = dnnl_check(
        dnnl_reorder_primitive_desc_create(&rpd, from, cpu->engine, to, cpu->engine, NULL), st,
        "weights reorder");
    if (status == CUSEG_OK)
        status = dnnl_check(dnnl_primitive_create(out, rpd), st, "weights reorder");
    if (rpd)
        dnnl_primitive_desc_destroy(rpd);
    return status;
}

static cuseg_status run_reorder(const cs_step *st, cs_cpu *cpu, dnnl_primitive_t r,
                                dnnl_memory_t from, dnnl_memory_t to) {
    dnnl_exec_arg_t args[2] = {{DNNL_ARG_FROM, from}, {DNNL_ARG_TO, to}};
    CS_CHECK(dnnl_check(dnnl_primitive_execute(r, cpu->stream, 2, args), st, "weights reorder"));
    return dnnl_check(dnnl_stream_wait(cpu->stream), st, "weights reorder");
}

/* Training: forward_training, backward-data and backward-weights primitives
 * (weights reordered each step into the layouts the kernels chose: they
 * change every step), and no folding or fused activation (the training plan
 * fuses none). */
static cuseg_status conv_prepare_training(cs_step *st, const cuseg_graph *g, cs_cpu *cpu,
                                          conv_state *s) {
    const cuseg_conv2d_params *p = &st->node->p.conv;
    conv_geometry d;
    conv_geometry_init(st, &d);
    const int O = p->out_channels;
    const cs_param *w = cs_node_param(g, st->node, 0);
    s->param_w = w->data;
    s->param_b = p->has_bias ? cs_node_param(g, st->node, 1)->data : NULL;
    s->n_src = cs_shape_count(&st->in_shape[0]);
    s->n_w = w->count;
    s->n_b = (size_t)O;
    cuseg_status status = cs_calloc((void **)&s->zero_bias, sizeof(float) * s->n_b, "conv bias");
    if (status == CUSEG_OK)
        status = cs_alloc((void **)&s->tmp_src, sizeof(float) * s->n_src, "conv gradient");
    if (status == CUSEG_OK)
        status = cs_alloc((void **)&s->tmp_w, sizeof(float) * s->n_w, "conv gradient");
    if (status == CUSEG_OK)
        status = cs_alloc((void **)&s->tmp_b, sizeof(float) * s->n_b, "conv gradient");

    dnnl_primitive_attr_t attr = NULL;
    dnnl_primitive_desc_t fwd = NULL, bd = NULL, bw = NULL;
    TRY_DNNL(dnnl_primitive_attr_create(&attr), "attributes");
    TRY_DNNL(dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user),
             "attributes");
    TRY_DNNL(conv_pd(&d, CONV_FORWARD, dnnl_forward_training, &d.weights_any, attr, cpu->engine,
                     NULL, &fwd),
             "training forward");
    TRY_DNNL(conv_pd(&d, CONV_BACKWARD_DATA, dnnl_backward_data, &d.weights_any, attr, cpu->engine,
                     fwd, &bd),
             "backward data");
    /* oneDNN 2.6's AVX2 1x1 backward-weights kernel with a stride (it first
     * gathers the strided input) gives different gradients from run to run
     * (up to 60% norm-wise on ResNet's downsample convolutions, seen with
     * ONEDNN_MAX_CPU_ISA=AVX2): strided 1x1 layers, a sliver of the work,
     * take the plain-layout kernel on every ISA. */
    const cuseg_conv2d_params *cp = &st->node->p.conv;
    const int strided_1x1 = cp->kernel_h == 1 && cp->kernel_w == 1 &&
                            (cp->stride_h > 1 || cp->stride_w > 1);
    TRY_DNNL(conv_pd(&d, CONV_BACKWARD_WEIGHTS, dnnl_backward_weights,
                     cpu->exact_weight_grad || strided_1x1 ? &d.weights_user : &d.weights_any, attr,
                     cpu->engine, fwd, &bw),
             "backward weights");
    if (status == CUSEG_OK) {
        const dnnl_memory_desc_t *mf = dnnl_primitive_desc_query_md(fwd, dnnl_query_weights_md, 0);
        const dnnl_memory_desc_t *mb = dnnl_primitive_desc_query_md(bd, dnnl_query_weights_md, 0);
        const dnnl_memory_desc_t *mw = dnnl_primitive_desc_query_md(bw, dnnl_query_diff_weights_md, 0);
        if (!dnnl_memory_desc_equal(mf, &d.weights_user)) {
            TRY_DNNL(dnnl_memory_create(&s->w_fwd, mf, cpu->engine, DNNL_MEMORY_ALLOCATE), "weights");
            status = status == CUSEG_OK ? make_reorder(st, cpu, &d.weights_user, mf, &s->to_fwd) : status;
        }
        if (!dnnl_memory_desc_equal(mb, &d.weights_user) && !dnnl_memory_desc_equal(mb, mf)) {
            TRY_DNNL(dnnl_memory_create(&s->w_bd, mb, cpu->engine, DNNL_MEMORY_ALLOCATE), "weights");
            status = status == CUSEG_OK ? make_reorder(st, cpu, &d.weights_user, mb, &s->to_bd) : status;
        } else if (!dnnl_memory_desc_equal(mb, &d.weights_user)) {
            s->bd_uses_fwd = 1; /* same layout as the forward's: w_fwd serves both */
        }
        if (!dnnl_memory_desc_equal(mw, &d.weights_user)) {
            TRY_DNNL(dnnl_memory_create(&s->dw_kernel, mw, cpu->engine, DNNL_MEMORY_ALLOCATE), "weights gradient");
            status = status == CUSEG_OK ? make_reorder(st, cpu, mw, &d.weights_user, &s->from_dw) : status;
        }
    }
    if (status == CUSEG_OK) {
        size_t scratch = 1;
        const dnnl_primitive_desc_t pds[3] = {fwd, bd, bw};
        for (int i = 0; i < 3; ++i) {
            size_t b = dnnl_memory_desc_get_size(
                dnnl_primitive_desc_query_md(pds[i], dnnl_query_scratchpad_md, 0));
            if (b > scratch)
                scratch = b;
        }
        status = cs_cpu_reserve_scratch(cpu, scratch);
        /* One byte buffer of the largest size serves every primitive's scratchpad. */
        dnnl_memory_desc_t smd;
        dnnl_dims_t sd = {(dnnl_dim_t)scratch};
        dnnl_memory_desc_init_by_tag(&smd, 1, sd, dnnl_u8, dnnl_x);
        TRY_DNNL(dnnl_memory_create(&s->scratch, &smd, cpu->engine, DNNL_MEMORY_NONE),
                 "scratchpad");
    }
    TRY_DNNL(dnnl_memory_create(&s->src, &d.src, cpu->engine, DNNL_MEMORY_NONE), "source");
    TRY_DNNL(dnnl_memory_create(&s->dst, &d.dst, cpu->engine, DNNL_MEMORY_NONE), "destination");
    TRY_DNNL(dnnl_memory_create(&s->weights, &d.weights_user, cpu->engine, DNNL_MEMORY_NONE),
             "weights");
    TRY_DNNL(dnnl_memory_create(&s->bias, &d.bias, cpu->engine, DNNL_MEMORY_NONE), "bias");
    TRY_DNNL(dnnl_memory_create(&s->diff_src, &d.src, cpu->engine, s->tmp_src), "input gradient");
    TRY_DNNL(dnnl_memory_create(&s->diff_dst, &d.dst, cpu->engine, DNNL_MEMORY_NONE),
             "output gradient");
    TRY_DNNL(dnnl_memory_create(&s->diff_weights, &d.weights_user, cpu->engine, s->tmp_w),
             "weights gradient");
    TRY_DNNL(dnnl_memory_create(&s->diff_bias, &d.bias, cpu->engine, s->tmp_b), "bias gradient");
    TRY_DNNL(dnnl_primitive_create(&s->prim, fwd), "training forward");
    TRY_DNNL(dnnl_primitive_create(&s->bwd_data, bd), "backward data");
    TRY_DNNL(dnnl_primitive_create(&s->bwd_weights, bw), "backward weights");
    if (fwd)
        dnnl_primitive_desc_destroy(fwd);
    if (bd)
        dnnl_primitive_desc_destroy(bd);
    if (bw)
        dnnl_primitive_desc_destroy(bw);
    if (attr)
        dnnl_primitive_attr_destroy(attr);
    return status;
}

static void add_into(float *dst, const float *src, size_t n, int threads) {
#pragma omp parallel for simd num_threads(threads) schedule(static)
    for (size_t i = 0; i < n; ++i)
        dst[i] += src[i];
}

/* oneDNN writes the gradients; cuseg's backward adds them (see cs_grad_io). */
static cuseg_status conv_backward(const cs_step *st, const cs_grad_io *io, cs_cpu *cpu) {
    conv_state *s = st->state;
    if (!s->bwd_data)
        return cs_error(CUSEG_ERR_INTERNAL, "backward on a step prepared for inference");
    if (!io->dout[0])
        return CUSEG_OK;
    dnnl_memory_set_data_handle(s->diff_dst, (void *)io->dout[0]);
    dnnl_memory_set_data_handle(s->scratch, cpu->scratch);
    dnnl_memory_set_data_handle(s->weights, (void *)s->param_w);
    if (io->din[0]) {
        /* the forward of this step reordered the same parameters into w_fwd */
        dnnl_memory_t w = s->w_bd ? s->w_bd : s->bd_uses_fwd ? s->w_fwd : s->weights;
        if (s->to_bd)
            CS_CHECK(run_reorder(st, cpu, s->to_bd, s->weights, s->w_bd));
        dnnl_exec_arg_t args[4] = {{DNNL_ARG_DIFF_DST, s->diff_dst},
                                   {DNNL_ARG_WEIGHTS, w},
                                   {DNNL_ARG_DIFF_SRC, s->diff_src},
                                   {DNNL_ARG_SCRATCHPAD, s->scratch}};
        CS_CHECK(dnnl_check(dnnl_primitive_execute(s->bwd_data, cpu->stream, 4, args), st,
                            "backward data"));
        CS_CHECK(dnnl_check(dnnl_stream_wait(cpu->stream), st, "backward data"));
        add_into(io->din[0], s->tmp_src, s->n_src, cpu->n_threads);
    }
    if (io->dparam && io->dparam[0]) {
        dnnl_memory_set_data_handle(s->src, (void *)io->in[0]);
        dnnl_exec_arg_t args[5] = {{DNNL_ARG_SRC, s->src},
                                   {DNNL_ARG_DIFF_DST, s->diff_dst},
                                   {DNNL_ARG_DIFF_WEIGHTS, s->dw_kernel ? s->dw_kernel : s->diff_weights},
                                   {DNNL_ARG_DIFF_BIAS, s->diff_bias},
                                   {DNNL_ARG_SCRATCHPAD, s->scratch}};
        CS_CHECK(dnnl_check(dnnl_primitive_execute(s->bwd_weights, cpu->stream, 5, args), st,
                            "backward weights"));
        CS_CHECK(dnnl_check(dnnl_stream_wait(cpu->stream), st, "backward weights"));
        if (s->from_dw)
            CS_CHECK(run_reorder(st, cpu, s->from_dw, s->dw_kernel, s->diff_weights));
        add_into(io->dparam[0], s->tmp_w, s->n_w, cpu->n_threads);
        if (s->param_b && io->dparam[1])
            add_into(io->dparam[1], s->tmp_b, s->n_b, cpu->n_threads);
    }
    return CUSEG_OK;
}

/* The node's inference weights in layout wmd, from cpu->conv_weights when an
 * earlier plan left them there in that layout; otherwise the parameters with
 * the batch norm folded in, reordered, and kept there for the next plan. */
static cuseg_status cached_weights(const cs_step *st, const cuseg_graph *g, cs_cpu *cpu,
                                   const conv_geometry *d, const dnnl_memory_desc_t *wmd,
                                   struct cs_conv_weights **out) {
    if (!cpu->conv_weights) {
        CS_CHECK(cs_calloc((void **)&cpu->conv_weights, (size_t)g->n_nodes * sizeof *cpu->conv_weights,
                           "convolution weights"));
        cpu->n_conv_weights = g->n_nodes;
    }
    struct cs_conv_weights *c = &cpu->conv_weights[st->node - g->nodes];
    *out = c;
    if (c->weights && c->bn == st->bn) {
        const dnnl_memory_desc_t *have;
        dnnl_memory_get_memory_desc(c->weights, &have);
        if (dnnl_memory_desc_equal(have, wmd))
            return CUSEG_OK;
    }
    float *weights = NULL, *bias = NULL;
    dnnl_memory_t w = NULL, b = NULL;
    cuseg_status status = cs_conv_folded_params(st, g, &weights, &bias);
    TRY_DNNL(dnnl_memory_create(&w, wmd, cpu->engine, DNNL_MEMORY_ALLOCATE), "weights");
    TRY_DNNL(dnnl_memory_create(&b, &d->bias, cpu->engine, DNNL_MEMORY_ALLOCATE), "bias");
    if (status == CUSEG_OK)
        status = reorder_weights(st, cpu, &d->weights_user, weights, w);
    if (status == CUSEG_OK) {
        void *dst;
        dnnl_memory_get_data_handle(b, &dst);
        memcpy(dst, bias, (size_t)st->node->p.conv.out_channels * sizeof(float));
    }
    free(weights);
    free(bias);
    if (status != CUSEG_OK) {
        if (w)
            dnnl_memory_destroy(w);
        if (b)
            dnnl_memory_destroy(b);
        return status;
    }
    if (c->weights) /* another layout: the plan that used it is released */
        dnnl_memory_destroy(c->weights);
    if (c->bias)
        dnnl_memory_destroy(c->bias);
    *c = (struct cs_conv_weights){w, b, st->bn};
    return CUSEG_OK;
}

static cuseg_status conv_prepare(cs_step *st, const cuseg_graph *g, cs_cpu *cpu) {
    conv_geometry d;
    conv_geometry_init(st, &d);

    conv_state *s;
    CS_CHECK(cs_calloc((void **)&s, sizeof *s, "convolution state"));
    if (cpu->training) {
        cuseg_status status = conv_prepare_training(st, g, cpu, s);
        if (status != CUSEG_OK) {
            conv_release(s);
            return status;
        }
        st->state = s;
        return CUSEG_OK;
    }
    if (is_depthwise(st)) {
        cuseg_status status = dw_prepare(st, g, s);
        if (status != CUSEG_OK) {
            conv_release(s);
            return status;
        }
        st->state = s;
        return CUSEG_OK;
    }
    dnnl_primitive_attr_t attr = NULL;
    dnnl_post_ops_t post = NULL;
    dnnl_primitive_desc_t pd = NULL;
    cuseg_status status = CUSEG_OK;
    TRY_DNNL(dnnl_primitive_attr_create(&attr), "attributes");
    TRY_DNNL(dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user),
             "attributes");
    if (st->act != CS_ACT_NONE) {
        TRY_DNNL(dnnl_post_ops_create(&post), "post-ops");
        if (st->act == CS_ACT_RELU)
            TRY_DNNL(dnnl_post_ops_append_eltwise(post, 1.0f, dnnl_eltwise_relu, 0.0f, 0.0f),
                     "relu");
        else
            TRY_DNNL(dnnl_post_ops_append_eltwise(post, 1.0f, dnnl_eltwise_clip, 0.0f, 6.0f),
                     "relu6");
        TRY_DNNL(dnnl_primitive_attr_set_post_ops(attr, post), "post-ops");
    }
    TRY_DNNL(conv_pd(&d, CONV_FORWARD, dnnl_forward_inference, &d.weights_any, attr, cpu->engine,
                     NULL, &pd),
             "convolution");
    if (status == CUSEG_OK) {
        const dnnl_memory_desc_t *wmd = dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
        const dnnl_memory_desc_t *smd =
            dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0);
        struct cs_conv_weights *w = NULL;
        status = cached_weights(st, g, cpu, &d, wmd, &w);
        if (status == CUSEG_OK) {
            s->weights = w->weights;
            s->bias = w->bias;
            s->weights_cached = 1;
        }
        TRY_DNNL(dnnl_memory_create(&s->src, &d.src, cpu->engine, DNNL_MEMORY_NONE), "source");
        TRY_DNNL(dnnl_memory_create(&s->dst, &d.dst, cpu->engine, DNNL_MEMORY_NONE), "destination");
        if (status == CUSEG_OK)
            status = cs_cpu_reserve_scratch(cpu, dnnl_memory_desc_get_size(smd));
        TRY_DNNL(dnnl_memory_create(&s->scratch, smd, cpu->engine, DNNL_MEMORY_NONE), "scratchpad");
        TRY_DNNL(dnnl_primitive_create(&s->prim, pd), "primitive");
    }
    if (pd)
        dnnl_primitive_desc_destroy(pd);
    if (post)
        dnnl_post_ops_destroy(post);
    if (attr)
        dnnl_primitive_attr_destroy(attr);
    if (status != CUSEG_OK) {
        conv_release(s);
        return status;
    }
    st->state = s;
    return CUSEG_OK;
}

static cuseg_status conv_forward(const cs_step *st, const cs_io *io, cs_cpu *cpu) {
    conv_state *s = st->state;
    if (s->dw_weights)
        return dw_forward(st, io, cpu);
    dnnl_memory_t weights = s->weights;
    if (s->param_w) { /* training: the current parameters, in place */
        dnnl_memory_set_data_handle(s->weights, (void *)s->param_w);
        dnnl_memory_set_data_handle(s->bias, (void *)(s->param_b ? s->param_b : s->zero_bias));
        if (s->to_fwd) {
            CS_CHECK(run_reorder(st, cpu, s->to_fwd, s->weights, s->w_fwd));
            weights = s->w_fwd;
        }
    }
    dnnl_memory_set_data_handle(s->src, (void *)io->in[0]);
    dnnl_memory_set_data_handle(s->dst, io->out[0]);
    dnnl_memory_set_data_handle(s->scratch, cpu->scratch);
    dnnl_exec_arg_t args[5] = {{DNNL_ARG_SRC, s->src},
                               {DNNL_ARG_WEIGHTS, weights},
                               {DNNL_ARG_BIAS, s->bias},
                               {DNNL_ARG_DST, s->dst},
                               {DNNL_ARG_SCRATCHPAD, s->scratch}};
    CS_CHECK(dnnl_check(dnnl_primitive_execute(s->prim, cpu->stream, 5, args), st, "execution"));
    return dnnl_check(dnnl_stream_wait(cpu->stream), st, "execution");
}

const cs_op_def cs_op_conv2d = {.name = "conv2d",
                                .infer = conv_infer,
                                .n_outputs = 1,
                                .cpu_prepare = conv_prepare,
                                .cpu_forward = conv_forward,
                                .cpu_release = conv_release,
                                .cpu_backward = conv_backward};
const cs_op_def cs_op_conv_transpose2d = {.name = "conv_transpose2d",
                                          .infer = conv_infer,
                                          .n_outputs = 1,
                                          .cpu_prepare = conv_prepare,
                                          .cpu_forward = conv_forward,
                                          .cpu_release = conv_release,
                                          .cpu_backward = conv_backward};

/* Zero stride, dilation and groups mean 1. */
static cuseg_status add_conv(cuseg_graph *g, cs_op_id op, const char *name, int x,
                             const cuseg_conv2d_params *p, int *y) {
    CS_CHECK_ARG(p && y, "%s '%s': params or output pointer is NULL", cs_op(op)->name,
                 name ? name : "(null)");
    cs_op_params q = {.conv = *p};
    if (!q.conv.stride_h)
        q.conv.stride_h = 1;
    if (!q.conv.stride_w)
        q.conv.stride_w = 1;
    if (!q.conv.dilation_h)
        q.conv.dilation_h = 1;
    if (!q.conv.dilation_w)
        q.conv.dilation_w = 1;
    if (!q.conv.groups)
        q.conv.groups = 1;
    return cs_graph_add_node(g, op, name, &x, 1, &q, y);
}

cuseg_status cuseg_graph_conv2d(cuseg_graph *g, const char *name, int x,
                                const cuseg_conv2d_params *p, int *y) {
    return add_conv(g, CS_OP_CONV2D, name, x, p, y);
}

cuseg_status cuseg_graph_conv_transpose2d(cuseg_graph *g, const char *name, int x,
                                          const cuseg_conv2d_params *p, int *y) {
    return add_conv(g, CS_OP_CONV_TRANSPOSE2D, name, x, p, y);
}
