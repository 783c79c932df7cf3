/*
 * cuseg.hpp: a header-only C++17 wrapper over cuseg.h.
 *
 * - Handles are move-only RAII owners; the C object is released when the
 *   owner goes out of scope.
 * - Every failing call throws cuseg::Error, which carries the cuseg_status
 *   and the message of cuseg_last_error().
 * - Thread safety is the C API's: a Model and a Context may be shared by any
 *   number of threads; a Session is used by one thread at a time (give each
 *   thread its own).
 */
#ifndef CUSEG_HPP
#define CUSEG_HPP

#include <array>
#include <cstddef>
#include <stdexcept>
#include <string>
#include <utility>

#include "cuseg.h"

namespace cuseg {

class Error : public std::runtime_error {
  public:
    Error(cuseg_status status, const std::string &message)
        : std::runtime_error(message), status_(status) {}
    cuseg_status status() const noexcept { return status_; }

  private:
    cuseg_status status_;
};

inline void check(cuseg_status status) {
    if (status != CUSEG_OK) throw Error(status, cuseg_last_error());
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

/* A contiguous run of elements (std::span is C++20). */
template <typename T> struct View {
    T *data;
    std::size_t size;
    T *begin() const { return data; }
    T *end() const { return data + size; }
    T &operator[](std::size_t i) const { return data[i]; }
};

using Shape = std::array<int, 4>; /* n, h, w, c (NHWC) */

/* A tensor in host memory: owning (Tensor::create) or a view of a session
 * output (valid until the session runs again). */
class Tensor {
  public:
    static Tensor create(cuseg_dtype dtype, const Shape &s) {
        cuseg_tensor *t = nullptr;
        check(cuseg_tensor_create(dtype, s[0], s[1], s[2], s[3], &t));
        return Tensor(t, true);
    }
    static Tensor view(const cuseg_tensor *t) { return Tensor(const_cast<cuseg_tensor *>(t), false); }
    Shape shape() const {
        Shape s;
        cuseg_tensor_shape(get(), s.data());
        return s;
    }
    cuseg_dtype dtype() const { return cuseg_tensor_dtype(get()); }
    template <typename T> View<T> data() const {
        return {static_cast<T *>(cuseg_tensor_data(get())), cuseg_tensor_bytes(get()) / sizeof(T)};
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
    cuseg_graph *get() const { return h_.get(); }
    cuseg_graph *release() { return h_.release(); }

  private:
    explicit Graph(cuseg_graph *g) : h_(g) {}
    Handle<cuseg_graph, cuseg_graph_release> h_;
};

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
    const cuseg_model *get() const { return h_.get(); }

  private:
    explicit Model(cuseg_model *m) : h_(m) {}
    Handle<cuseg_model, cuseg_model_release> h_;
};

class Context {
  public:
    explicit Context(const std::string &device = "auto", int cpu_threads = 0,
                     cuseg_precision precision = CUSEG_PRECISION_FP32) {
        cuseg_context_options o{};
        o.device = device.c_str();
        o.cpu_threads = cpu_threads;
        o.precision = precision;
        cuseg_context *c = nullptr;
        check(cuseg_context_create(&o, &c));
        h_.reset(c);
    }
    std::string device() const { return cuseg_context_device(h_.get()); }
    const cuseg_context *get() const { return h_.get(); }

  private:
    Handle<cuseg_context, cuseg_context_release> h_;
};

/* Keeps references to the model and the context: both must outlive it. */
class Session {
  public:
    Session(const Model &model, const Context &ctx) {
        cuseg_session *s = nullptr;
        check(cuseg_session_create(model.get(), ctx.get(), &s));
        h_.reset(s);
    }
    void run(const Tensor &input) {
        const cuseg_tensor *in[1] = {input.get()};
        check(cuseg_session_run(h_.get(), in, 1));
    }
    /* Output i of the last run, valid until the next run. */
    Tensor output(int i = 0) const {
        const cuseg_tensor *t = nullptr;
        check(cuseg_session_output(h_.get(), i, &t));
        return Tensor::view(t);
    }
    /* "cpu" or "cuda:N". */
    std::string device() const { return cuseg_session_device(h_.get()); }
    cuseg_session *get() const { return h_.get(); }

  private:
    Handle<cuseg_session, cuseg_session_release> h_;
};

}  // namespace cuseg

#endif
