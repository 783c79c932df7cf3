/* cuseg-service through the real binary on 127.0.0.1 (ephemeral port) with a
 * small U-Net (random weights, ImageNet mean/std metadata) saved by the test:
 * concurrent requests return exactly `cuseg segment`'s masks (PNG and JSON
 * counts), bad bodies get 4xx with a JSON error while the service keeps
 * serving, /metrics counts what was sent, and SIGTERM drains requests in
 * flight and exits 0. In the sanitizer build (tests/run.sh) the service
 * itself runs under ASan+UBSan, and a leak or error makes its exit status
 * non-zero, which the drain test checks. */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>
#include <httplib.h>
#include <jpeglib.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <random>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "cuseg.h"
#include "model_maker.h"
extern "C" {
#include "io/image.h"
}

extern char **environ;

namespace {

std::string slurp(const std::string &path) {
    std::ifstream f(path, std::ios::binary);
    return std::string((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}

/* A U-Net with random weights (fan-in scaled so logits vary) and
 * preprocessing metadata, saved to path. */
void make_model(const std::string &path) {
    cstest::save_random_model(path, "unet_bn", "classes=5,width=4,depth=2,upsampling=bilinear", 3,
                              {{"mean", "0.485,0.456,0.406"}, {"std", "0.229,0.224,0.225"}});
}

std::string encode_jpeg(const std::vector<uint8_t> &rgb, int h, int w) {
    jpeg_compress_struct c;
    jpeg_error_mgr err;
    c.err = jpeg_std_error(&err);
    jpeg_create_compress(&c);
    unsigned char *buf = nullptr;
    unsigned long size = 0;
    jpeg_mem_dest(&c, &buf, &size);
    c.image_width = (JDIMENSION)w;
    c.image_height = (JDIMENSION)h;
    c.input_components = 3;
    c.in_color_space = JCS_RGB;
    jpeg_set_defaults(&c);
    jpeg_set_quality(&c, 90, TRUE);
    jpeg_start_compress(&c, TRUE);
    while (c.next_scanline < c.image_height) {
        JSAMPROW row = const_cast<JSAMPROW>(rgb.data() + (size_t)c.next_scanline * w * 3);
        jpeg_write_scanlines(&c, &row, 1);
    }
    jpeg_finish_compress(&c);
    jpeg_destroy_compress(&c);
    std::string out(reinterpret_cast<char *>(buf), size);
    free(buf);
    return out;
}

struct Image {
    std::string name, body;      /* file name under in/, encoded bytes */
    std::vector<uint8_t> mask;   /* `cuseg segment`'s class map */
    std::vector<long long> counts;
    int h = 0, w = 0;
};

/* A running cuseg-service: its pid, port and log (stderr). */
struct Server {
    pid_t pid = -1;
    int port = 0;
    std::string log;

    bool start(const std::vector<std::string> &args, const std::string &log_path) {
        log = log_path;
        int out[2];
        if (pipe(out) != 0) return false;
        posix_spawn_file_actions_t fa;
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_adddup2(&fa, out[1], 1);
        posix_spawn_file_actions_addclose(&fa, out[0]);
        posix_spawn_file_actions_addopen(&fa, 2, log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        std::vector<std::string> all = {CUSEG_SERVICE, "--host", "127.0.0.1", "--port", "0"};
        all.insert(all.end(), args.begin(), args.end());
        std::vector<char *> argv;
        for (auto &a : all) argv.push_back(const_cast<char *>(a.c_str()));
        argv.push_back(nullptr);
        const int rc = posix_spawn(&pid, CUSEG_SERVICE, &fa, nullptr, argv.data(), environ);
        posix_spawn_file_actions_destroy(&fa);
        close(out[1]);
        if (rc != 0) {
            close(out[0]);
            return false;
        }
        /* The first stdout line names the port; the sanitizer build starts slowly. */
        std::string line;
        pollfd p{out[0], POLLIN, 0};
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
        while (line.find('\n') == std::string::npos && std::chrono::steady_clock::now() < deadline) {
            if (poll(&p, 1, 200) <= 0) continue;
            char buf[256];
            const ssize_t n = read(out[0], buf, sizeof buf);
            if (n <= 0) break;
            line.append(buf, (size_t)n);
        }
        close(out[0]); /* later stdout writes are lost (SIGPIPE is ignored by the service) */
        std::smatch m;
        if (!std::regex_search(line, m, std::regex("listening on http://127\\.0\\.0\\.1:([0-9]+)"))) return false;
        port = std::stoi(m[1]);
        return true;
    }
    /* Exit status after SIGTERM (or -1 when it did not exit in time). */
    int stop(int timeout_s = 60) {
        if (pid <= 0) return -1;
        kill(pid, SIGTERM);
        return wait_exit(timeout_s);
    }
    int wait_exit(int timeout_s) {
        int status = 0;
        for (int k = 0; k < timeout_s * 100; ++k) {
            const pid_t r = waitpid(pid, &status, WNOHANG);
            if (r == pid) {
                pid = -1;
                return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
        return -1;
    }
    ~Server() {
        if (pid > 0) {
            kill(pid, SIGKILL);
            waitpid(pid, nullptr, 0);
        }
    }
    std::unique_ptr<httplib::Client> client() const {
        auto c = std::make_unique<httplib::Client>("127.0.0.1", port);
        c->set_read_timeout(60, 0);
        c->set_write_timeout(60, 0);
        return c;
    }
};

constexpr long long kMaxBody = 300000, kMaxPixels = 5000;

class Service : public testing::Test {
  protected:
    static void SetUpTestSuite() {
        dir_ = new std::string(testing::TempDir() + "/service_" + std::to_string(getpid()));
        const std::string &d = *dir_;
        ASSERT_EQ(std::system(("rm -rf '" + d + "' && mkdir -p '" + d + "/in'").c_str()), 0);
        make_model(d + "/model.safetensors");
        images_ = new std::vector<Image>();
        /* Three sizes (batches group equal sizes), and a JPEG. */
        const int sizes[][2] = {{40, 48}, {40, 48}, {40, 48}, {33, 57}, {33, 57}, {64, 64}, {17, 23}};
        uint32_t seed = 1;
        for (const auto &s : sizes) {
            Image im;
            im.h = s[0], im.w = s[1];
            im.name = "p" + std::to_string(seed);
            const auto px = cstest::smooth_image(im.h, im.w, seed++);
            const std::string path = d + "/in/" + im.name + ".png";
            ASSERT_EQ(cs_png_write(path.c_str(), px.data(), im.h, im.w, 3, 8, nullptr), CUSEG_OK);
            im.body = slurp(path);
            images_->push_back(im);
        }
        for (int k = 0; k < 2; ++k) {
            Image im;
            im.h = 40, im.w = 48;
            im.name = "j" + std::to_string(k);
            im.body = encode_jpeg(cstest::smooth_image(im.h, im.w, seed++), im.h, im.w);
            std::ofstream(d + "/in/" + im.name + ".jpg", std::ios::binary) << im.body;
            images_->push_back(im);
        }
        /* The reference: the real CLI on the same files. */
        const std::string cmd = std::string(CUSEG_CLI) + " segment -m '" + d + "/model.safetensors' -i '" + d +
                                "/in' -o '" + d + "/out' --quiet > '" + d + "/cli.log' 2>&1";
        ASSERT_EQ(std::system(cmd.c_str()), 0) << slurp(d + "/cli.log");
        for (Image &im : *images_) {
            cs_image m;
            ASSERT_EQ(cs_image_read((d + "/out/" + im.name + ".png").c_str(), CS_IMAGE_LABEL, &m), CUSEG_OK)
                << cuseg_last_error();
            ASSERT_EQ(m.bit_depth, 8);
            im.mask.assign((uint8_t *)m.data, (uint8_t *)m.data + (size_t)m.h * m.w);
            im.counts.assign(5, 0);
            for (uint8_t v : im.mask) ++im.counts.at(v);
            cs_image_free(&m);
        }
        server_ = new Server();
        ASSERT_TRUE(server_->start({"-m", d + "/model.safetensors", "--workers", "2", "--cpu-threads", "1",
                                    "--max-batch", "4", "--max-delay-ms", "20", "--max-body-bytes",
                                    std::to_string(kMaxBody), "--max-pixels", std::to_string(kMaxPixels)},
                                   d + "/service.log"))
            << slurp(d + "/service.log");
    }
    static void TearDownTestSuite() {
        if (server_) {
            const int rc = server_->stop();
            EXPECT_EQ(rc, 0) << slurp(server_->log);
        }
        delete server_;
        if (!HasFailure()) std::system(("rm -rf '" + *dir_ + "'").c_str());
        delete images_;
        delete dir_;
        server_ = nullptr;
    }
    void TearDown() override {
        if (HasFailure() && server_) std::fprintf(stderr, "service log:\n%s\n", slurp(server_->log).c_str());
    }

    /* Empty when the PNG response equals the image's reference mask. */
    static std::string check_png(const Image &im, const httplib::Result &r) {
        if (!r) return "no response: " + httplib::to_string(r.error());
        if (r->status != 200) return "status " + std::to_string(r->status) + ": " + r->body;
        if (r->get_header_value("Content-Type") != "image/png") return "content type " + r->get_header_value("Content-Type");
        cs_image m;
        if (cs_image_decode(r->body.data(), r->body.size(), "response", CS_IMAGE_LABEL, &m) != CUSEG_OK)
            return cuseg_last_error();
        std::string err;
        if (m.h != im.h || m.w != im.w || m.bit_depth != 8) err = "response is not an 8-bit mask of the image's size";
        else {
            size_t diff = 0;
            for (size_t i = 0; i < im.mask.size(); ++i) diff += ((uint8_t *)m.data)[i] != im.mask[i];
            if (diff) err = im.name + ": " + std::to_string(diff) + " pixels differ from cuseg segment";
        }
        cs_image_free(&m);
        return err;
    }
    static std::string expected_json(const Image &im) {
        std::string s = "{\"height\":" + std::to_string(im.h) + ",\"width\":" + std::to_string(im.w) +
                        ",\"classes\":5,\"counts\":[";
        for (size_t c = 0; c < im.counts.size(); ++c) s += (c ? "," : "") + std::to_string(im.counts[c]);
        return s + "]}\n";
    }
    static double metric(const std::string &text, const std::string &name) {
        const size_t at = text.find("\n" + name + " ");
        return at == std::string::npos ? 0.0 : std::stod(text.substr(at + name.size() + 2));
    }
    static std::string metrics_text() {
        auto c = server_->client();
        auto r = c->Get("/metrics");
        return r && r->status == 200 ? "\n" + r->body : "";
    }

    static std::string *dir_;
    static std::vector<Image> *images_;
    static Server *server_;
};

std::string *Service::dir_ = nullptr;
std::vector<Image> *Service::images_ = nullptr;
Server *Service::server_ = nullptr;

TEST_F(Service, HealthzAndUnknownPaths) {
    auto c = server_->client();
    auto r = c->Get("/healthz");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    EXPECT_NE(r->body.find("\"status\":\"ok\""), std::string::npos) << r->body;
    EXPECT_NE(r->body.find("\"classes\":5"), std::string::npos) << r->body;
    r = c->Get("/nowhere");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 404);
    EXPECT_NE(r->body.find("\"error\""), std::string::npos) << r->body;
}

/* 8 clients, 6 requests each (bounded; well under a second on one core),
 * every answer compared with `cuseg segment`'s file pixel for pixel. */
TEST_F(Service, ConcurrentRequestsMatchTheCli) {
    const std::string before = metrics_text();
    constexpr int kClients = 8, kPerClient = 6;
    std::vector<std::string> errors(kClients);
    std::atomic<int> ok{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < kClients; ++t)
        threads.emplace_back([&, t] {
            auto c = server_->client();
            for (int k = 0; k < kPerClient && errors[t].empty(); ++k) {
                const Image &im = (*images_)[(t * kPerClient + k) % images_->size()];
                if (k % 3 == 2) { /* JSON counts, asked for both ways */
                    httplib::Headers h = {{"Accept", "application/json"}};
                    auto r = t % 2 ? c->Post("/v1/segment?format=json", im.body, "image/png")
                                   : c->Post("/v1/segment", h, im.body, "application/octet-stream");
                    if (!r || r->status != 200 || r->body != expected_json(im))
                        errors[t] = im.name + " json: " + (r ? r->body : httplib::to_string(r.error()));
                } else {
                    errors[t] = check_png(im, c->Post("/v1/segment", im.body, "image/png"));
                }
                if (errors[t].empty()) ++ok;
            }
        });
    for (auto &th : threads) th.join();
    for (int t = 0; t < kClients; ++t) EXPECT_EQ(errors[t], "") << "client " << t;
    EXPECT_EQ(ok.load(), kClients * kPerClient);
    /* Every image ran in exactly one batch, and concurrent same-size
     * requests were batched together at least once. */
    const std::string after = metrics_text();
    EXPECT_EQ(metric(after, "cuseg_batch_size_sum") - metric(before, "cuseg_batch_size_sum"), kClients * kPerClient);
    const double batches = metric(after, "cuseg_batch_size_count") - metric(before, "cuseg_batch_size_count");
    EXPECT_LT(batches, kClients * kPerClient) << after;
}

TEST_F(Service, BadBodiesGet4xxAndTheServiceKeepsServing) {
    auto c = server_->client();
    const Image &good = (*images_)[0];
    const std::string big_image = [] {
        std::string path = *dir_ + "/big.png";
        const auto px = cstest::smooth_image(80, 80, 9); /* 6400 pixels > kMaxPixels, small file */
        EXPECT_EQ(cs_png_write(path.c_str(), px.data(), 80, 80, 3, 8, nullptr), CUSEG_OK);
        return slurp(path);
    }();
    const std::string big_jpeg = encode_jpeg(cstest::smooth_image(80, 80, 9), 80, 80);
    struct Case {
        std::string what, body, query;
        int status;
        std::string reason;
    };
    const std::vector<Case> cases = {
        {"empty", "", "", 400, "empty_body"},
        {"truncated PNG", good.body.substr(0, good.body.size() / 2), "", 400, "bad_image"},
        {"PNG header only", good.body.substr(0, 40), "", 400, "bad_image"},
        {"truncated JPEG", (*images_).back().body.substr(0, 300), "", 400, "bad_image"},
        {"not an image", "hello, this is text, not pixels", "", 415, "not_an_image"},
        {"oversized body", std::string(kMaxBody + 1000, 'x'), "", 413, "body_too_large"},
        {"too many pixels (PNG)", big_image, "", 413, "too_many_pixels"},
        {"too many pixels (JPEG)", big_jpeg, "", 413, "too_many_pixels"},
        {"bad format", good.body, "?format=bmp", 400, "bad_request"},
    };
    for (const Case &k : cases) {
        auto r = c->Post(("/v1/segment" + k.query).c_str(), k.body, "image/png");
        ASSERT_TRUE(r) << k.what << ": " << httplib::to_string(r.error());
        EXPECT_EQ(r->status, k.status) << k.what << ": " << r->body;
        EXPECT_EQ(r->get_header_value("Content-Type"), "application/json") << k.what;
        EXPECT_NE(r->body.find("\"error\":\""), std::string::npos) << k.what << ": " << r->body;
        EXPECT_NE(r->body.find("\"reason\":\"" + k.reason + "\""), std::string::npos) << k.what << ": " << r->body;
        /* Still serving, with correct answers. */
        EXPECT_EQ(check_png(good, server_->client()->Post("/v1/segment", good.body, "image/png")), "") << k.what;
    }
    /* A request cut off mid-body (the client goes away): the connection is
     * dropped, nothing else is affected. */
    for (int k = 0; k < 3; ++k) {
        const int s = socket(AF_INET, SOCK_STREAM, 0);
        ASSERT_GE(s, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_port = htons((uint16_t)server_->port);
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        ASSERT_EQ(connect(s, (sockaddr *)&a, sizeof a), 0);
        const std::string head = "POST /v1/segment HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\n"
                                 "Content-Length: " + std::to_string(good.body.size()) + "\r\n\r\n";
        const std::string part = head + good.body.substr(0, good.body.size() / 3);
        ASSERT_EQ(send(s, part.data(), part.size(), MSG_NOSIGNAL), (ssize_t)part.size());
        close(s);
    }
    EXPECT_EQ(check_png(good, c->Post("/v1/segment", good.body, "image/png")), "");
    auto h = c->Get("/healthz");
    ASSERT_TRUE(h);
    EXPECT_EQ(h->status, 200);
}

TEST_F(Service, MetricsCountRequestsErrorsAndLatency) {
    const std::string before = metrics_text();
    ASSERT_NE(before.find("# TYPE cuseg_segment_latency_seconds histogram"), std::string::npos) << before;
    auto c = server_->client();
    const Image &good = (*images_)[3];
    for (int k = 0; k < 3; ++k) EXPECT_EQ(check_png(good, c->Post("/v1/segment", good.body, "image/png")), "");
    for (int k = 0; k < 2; ++k) {
        auto r = c->Post("/v1/segment", "GIF89a...", "image/gif");
        ASSERT_TRUE(r);
        EXPECT_EQ(r->status, 415);
    }
    /* httplib calls the logger, which counts a request, after the response
     * is written: on a busy machine the client can ask for /metrics before
     * the last count lands, so wait (bounded) for the counts to settle. */
    const std::string ok_count = "cuseg_http_requests_total{path=\"/v1/segment\",code=\"200\"}";
    const std::string bad_count = "cuseg_http_requests_total{path=\"/v1/segment\",code=\"415\"}";
    std::string after = metrics_text();
    for (int k = 0; k < 200 && (metric(after, ok_count) - metric(before, ok_count) < 3 ||
                                metric(after, bad_count) - metric(before, bad_count) < 2);
         ++k) {
        std::this_thread::sleep_for(std::chrono::milliseconds(25));
        after = metrics_text();
    }
    auto delta = [&](const std::string &name) { return metric(after, name) - metric(before, name); };
    EXPECT_EQ(delta("cuseg_http_requests_total{path=\"/v1/segment\",code=\"200\"}"), 3) << after;
    EXPECT_EQ(delta("cuseg_http_requests_total{path=\"/v1/segment\",code=\"415\"}"), 2) << after;
    EXPECT_EQ(delta("cuseg_segment_errors_total{reason=\"not_an_image\"}"), 2) << after;
    EXPECT_EQ(delta("cuseg_segment_latency_seconds_count"), 5) << after;
    EXPECT_EQ(delta("cuseg_segment_latency_seconds_bucket{le=\"+Inf\"}"), 5) << after;
    EXPECT_GT(delta("cuseg_segment_latency_seconds_sum"), 0) << after;
    EXPECT_EQ(delta("cuseg_batch_size_sum"), 3) << after;
    EXPECT_EQ(metric(after, "cuseg_queue_images"), 0) << after;
    EXPECT_EQ(metric(after, "cuseg_workers"), 2) << after;
}

/* A second instance with a long batching delay, so that requests are still
 * queued when SIGTERM arrives: all of them are answered (correctly), new
 * connections are refused, and the exit status is 0. */
TEST_F(Service, SigtermDrainsRequestsInFlight) {
    Server s;
    ASSERT_TRUE(s.start({"-m", *dir_ + "/model.safetensors", "--workers", "1", "--cpu-threads", "1",
                         "--max-batch", "8", "--max-delay-ms", "1000"},
                        *dir_ + "/drain.log"))
        << slurp(*dir_ + "/drain.log");
    constexpr int kClients = 4;
    std::vector<std::string> errors(kClients, "not answered");
    std::vector<std::thread> threads;
    for (int t = 0; t < kClients; ++t)
        threads.emplace_back([&, t] {
            const Image &im = (*images_)[t % 3]; /* same size: one batch, held by the delay */
            errors[t] = check_png(im, s.client()->Post("/v1/segment", im.body, "image/png"));
        });
    /* Wait until all four are in the service (in flight), then SIGTERM. */
    for (int k = 0; k < 500; ++k) {
        auto r = s.client()->Get("/metrics");
        if (r && metric("\n" + r->body, "cuseg_in_flight_requests") == kClients) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    kill(s.pid, SIGTERM);
    for (auto &th : threads) th.join();
    for (int t = 0; t < kClients; ++t) EXPECT_EQ(errors[t], "") << "client " << t;
    EXPECT_EQ(s.wait_exit(60), 0) << slurp(s.log);
    EXPECT_NE(slurp(s.log).find("draining"), std::string::npos) << slurp(s.log);
    auto r = s.client()->Get("/healthz");
    EXPECT_FALSE(r) << "still accepting after the drain";
}

}  // namespace
