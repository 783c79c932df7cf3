// cuseg-service: an HTTP segmentation service on cpp-httplib with a dynamic
// batcher. See docs/service.md.
//
//   POST /v1/segment   PNG or JPEG body -> class-index PNG (8-bit; 16-bit above
//                      256 classes), or JSON per-class pixel counts with
//                      ?format=json or "Accept: application/json"
//   GET  /healthz      200 {"status":"ok",...} while serving
//   GET  /metrics      Prometheus text format
//
// Threads: cpp-httplib's pool reads requests, checks and decodes them and
// encodes responses; `--workers` compute threads each own one cuseg session
// (sessions are single-threaded, the model is shared) and take batches of
// equal-size images from one queue: a batch leaves when it is full
// (--max-batch) or when its oldest image has waited --max-delay-ms.
// Preprocessing and the class decision are `cuseg segment`'s own code
// (io/image.c, io/preprocess.c, cli/tiles.c), so masks are identical.
// SIGTERM/SIGINT: stop accepting, finish every request already received,
// exit 0.
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <httplib.h>

#include "cuseg.hpp"

extern "C" {
#include "cli/tiles.h"
#include "graph/graph.h"
#include "io/image.h"
#include "io/preprocess.h"
}

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

// ------------------------------------------------------------------ options

struct Options {
    std::string model, host = "127.0.0.1", device = "auto", precision = "fp32";
    int port = 8080;
    int workers = 1, cpu_threads = 0, http_threads = 32;
    int max_batch = 4;
    double max_delay_ms = 5.0;
    long long max_body = 16ll << 20;
    long long max_pixels = 4194304;
    int max_queue = 256;
    long long memory_budget = 0;
};

int usage(FILE *f, int code) {
    std::fprintf(f,
                 "usage: cuseg-service -m MODEL [options]\n"
                 "Serves POST /v1/segment, GET /healthz and GET /metrics over HTTP.\n"
                 "  -m, --model FILE       model file (.safetensors, with preprocessing metadata), or\n"
                 "                         ARCH[:options] from the zoo with zero weights (load tests)\n"
                 "  --host ADDR            address to listen on (127.0.0.1)\n"
                 "  --port N               port; 0 picks a free one (8080)\n"
                 "  --device D             auto (default), cpu, cuda:N\n"
                 "  --precision P          fp32 (default), tf32, bf16, fp16 (CUDA only)\n"
                 "  --workers N            compute threads, one cuseg session each (1)\n"
                 "  --cpu-threads N        CPU threads per session; 0 = cores / workers (0)\n"
                 "  --http-threads N       connection threads (32)\n"
                 "  --max-batch N          images per model run, equal sizes only (4)\n"
                 "  --max-delay-ms MS      longest wait for a batch to fill (5)\n"
                 "  --max-body-bytes N     larger request bodies get 413 (16777216)\n"
                 "  --max-pixels N         larger images get 413 (4194304)\n"
                 "  --max-queue N          images waiting for a worker; beyond, 503 (256)\n"
                 "  --memory-budget BYTES  activation memory per session; 0 = none (0)\n"
                 "The first line on stdout is \"listening on http://HOST:PORT\".\n"
                 "SIGTERM or SIGINT: finish the requests in flight, then exit 0.\n");
    return code;
}

bool parse_ll(const char *s, long long lo, long long hi, long long *out) {
    char *end = nullptr;
    errno = 0;
    const long long v = std::strtoll(s, &end, 10);
    if (end == s || *end || errno || v < lo || v > hi) return false;
    *out = v;
    return true;
}

// Returns -1 to continue, else an exit status.
int parse_options(int argc, char **argv, Options *o) {
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        if (a == "-h" || a == "--help") return usage(stdout, 0);
        if (i + 1 >= argc) {
            std::fprintf(stderr, "cuseg-service: %s needs a value (or is unknown)\n", a.c_str());
            return usage(stderr, 2);
        }
        const char *v = argv[++i];
        long long n = 0;
        bool ok = true;
        if (a == "-m" || a == "--model") o->model = v;
        else if (a == "--host") o->host = v;
        else if (a == "--device") o->device = v;
        else if (a == "--precision") {
            o->precision = v;
            ok = o->precision == "fp32" || o->precision == "tf32" || o->precision == "bf16" || o->precision == "fp16";
        } else if (a == "--port") ok = parse_ll(v, 0, 65535, &n) && (o->port = (int)n, true);
        else if (a == "--workers") ok = parse_ll(v, 1, 256, &n) && (o->workers = (int)n, true);
        else if (a == "--cpu-threads") ok = parse_ll(v, 0, 1024, &n) && (o->cpu_threads = (int)n, true);
        else if (a == "--http-threads") ok = parse_ll(v, 1, 1024, &n) && (o->http_threads = (int)n, true);
        else if (a == "--max-batch") ok = parse_ll(v, 1, 64, &n) && (o->max_batch = (int)n, true);
        else if (a == "--max-delay-ms") {
            char *end = nullptr;
            o->max_delay_ms = std::strtod(v, &end);
            ok = end != v && !*end && o->max_delay_ms >= 0 && o->max_delay_ms <= 60000;
        } else if (a == "--max-body-bytes") ok = parse_ll(v, 1, 1ll << 40, &o->max_body);
        else if (a == "--max-pixels") ok = parse_ll(v, 1, 1ll << 40, &o->max_pixels);
        else if (a == "--max-queue") ok = parse_ll(v, 1, 1 << 20, &n) && (o->max_queue = (int)n, true);
        else if (a == "--memory-budget") ok = parse_ll(v, 0, 1ll << 50, &o->memory_budget);
        else {
            std::fprintf(stderr, "cuseg-service: unknown option %s\n", a.c_str());
            return usage(stderr, 2);
        }
        if (!ok) {
            std::fprintf(stderr, "cuseg-service: bad value for %s: '%s'\n", a.c_str(), v);
            return 2;
        }
    }
    if (o->model.empty()) return usage(stderr, 2);
    return -1;
}

// ------------------------------------------------------------------ helpers

std::string json_escape(const std::string &s) {
    std::string out;
    for (unsigned char c : s) {
        if (c == '"' || c == '\\') out += '\\', out += (char)c;
        else if (c == '\n') out += "\\n";
        else if (c < 0x20) {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\u%04x", c);
            out += buf;
        } else out += (char)c;
    }
    return out;
}

// Width and height from a PNG IHDR or a JPEG SOFn marker, without decoding,
// so that the pixel limit holds before any pixel memory is spent. False when
// the header cannot be read (the decoder then reports why).
bool peek_size(const unsigned char *b, size_t n, long long *w, long long *h) {
    static const unsigned char png_sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    auto be16 = [&](size_t i) { return (long long)b[i] << 8 | b[i + 1]; };
    auto be32 = [&](size_t i) { return be16(i) << 16 | be16(i + 2); };
    if (n >= 24 && !std::memcmp(b, png_sig, 8) && !std::memcmp(b + 12, "IHDR", 4)) {
        *w = be32(16), *h = be32(20);
        return true;
    }
    if (n < 4 || b[0] != 0xff || b[1] != 0xd8) return false;
    size_t i = 2;
    while (i + 4 <= n) {
        if (b[i] != 0xff) return false;
        const unsigned m = b[i + 1];
        if (m == 0xff) { ++i; continue; }
        if (m == 0x01 || (m >= 0xd0 && m <= 0xd8)) { i += 2; continue; }
        const size_t len = (size_t)be16(i + 2);
        const bool sof = m >= 0xc0 && m <= 0xcf && m != 0xc4 && m != 0xc8 && m != 0xcc;
        if (sof) {
            if (i + 9 > n) return false;
            *h = be16(i + 5), *w = be16(i + 7);
            return true;
        }
        if (len < 2) return false;
        i += 2 + len;
    }
    return false;
}

// ------------------------------------------------------------------ metrics

class Metrics {
  public:
    void request(const std::string &path, int code) {
        std::lock_guard<std::mutex> l(mu_);
        ++requests_[{path, code}];
    }
    void error(const std::string &reason) {
        std::lock_guard<std::mutex> l(mu_);
        ++errors_[reason];
    }
    void latency(double s) {
        std::lock_guard<std::mutex> l(mu_);
        observe(latency_, kLatencyBounds, s);
    }
    void batch(int n, double run_s) {
        std::lock_guard<std::mutex> l(mu_);
        observe(batch_, kBatchBounds, n);
        observe(run_, kLatencyBounds, run_s);
    }
    std::string text(int queue, int in_flight, int workers) const {
        std::lock_guard<std::mutex> l(mu_);
        std::ostringstream o;
        o << "# HELP cuseg_http_requests_total HTTP requests answered, by path and status code.\n"
             "# TYPE cuseg_http_requests_total counter\n";
        for (const auto &kv : requests_)
            o << "cuseg_http_requests_total{path=\"" << kv.first.first << "\",code=\"" << kv.first.second << "\"} "
              << kv.second << "\n";
        o << "# HELP cuseg_segment_errors_total Failed /v1/segment requests, by reason.\n"
             "# TYPE cuseg_segment_errors_total counter\n";
        for (const auto &kv : errors_)
            o << "cuseg_segment_errors_total{reason=\"" << kv.first << "\"} " << kv.second << "\n";
        write(o, "cuseg_segment_latency_seconds",
              "Time from a /v1/segment request's receipt to its response, seconds.", latency_, kLatencyBounds);
        write(o, "cuseg_batch_size", "Images per model run.", batch_, kBatchBounds);
        write(o, "cuseg_batch_run_seconds", "Duration of a model run (one batch), seconds.", run_, kLatencyBounds);
        o << "# HELP cuseg_queue_images Images waiting for a worker.\n# TYPE cuseg_queue_images gauge\n"
          << "cuseg_queue_images " << queue << "\n"
          << "# HELP cuseg_in_flight_requests /v1/segment requests being handled.\n"
             "# TYPE cuseg_in_flight_requests gauge\n"
          << "cuseg_in_flight_requests " << in_flight << "\n"
          << "# HELP cuseg_workers Compute threads (one session each).\n# TYPE cuseg_workers gauge\n"
          << "cuseg_workers " << workers << "\n";
        return o.str();
    }

  private:
    struct Histogram {
        std::vector<unsigned long long> counts; // per bound, not cumulative; last is +Inf
        double sum = 0;
        unsigned long long n = 0;
    };
    static inline const std::vector<double> kLatencyBounds = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                                              0.25,  0.5,    1,     2.5,  5,     10};
    static inline const std::vector<double> kBatchBounds = {1, 2, 4, 8, 16, 32, 64};

    static void observe(Histogram &h, const std::vector<double> &bounds, double v) {
        if (h.counts.empty()) h.counts.assign(bounds.size() + 1, 0);
        size_t k = 0;
        while (k < bounds.size() && v > bounds[k]) ++k;
        ++h.counts[k];
        h.sum += v;
        ++h.n;
    }
    static void write(std::ostringstream &o, const char *name, const char *help, const Histogram &h,
                      const std::vector<double> &bounds) {
        o << "# HELP " << name << " " << help << "\n# TYPE " << name << " histogram\n";
        unsigned long long cum = 0;
        for (size_t k = 0; k <= bounds.size(); ++k) {
            cum += h.counts.empty() ? 0 : h.counts[k];
            o << name << "_bucket{le=\"";
            if (k < bounds.size()) o << bounds[k];
            else o << "+Inf";
            o << "\"} " << cum << "\n";
        }
        o << name << "_sum " << h.sum << "\n" << name << "_count " << h.n << "\n";
    }

    mutable std::mutex mu_;
    std::map<std::pair<std::string, int>, unsigned long long> requests_;
    std::map<std::string, unsigned long long> errors_;
    Histogram latency_, batch_, run_;
};

// ------------------------------------------------------------------ batcher

struct Result {
    cuseg_status status = CUSEG_OK;
    std::string message;
    int bits = 8;                 // 8, or 16 above 256 classes
    std::vector<uint8_t> classes; // h*w samples of `bits` bits, host order
};

struct Job {
    cs_image img{};
    Clock::time_point enqueued;
    std::promise<Result> done;
    ~Job() { cs_image_free(&img); }
};

// Groups queued images of equal size into runs of at most max_batch; a run
// leaves when full or when its oldest image has waited max_delay.
class Batcher {
  public:
    Batcher(const cuseg::Model &model, const cuseg::Context &ctx, const cs_preprocess &pre, int in_c, int classes,
            const Options &o, int cpu_threads, Metrics &metrics)
        : max_batch_(o.max_batch), max_queue_(o.max_queue),
          max_delay_(std::chrono::microseconds((long long)(o.max_delay_ms * 1000.0))), classes_(classes),
          metrics_(metrics) {
        // Sessions are created here, so that a model the device cannot run
        // fails at start-up rather than on the first request.
        for (int k = 0; k < o.workers; ++k) sessions_.emplace_back(model, ctx);
        for (int k = 0; k < o.workers; ++k) {
            cs_seg_engine e{};
            e.session = sessions_[k].get();
            e.pre = pre;
            e.in_c = in_c;
            e.classes = classes;
            e.flip = 0;
            e.n_scales = 1;
            e.scales[0] = 1.0;
            e.batch = max_batch_;
            e.threads = cpu_threads;
            cuseg::check(cs_seg_resize_from_graph(cuseg_model_graph(model.get()), &e));
            engines_.push_back(e);
        }
        for (int k = 0; k < o.workers; ++k) threads_.emplace_back([this, k] { work(k); });
    }
    ~Batcher() { stop(); }

    std::string device() const { return sessions_.empty() ? "" : sessions_[0].device(); }

    // nullptr future when the queue is full or the batcher has stopped.
    bool submit(std::unique_ptr<Job> job, std::future<Result> *out) {
        std::lock_guard<std::mutex> l(mu_);
        if (stopping_ || (int)queue_.size() >= max_queue_) return false;
        job->enqueued = Clock::now();
        *out = job->done.get_future();
        queue_.push_back(std::move(job));
        cv_.notify_all();
        return true;
    }
    int queued() const {
        std::lock_guard<std::mutex> l(mu_);
        return (int)queue_.size();
    }
    // Workers finish everything queued, then exit.
    void stop() {
        {
            std::lock_guard<std::mutex> l(mu_);
            stopping_ = true;
        }
        cv_.notify_all();
        for (auto &t : threads_)
            if (t.joinable()) t.join();
    }

  private:
    // Under mu_: a batch that is ready to run (oldest group first), or an
    // empty vector and the time at which the next group becomes ready.
    std::vector<std::unique_ptr<Job>> take_ready(Clock::time_point *next_deadline) {
        const auto now = Clock::now();
        *next_deadline = Clock::time_point::max();
        std::vector<bool> seen(queue_.size(), false);
        for (size_t i = 0; i < queue_.size(); ++i) {
            if (seen[i]) continue;
            const Job &head = *queue_[i];
            std::vector<size_t> group;
            for (size_t j = i; j < queue_.size() && (int)group.size() < max_batch_; ++j)
                if (!seen[j] && queue_[j]->img.h == head.img.h && queue_[j]->img.w == head.img.w) {
                    group.push_back(j);
                    seen[j] = true;
                }
            const auto deadline = head.enqueued + max_delay_;
            if ((int)group.size() >= max_batch_ || deadline <= now || stopping_) {
                std::vector<std::unique_ptr<Job>> batch;
                for (size_t j : group) batch.push_back(std::move(queue_[j]));
                queue_.erase(std::remove(queue_.begin(), queue_.end(), nullptr), queue_.end());
                return batch;
            }
            *next_deadline = std::min(*next_deadline, deadline);
        }
        return {};
    }

    void work(int k) {
        for (;;) {
            std::vector<std::unique_ptr<Job>> batch;
            {
                std::unique_lock<std::mutex> l(mu_);
                for (;;) {
                    if (queue_.empty()) {
                        if (stopping_) return;
                        cv_.wait(l);
                        continue;
                    }
                    Clock::time_point next;
                    batch = take_ready(&next);
                    if (!batch.empty()) break;
                    cv_.wait_until(l, next);
                }
            }
            run(engines_[k], batch);
        }
    }

    void run(cs_seg_engine &e, std::vector<std::unique_ptr<Job>> &batch) {
        const int n = (int)batch.size(), h = batch[0]->img.h, w = batch[0]->img.w, C = classes_;
        const size_t plane = (size_t)h * w;
        const auto t0 = Clock::now();
        std::vector<std::vector<float>> probs(n);
        std::vector<float *> prob_ptr(n);
        std::vector<const uint8_t *> imgs(n);
        Result failed;
        try {
            for (int i = 0; i < n; ++i) {
                probs[i].resize(plane * C);
                prob_ptr[i] = probs[i].data();
                imgs[i] = static_cast<const uint8_t *>(batch[i]->img.data);
            }
            failed.status = cs_seg_predict(&e, imgs.data(), n, h, w, prob_ptr.data());
            if (failed.status != CUSEG_OK) failed.message = cuseg_last_error();
        } catch (const std::bad_alloc &) {
            failed.status = CUSEG_ERR_OUT_OF_MEMORY;
            failed.message = "out of memory for a batch of " + std::to_string(n) + " images";
        }
        metrics_.batch(n, seconds_since(t0));
        for (int i = 0; i < n; ++i) {
            if (failed.status != CUSEG_OK) {
                batch[i]->done.set_value(failed);
                continue;
            }
            Result r;
            r.bits = C > 256 ? 16 : 8;
            r.classes.resize(plane * (r.bits / 8));
            // The class decision of `cuseg segment` (take_rows): the first
            // maximum of the softmax probabilities.
            const float *p = probs[i].data();
            for (size_t px = 0; px < plane; ++px, p += C) {
                int best = 0;
                for (int c = 1; c < C; ++c)
                    if (p[c] > p[best]) best = c;
                if (r.bits == 16) reinterpret_cast<uint16_t *>(r.classes.data())[px] = (uint16_t)best;
                else r.classes[px] = (uint8_t)best;
            }
            std::vector<float>().swap(probs[i]);
            batch[i]->done.set_value(std::move(r));
        }
    }

    const int max_batch_, max_queue_;
    const std::chrono::microseconds max_delay_;
    const int classes_;
    Metrics &metrics_;
    std::vector<cuseg::Session> sessions_;
    std::vector<cs_seg_engine> engines_;
    std::vector<std::thread> threads_;
    mutable std::mutex mu_;
    std::condition_variable cv_;
    std::deque<std::unique_ptr<Job>> queue_;
    bool stopping_ = false;
};

// ------------------------------------------------------------------ service

struct Service {
    Options opt;
    Metrics metrics;
    int in_c = 3, classes = 0;
    std::string arch;
    Batcher *batcher = nullptr;
    std::atomic<int> in_flight{0};
    std::atomic<bool> draining{false};

    void reply_error(httplib::Response &res, int code, const std::string &reason, const std::string &message) {
        metrics.error(reason);
        res.status = code;
        res.set_content("{\"error\":\"" + json_escape(message) + "\",\"reason\":\"" + reason + "\",\"status\":" +
                            std::to_string(code) + "}\n",
                        "application/json");
    }

    static bool wants_json(const httplib::Request &req, std::string *bad) {
        if (req.has_param("format")) {
            const std::string f = req.get_param_value("format");
            if (f == "json") return true;
            if (f != "png") *bad = "format='" + f + "': expected png or json";
            return false;
        }
        const std::string accept = req.get_header_value("Accept");
        return accept.find("application/json") != std::string::npos &&
               accept.find("image/png") == std::string::npos;
    }

    void segment(const httplib::Request &req, httplib::Response &res) {
        const auto t0 = Clock::now();
        ++in_flight;
        handle_segment(req, res);
        --in_flight;
        metrics.latency(seconds_since(t0));
    }

    void handle_segment(const httplib::Request &req, httplib::Response &res) {
        std::string bad;
        const bool json = wants_json(req, &bad);
        if (!bad.empty()) return reply_error(res, 400, "bad_request", bad);
        const auto *b = reinterpret_cast<const unsigned char *>(req.body.data());
        const size_t n = req.body.size();
        if (n == 0) return reply_error(res, 400, "empty_body", "empty request body: send a PNG or JPEG image");
        if ((long long)n > opt.max_body)
            return reply_error(res, 413, "body_too_large",
                               "body of " + std::to_string(n) + " bytes exceeds the limit of " +
                                   std::to_string(opt.max_body));
        const bool png = n >= 8 && !std::memcmp(b, "\x89PNG\r\n\x1a\n", 8);
        const bool jpeg = n >= 3 && b[0] == 0xff && b[1] == 0xd8 && b[2] == 0xff;
        if (!png && !jpeg) return reply_error(res, 415, "not_an_image", "the body is not a PNG or JPEG image");
        long long w = 0, h = 0;
        if (peek_size(b, n, &w, &h) && w * h > opt.max_pixels)
            return reply_error(res, 413, "too_many_pixels",
                               "image of " + std::to_string(w) + "x" + std::to_string(h) + " = " +
                                   std::to_string(w * h) + " pixels exceeds the limit of " +
                                   std::to_string(opt.max_pixels));
        auto job = std::make_unique<Job>();
        if (cs_image_decode(b, n, "image", in_c == 1 ? CS_IMAGE_GRAY : CS_IMAGE_RGB, &job->img) != CUSEG_OK)
            return reply_error(res, 400, "bad_image", cuseg_last_error());
        if ((long long)job->img.w * job->img.h > opt.max_pixels) // a header peek_size could not read
            return reply_error(res, 413, "too_many_pixels",
                               "image of " + std::to_string(job->img.w) + "x" + std::to_string(job->img.h) +
                                   " pixels exceeds the limit of " + std::to_string(opt.max_pixels));
        const int ih = job->img.h, iw = job->img.w;
        std::future<Result> fut;
        if (draining) return reply_error(res, 503, "shutting_down", "the service is shutting down");
        if (!batcher->submit(std::move(job), &fut)) {
            res.set_header("Retry-After", "1");
            return reply_error(res, 503, "overloaded",
                               "queue full (" + std::to_string(opt.max_queue) + " images waiting)");
        }
        Result r = fut.get();
        if (r.status != CUSEG_OK) {
            // Shapes a model cannot take are the request's problem; memory and
            // device failures are the service's.
            const bool client = r.status == CUSEG_ERR_SHAPE || r.status == CUSEG_ERR_INVALID_ARGUMENT;
            const int code = client ? 422 : r.status == CUSEG_ERR_OUT_OF_MEMORY ? 503 : 500;
            return reply_error(res, code, client ? "model_rejected_input" : "inference_failed", r.message);
        }
        if (json) {
            std::vector<long long> counts(classes, 0);
            const size_t px = (size_t)ih * iw;
            for (size_t i = 0; i < px; ++i)
                ++counts[r.bits == 16 ? reinterpret_cast<const uint16_t *>(r.classes.data())[i] : r.classes[i]];
            std::string s = "{\"height\":" + std::to_string(ih) + ",\"width\":" + std::to_string(iw) +
                            ",\"classes\":" + std::to_string(classes) + ",\"counts\":[";
            for (int c = 0; c < classes; ++c) s += (c ? "," : "") + std::to_string(counts[c]);
            s += "]}\n";
            res.set_content(s, "application/json");
            return;
        }
        unsigned char *out = nullptr;
        size_t out_size = 0;
        // Class maps are flat regions: zlib level 1 loses little size and is fast.
        if (cs_png_encode(r.classes.data(), ih, iw, 1, r.bits, nullptr, 1, &out, &out_size) != CUSEG_OK)
            return reply_error(res, 500, "encode_failed", cuseg_last_error());
        res.set_content(std::string(reinterpret_cast<char *>(out), out_size), "image/png");
        std::free(out);
    }
};

}  // namespace

int main(int argc, char **argv) {
    Options opt;
    if (const int rc = parse_options(argc, argv, &opt); rc >= 0) return rc;

    // Signals are taken by one thread with sigwait; every other thread
    // (httplib's pool, workers, OpenMP's) inherits this mask.
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGUSR1); // wakes the signal thread when the server stops by itself
    pthread_sigmask(SIG_BLOCK, &sigs, nullptr);
    signal(SIGPIPE, SIG_IGN);

    Service svc;
    svc.opt = opt;
    try {
        // A model file, or ARCH[:options] from the zoo with zero weights (as
        // `cuseg segment -m` takes it): for load tests, where weights do not
        // change the cost.
        const bool is_file = opt.model.size() > 12 && opt.model.rfind(".safetensors") == opt.model.size() - 12;
        const size_t colon = opt.model.find(':');
        cuseg::Model model = is_file ? cuseg::Model::load(opt.model)
                                     : cuseg::Model::from(cuseg::Graph::build(
                                           opt.model.substr(0, colon),
                                           colon == std::string::npos ? "" : opt.model.substr(colon + 1)));
        const cuseg_graph *g = cuseg_model_graph(model.get());
        svc.in_c = g->values[g->inputs[0]].channels;
        svc.classes = g->values[g->outputs[0]].channels;
        svc.arch = model.meta("arch", "?");
        if (g->n_inputs != 1 || (svc.in_c != 1 && svc.in_c != 3)) {
            std::fprintf(stderr, "cuseg-service: the model must have one input of 1 or 3 channels\n");
            return 1;
        }
        cs_preprocess pre;
        cuseg::check(cs_preprocess_from_graph(g, &pre));
        const int cores = (int)std::max(1l, sysconf(_SC_NPROCESSORS_ONLN));
        const int cpu_threads = opt.cpu_threads > 0 ? opt.cpu_threads : std::max(1, cores / opt.workers);
        cuseg::ContextOptions co;
        co.device = opt.device;
        co.cpu_threads = cpu_threads;
        co.precision = opt.precision == "tf32"   ? CUSEG_PRECISION_TF32
                       : opt.precision == "bf16" ? CUSEG_PRECISION_BF16
                       : opt.precision == "fp16" ? CUSEG_PRECISION_FP16
                                                 : CUSEG_PRECISION_FP32;
        co.memory_budget = (size_t)opt.memory_budget;
        cuseg::Context ctx(co);
        // Declared after the model and the context: its sessions go first.
        std::unique_ptr<Batcher> batcher = std::make_unique<Batcher>(model, ctx, pre, svc.in_c, svc.classes, opt, cpu_threads, svc.metrics);
        svc.batcher = batcher.get();

        httplib::Server server;
        const int http_threads = opt.http_threads;
        server.new_task_queue = [http_threads] { return new httplib::ThreadPool((size_t)http_threads); };
        // Bodies above the limit are refused while reading (413), not buffered.
        server.set_payload_max_length((size_t)opt.max_body);
        // Headers and body go out in separate writes: without TCP_NODELAY,
        // Nagle holds the body until the client's delayed ACK (~40 ms).
        server.set_tcp_nodelay(true);
        server.Post("/v1/segment",
                    [&svc](const httplib::Request &req, httplib::Response &res) { svc.segment(req, res); });
        server.Get("/healthz", [&svc](const httplib::Request &, httplib::Response &res) {
            if (svc.draining) {
                res.status = 503;
                res.set_content("{\"status\":\"draining\"}\n", "application/json");
                return;
            }
            res.set_content("{\"status\":\"ok\",\"arch\":\"" + json_escape(svc.arch) + "\",\"device\":\"" +
                                json_escape(svc.batcher->device()) + "\",\"classes\":" +
                                std::to_string(svc.classes) + ",\"workers\":" + std::to_string(svc.opt.workers) +
                                "}\n",
                            "application/json");
        });
        server.Get("/metrics", [&svc](const httplib::Request &, httplib::Response &res) {
            res.set_content(svc.metrics.text(svc.batcher->queued(), svc.in_flight, svc.opt.workers),
                            "text/plain; version=0.0.4");
        });
        // Errors cpp-httplib answers itself (body over the limit, malformed
        // request, unknown path) get a JSON body like ours.
        server.set_error_handler(httplib::Server::HandlerWithResponse([&svc](const httplib::Request &req,
                                                                             httplib::Response &res) {
            if (!res.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
            const char *what = res.status == 413   ? "body_too_large"
                               : res.status == 404 ? "not_found"
                               : res.status == 405 ? "method_not_allowed"
                                                   : "bad_request";
            if (req.path == "/v1/segment") svc.metrics.error(what);
            std::string msg = res.status == 413 ? "request body exceeds the limit of " +
                                                      std::to_string(svc.opt.max_body) + " bytes"
                                                : std::string(what);
            res.set_content("{\"error\":\"" + json_escape(msg) + "\",\"reason\":\"" + what +
                                "\",\"status\":" + std::to_string(res.status) + "}\n",
                            "application/json");
            return httplib::Server::HandlerResponse::Handled;
        }));
        server.set_logger([&svc](const httplib::Request &req, const httplib::Response &res) {
            const bool known = req.path == "/v1/segment" || req.path == "/healthz" || req.path == "/metrics";
            svc.metrics.request(known ? req.path : "other", res.status);
        });

        const int port = opt.port == 0 ? server.bind_to_any_port(opt.host) : server.bind_to_port(opt.host, opt.port)
                                                                                ? opt.port
                                                                                : -1;
        if (port < 0) {
            std::fprintf(stderr, "cuseg-service: cannot listen on %s:%d\n", opt.host.c_str(), opt.port);
            return 1;
        }
        std::printf("listening on http://%s:%d\n", opt.host.c_str(), port);
        std::printf("model %s (%s, %d classes), device %s, %d worker(s) x %d CPU thread(s), max batch %d, "
                    "max delay %g ms\n",
                    opt.model.c_str(), svc.arch.c_str(), svc.classes, batcher->device().c_str(), opt.workers,
                    cpu_threads, opt.max_batch, opt.max_delay_ms);
        std::fflush(stdout);

        std::atomic<bool> listen_done{false};
        std::thread signals([&] {
            int sig = 0;
            sigwait(&sigs, &sig);
            if (sig == SIGUSR1) return;
            std::fprintf(stderr, "cuseg-service: %s: draining\n", sig == SIGINT ? "SIGINT" : "SIGTERM");
            svc.draining = true;
            // stop() acts only once listen has started; it may not have yet.
            while (!listen_done && !server.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
            server.stop();
        });
        // Returns once stopped and every connection thread has finished its
        // request (httplib joins its pool), i.e. after the drain.
        const bool ok = server.listen_after_bind();
        listen_done = true;
        pthread_kill(signals.native_handle(), SIGUSR1);
        signals.join();
        batcher->stop();
        std::fprintf(stderr, "cuseg-service: stopped\n");
        return ok || svc.draining ? 0 : 1;
    } catch (const cuseg::Error &e) {
        std::fprintf(stderr, "cuseg-service: %s\n", e.what());
        return 1;
    }
}
