/*
 * cuseg.hpp: a header-only C++17 wrapper over cuseg.h.
 *
 * - Handles (Graph, Model, Context, Session, owning Tensors) are move-only
 *   RAII owners: the C object is released when its owner goes out of scope,
 *   and a moved-from owner is empty. get() gives the C handle for calls the
 *   wrapper does not cover.
 * - Every failing call throws cuseg::Error, which carries the cuseg_status
 *   and the message of cuseg_last_error() (the message names the node,
 *   tensor, shape or file). Nothing else is thrown except std::bad_alloc.
 * - Buffers are exposed as View<T> (pointer + size, a span without C++20);
 *   Tensor::data<T>() checks that T matches the tensor's dtype.
 *
 * Thread-safety contract (the C API's, see cuseg.h):
 * - A Model is immutable: load it once and share it (by reference) with
 *   every thread. A Context is immutable too.
 * - A Session is used by one thread at a time: give each worker thread, and
 *   each CUDA stream, its own Session. The Session keeps references to its
 *   Model and Context, which must outlive it.
 * - No global mutable state: independent models, contexts and sessions never
 *   interact, except through a CUDA stream the caller passes in
 *   ContextOptions::cuda_stream (sessions then enqueue on it, serialised; the
 *   caller keeps the stream alive while sessions exist).
 * - ContextOptions::memory_budget bounds each session's activation arena:
 *   planning a larger input throws Error(CUSEG_ERR_OUT_OF_MEMORY) naming the
 *   sizes, before anything is allocated.
 * - Error messages are thread-local: the Error thrown on a thread carries
 *   that thread's message.
 */
#ifndef CUSEG_HPP
#define CUSEG_HPP

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "cuseg.h"

namespace cuseg {

class Error : public std::runtime_error {
  public:
    Error(cuseg_status status, const std::string &message)
        : std::runtime_error(message), status_(status) {}
    cuseg_status status() const noexcept { return status_; }
    /* Short name of the status, e.g. "out of memory". */
    const char *status_name() const noexcept { return cuseg_status_string(status_); }

  private:
    cuseg_status status_;
};

inline void check(cuseg_status status) {
    if (status == CUSEG_OK) return;
    const char *msg = cuseg_last_error();
    throw Error(status, msg && *msg ? msg : cuseg_status_string(status));
}

/* Move-only owner of a C handle. */
template <typename T, void (*Release)(T *)> class Handle {
  public:
    Handle() = default;
    explicit Handle(T *p) noexcept : p_(p) {}
    Handle(Handle &&o) noexcept : p_(std::exchange(o.p_, nullptr)) {}
    Handle &operator=(Handle &&o) noexcept {
        if (this != &o) reset(std::exchange(o.p_, nullptr));
        return *this;
    }
    Handle(const Handle &) = delete;
    Handle &operator=(const Handle &) = delete;
    ~Handle() { reset(); }
    T *get() const noexcept { return p_; }
    T *release() noexcept { return std::exchange(p_, nullptr); }
    void reset(T *p = nullptr) noexcept {
        if (p_) Release(p_);
        p_ = p;
    }
    explicit operator bool() const noexcept { return p_ != nullptr; }

  private:
    T *p_ = nullptr;
};

/* A contiguous run of elements that someone else owns (std::span is C++20). */
template <typename T> struct View {
    T *data = nullptr;
    std::size_t size = 0;
    View() = default;
    View(T *d, std::size_t n) : data(d), size(n) {}
    /* View<T> converts to View<const T>. */
    template <typename U, typename = std::enable_if_t<std::is_same<const U, T>::value>>
    View(const View<U> &o) : data(o.data), size(o.size) {}
    /* Any contiguous container with data() and size() (std::vector, std::array). */
    template <typename C, typename = decltype(std::declval<C &>().data()),
              typename = std::enable_if_t<!std::is_same<std::decay_t<C>, View>::value>>
    View(C &c) : data(c.data()), size(c.size()) {}
    T *begin() const { return data; }
    T *end() const { return data + size; }
    T &operator[](std::size_t i) const { return data[i]; }
    bool empty() const { return size == 0; }
    std::size_t bytes() const { return size * sizeof(T); }
};

using Shape = std::array<int, 4>; /* n, h, w, c (NHWC) */

template <typename T> constexpr cuseg_dtype dtype_of();
template <> constexpr cuseg_dtype dtype_of<float>() { return CUSEG_F32; }
template <> constexpr cuseg_dtype dtype_of<int32_t>() { return CUSEG_I32; }
template <> constexpr cuseg_dtype dtype_of<uint8_t>() { return CUSEG_U8; }

/* A tensor in host memory: owning (Tensor::create, Tensor::copy_of) or a view
 * of a session output (valid until that session runs or plans again). */
class Tensor {
  public:
    static Tensor create(cuseg_dtype dtype, const Shape &s) {
        cuseg_tensor *t = nullptr;
        check(cuseg_tensor_create(dtype, s[0], s[1], s[2], s[3], &t));
        return Tensor(t, true);
    }
    /* A new tensor holding a copy of `values` (n*h*w*c of them). */
    template <typename T> static Tensor copy_of(View<const T> values, const Shape &s) {
        Tensor t = create(dtype_of<T>(), s);
        if (values.size != t.elements())
            throw Error(CUSEG_ERR_SHAPE, "Tensor::copy_of: " + std::to_string(values.size) + " values for a " +
                                             std::to_string(s[0]) + "x" + std::to_string(s[1]) + "x" +
                                             std::to_string(s[2]) + "x" + std::to_string(s[3]) + " tensor");
        if (values.size) std::memcpy(cuseg_tensor_data(t.get()), values.data, values.bytes());
        return t;
    }
    static Tensor view(const cuseg_tensor *t) { return Tensor(const_cast<cuseg_tensor *>(t), false); }
    Shape shape() const {
        Shape s;
        cuseg_tensor_shape(get(), s.data());
        return s;
    }
    cuseg_dtype dtype() const { return cuseg_tensor_dtype(get()); }
    std::size_t elements() const {
        const Shape s = shape();
        return (std::size_t)s[0] * s[1] * s[2] * s[3];
    }
    std::size_t bytes() const { return cuseg_tensor_bytes(get()); }
    /* The elements, NHWC; T must match dtype(). */
    template <typename T> View<T> data() const {
        if (dtype_of<std::remove_const_t<T>>() != dtype())
            throw Error(CUSEG_ERR_INVALID_ARGUMENT, "Tensor::data: element type does not match the tensor's dtype " +
                                                        std::to_string((int)dtype()));
        return {static_cast<T *>(cuseg_tensor_data(get())), elements()};
    }
    const cuseg_tensor *get() const { return owned_ ? owned_.get() : viewed_; }

  private:
    Tensor(cuseg_tensor *t, bool own) : owned_(own ? t : nullptr), viewed_(own ? nullptr : t) {}
    Handle<cuseg_tensor, cuseg_tensor_release> owned_;
    cuseg_tensor *viewed_ = nullptr;
};

class Graph {
  public:
    /* A zoo architecture, e.g. Graph::build("unet_bn", "classes=2"). */
    static Graph build(const std::string &arch, const std::string &options = "") {
        cuseg_graph *g = nullptr;
        check(cuseg_arch_build(arch.c_str(), options.c_str(), &g));
        return Graph(g);
    }
    void load_weights(const std::string &path) { check(cuseg_graph_load_weights(h_.get(), path.c_str())); }
    void set_param(const std::string &name, View<const float> values) {
        check(cuseg_graph_set_param(h_.get(), name.c_str(), values.data, values.size));
    }
    void set_meta(const std::string &key, const std::string &value) {
        check(cuseg_graph_set_meta(h_.get(), key.c_str(), value.c_str()));
    }
    cuseg_graph *get() const { return h_.get(); }
    cuseg_graph *release() { return h_.release(); }

  private:
    explicit Graph(cuseg_graph *g) : h_(g) {}
    Handle<cuseg_graph, cuseg_graph_release> h_;
};

/* Immutable once created: share one Model among all threads. */
class Model {
  public:
    static Model load(const std::string &path) {
        cuseg_model *m = nullptr;
        check(cuseg_model_load(path.c_str(), &m));
        return Model(m);
    }
    static Model from(Graph &&graph) {
        cuseg_graph *g = graph.release();
        cuseg_model *m = nullptr;
        check(cuseg_model_create(&g, &m));
        return Model(m);
    }
    void save(const std::string &path) const { check(cuseg_model_save(h_.get(), path.c_str())); }
    /* Metadata value, or `fallback` when the key is absent. */
    std::string meta(const std::string &key, const std::string &fallback = "") const {
        const char *v = cuseg_graph_meta(cuseg_model_graph(h_.get()), key.c_str());
        return v ? v : fallback;
    }
    const cuseg_model *get() const { return h_.get(); }

  private:
    explicit Model(cuseg_model *m) : h_(m) {}
    Handle<cuseg_model, cuseg_model_release> h_;
};

/* Every field's default is the C API's zero default. */
struct ContextOptions {
    std::string device = "auto";                    /* "auto", "cpu", "cuda:N" */
    int cpu_threads = 0;                            /* per session; 0: all cores */
    cuseg_precision precision = CUSEG_PRECISION_FP32; /* CUDA sessions only */
    void *cuda_stream = nullptr;                    /* a cudaStream_t the caller owns, or none */
    bool cudnn_search = false;                      /* time cuDNN algorithms at plan time */
    std::size_t memory_budget = 0;                  /* bytes of activation arena per session; 0: none */
};

/* Immutable once created: one Context can serve every Session. */
class Context {
  public:
    explicit Context(const ContextOptions &o) {
        cuseg_context_options c{};
        c.device = o.device.c_str();
        c.cpu_threads = o.cpu_threads;
        c.precision = o.precision;
        c.cuda_stream = o.cuda_stream;
        c.cudnn_search = o.cudnn_search ? 1 : 0;
        c.memory_budget = o.memory_budget;
        cuseg_context *ctx = nullptr;
        check(cuseg_context_create(&c, &ctx));
        h_.reset(ctx);
    }
    explicit Context(const std::string &device = "auto", int cpu_threads = 0,
                     cuseg_precision precision = CUSEG_PRECISION_FP32)
        : Context(options(device, cpu_threads, precision)) {}
    /* "cpu", "cuda:N", or "auto" (resolved per session). */
    std::string device() const { return cuseg_context_device(h_.get()); }
    const cuseg_context *get() const { return h_.get(); }

  private:
    static ContextOptions options(const std::string &device, int cpu_threads, cuseg_precision precision) {
        ContextOptions o;
        o.device = device;
        o.cpu_threads = cpu_threads;
        o.precision = precision;
        return o;
    }
    Handle<cuseg_context, cuseg_context_release> h_;
};

/* One thread at a time. Keeps references to the model and the context: both
 * must outlive it. */
class Session {
  public:
    Session(const Model &model, const Context &ctx) {
        cuseg_session *s = nullptr;
        check(cuseg_session_create(model.get(), ctx.get(), &s));
        h_.reset(s);
    }
    /* Plans (allocates) for an input shape without running; run() plans by
     * itself when the shape changes. */
    void plan(const Shape &input) {
        const int shapes[1][4] = {{input[0], input[1], input[2], input[3]}};
        check(cuseg_session_plan(h_.get(), shapes, 1));
    }
    void run(const Tensor &input) {
        const cuseg_tensor *in[1] = {input.get()};
        check(cuseg_session_run(h_.get(), in, 1));
    }
    /* A model with several inputs, in declaration order. */
    void run(View<const Tensor *const> inputs) {
        std::vector<const cuseg_tensor *> in;
        for (const Tensor *t : inputs) in.push_back(t ? t->get() : nullptr);
        check(cuseg_session_run(h_.get(), in.data(), (int)in.size()));
    }
    /* Output i of the last run, valid until the next run or plan. */
    Tensor output(int i = 0) const {
        const cuseg_tensor *t = nullptr;
        check(cuseg_session_output(h_.get(), i, &t));
        return Tensor::view(t);
    }
    struct Memory {
        std::size_t arena_bytes;     /* the current plan's activation arena */
        std::size_t unplanned_bytes; /* what the plan would take without reuse */
    };
    Memory memory() const {
        Memory m{0, 0};
        check(cuseg_session_memory(h_.get(), &m.arena_bytes, &m.unplanned_bytes));
        return m;
    }
    /* "cpu" or "cuda:N". */
    std::string device() const { return cuseg_session_device(h_.get()); }
    cuseg_session *get() const { return h_.get(); }

  private:
    Handle<cuseg_session, cuseg_session_release> h_;
};

/* Dense CRF post-processing (cuseg_crf_*) on the context's device. One thread
 * at a time; a caller's CUDA stream in the context must outlive it. */
class Crf {
  public:
    explicit Crf(const Context &ctx, const cuseg_crf_params &params = cuseg_crf_default_params()) {
        cuseg_crf *c = nullptr;
        check(cuseg_crf_create(ctx.get(), &params, &c));
        h_.reset(c);
    }
    /* n images of h x w: rgb n*h*w*3 bytes, prob and out n*h*w*labels
     * floats (NHWC); out may be prob. */
    void run(View<const uint8_t> rgb, View<const float> prob, int n, int h, int w, int labels,
             View<float> out) {
        const std::size_t pixels = (std::size_t)n * h * w;
        if (n < 1 || h < 1 || w < 1 || labels < 1 || rgb.size != pixels * 3 ||
            prob.size != pixels * labels || out.size != prob.size)
            throw Error(CUSEG_ERR_INVALID_ARGUMENT, "Crf::run: buffer sizes do not match n, h, w, labels");
        check(cuseg_crf_run(h_.get(), rgb.data, prob.data, n, h, w, labels, out.data));
    }
    /* "cpu" or "cuda:N". */
    std::string device() const { return cuseg_crf_device(h_.get()); }
    cuseg_crf *get() const { return h_.get(); }

  private:
    Handle<cuseg_crf, cuseg_crf_release> h_;
};

}  // namespace cuseg

#endif
