/* `cuseg segment` through the real binary: bad files, resume after a kill,
 * shards, same-size batching, 16-bit output, tiling and TTA. The model is a
 * small U-Net with random weights saved by the test itself. */
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "cli_harness.h"
#include "model_maker.h"
#include "op_harness.h"

extern "C" {
#include "io/image.h"
#include "io/preprocess.h"
#include "ops/resize.h"
#include "post/crf.h"
}

using namespace cstest;

namespace {

/* A U-Net with random weights (fan-in scaled so logits vary), saved to path. */
void make_model(const std::string &path, const std::string &options, uint32_t seed = 1) {
    save_random_model(path, "unet_bn", options, seed);
}

void write_image(const std::string &path, int h, int w, uint32_t seed) {
    const auto img = smooth_image(h, w, seed);
    ASSERT_EQ(cs_png_write(path.c_str(), img.data(), h, w, 3, 8, nullptr), CUSEG_OK) << cuseg_last_error();
}

std::string read_file(const std::string &path) {
    std::ifstream f(path, std::ios::binary);
    return std::string((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}

/* Every regular file below dir, relative, sorted. */
void list_files(const std::string &root, const std::string &rel, std::vector<std::string> &out) {
    DIR *d = opendir((root + (rel.empty() ? "" : "/" + rel)).c_str());
    if (!d) return;
    while (dirent *e = readdir(d)) {
        const std::string n = e->d_name;
        if (n == "." || n == "..") continue;
        const std::string sub = rel.empty() ? n : rel + "/" + n;
        struct stat st;
        if (stat((root + "/" + sub).c_str(), &st) != 0) continue;
        if (S_ISDIR(st.st_mode)) list_files(root, sub, out);
        else out.push_back(sub);
    }
    closedir(d);
    std::sort(out.begin(), out.end());
}

std::vector<std::string> files(const std::string &root) {
    std::vector<std::string> v;
    list_files(root, "", v);
    return v;
}

/* The class map of a label PNG as ints. */
std::vector<int> read_labels(const std::string &path, int *h = nullptr, int *w = nullptr, int *bits = nullptr) {
    cs_image img;
    EXPECT_EQ(cs_image_read(path.c_str(), CS_IMAGE_LABEL, &img), CUSEG_OK) << cuseg_last_error();
    std::vector<int> v((size_t)img.h * img.w);
    for (size_t i = 0; i < v.size(); ++i)
        v[i] = img.bit_depth == 16 ? ((uint16_t *)img.data)[i] : ((uint8_t *)img.data)[i];
    if (h) *h = img.h;
    if (w) *w = img.w;
    if (bits) *bits = img.bit_depth;
    cs_image_free(&img);
    return v;
}

/* A float32 .npy written by --prob classes: shape and data. */
std::vector<float> read_npy(const std::string &path, int shape[3]) {
    const std::string s = read_file(path);
    EXPECT_GE(s.size(), 10u);
    if (s.size() < 10) return {};
    EXPECT_EQ(s.substr(1, 5), "NUMPY");
    const size_t hlen = (unsigned char)s[8] | ((unsigned char)s[9] << 8);
    const std::string header = s.substr(10, hlen);
    EXPECT_NE(header.find("'descr': '<f4'"), std::string::npos) << header;
    EXPECT_EQ((10 + hlen) % 64, 0u);
    std::sscanf(header.c_str() + header.find("'shape': (") + 10, "%d, %d, %d", &shape[0], &shape[1], &shape[2]);
    std::vector<float> v(((s.size() - 10 - hlen) / 4));
    std::memcpy(v.data(), s.data() + 10 + hlen, v.size() * 4);
    EXPECT_EQ(v.size(), (size_t)shape[0] * shape[1] * shape[2]);
    return v;
}

const char *kModelOptions = "classes=5,width=4,depth=2,upsampling=bilinear";

class Segment : public testing::Test {
  protected:
    void SetUp() override {
        dir = fresh_dir("seg", testing::UnitTest::GetInstance()->current_test_info()->name());
        model = dir + "/model.safetensors";
        make_model(model, kModelOptions);
    }
    std::string dir, model;
};

}  // namespace

TEST_F(Segment, BadFilesAreReportedByNameAndGoodOnesFinish) {
    CUSEG_REQUIRE_SHARED();
    const std::string in = dir + "/in", out = dir + "/out";
    mkdir(in.c_str(), 0755);
    mkdir((in + "/sub").c_str(), 0755);
    write_image(in + "/a.png", 48, 64, 1);
    write_image(in + "/sub/b.png", 40, 56, 2);
    const std::string jpg = std::string(CUSEG_SHARED_DIR) + "/datasets/labelme_examples/semantic_segmentation/json/2011_000025.jpg";
    std::string j = read_file(jpg);
    ASSERT_GT(j.size(), 1000u);
    std::ofstream(in + "/c.jpg", std::ios::binary) << j;
    const std::string png = read_file(in + "/a.png");
    std::ofstream(in + "/truncated.png", std::ios::binary) << png.substr(0, png.size() / 2);
    /* Keep the SOI marker and the signature byte, destroy the marker segments after it. */
    std::string broken = j;
    for (size_t k = 3; k < 40; ++k) broken[k] = (char)0x11;
    std::ofstream(in + "/sub/broken_header.jpg", std::ios::binary) << broken;
    std::ofstream(in + "/empty.png", std::ios::binary).flush();
    std::ofstream(in + "/notes.png") << "this is not an image\n";
    std::ofstream(in + "/README.txt") << "ignored: not an image name\n";

    const CliResult r = run_cli("segment -m " + model + " -i " + in + " -o " + out + " --palette --overlay --prob conf");
    EXPECT_EQ(r.rc, 1) << r.out;
    for (const char *bad : {"truncated.png", "sub/broken_header.jpg", "empty.png", "notes.png"})
        EXPECT_NE(r.out.find("FAILED " + in + "/" + bad + ": "), std::string::npos) << bad << "\n" << r.out;
    EXPECT_NE(r.out.find("4 files failed"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("3 segmented"), std::string::npos) << r.out;
    const std::vector<std::string> want = {"a.png",         "a_color.png",   "a_conf.png",    "a_overlay.png",
                                           "c.png",         "c_color.png",   "c_conf.png",    "c_overlay.png",
                                           "sub/b.png",     "sub/b_color.png", "sub/b_conf.png", "sub/b_overlay.png"};
    EXPECT_EQ(files(out), want); /* nothing for the bad files, no temporaries */
    int h, w, bits;
    const auto c = read_labels(out + "/c.png", &h, &w, &bits);
    EXPECT_EQ(h, 375);
    EXPECT_EQ(w, 500);
    EXPECT_EQ(bits, 8);
    EXPECT_LT(*std::max_element(c.begin(), c.end()), 5);
    EXPECT_GT(*std::max_element(c.begin(), c.end()), 0) << "random weights should not give one class everywhere";

    /* A rerun does nothing but report the bad files again. */
    const CliResult again = run_cli("segment -m " + model + " -i " + in + " -o " + out + " --palette --overlay --prob conf");
    EXPECT_EQ(again.rc, 1);
    EXPECT_NE(again.out.find("0 segmented, 3 skipped"), std::string::npos) << again.out;
}

TEST_F(Segment, MixedSizesBatchedEqualOneByOne) {
    const std::string in = dir + "/in";
    mkdir(in.c_str(), 0755);
    const int sizes[][2] = {{40, 56}, {33, 47}, {40, 56}, {64, 32}, {33, 47}, {40, 56}, {40, 56}, {64, 32}};
    for (int i = 0; i < 8; ++i) write_image(in + "/img" + std::to_string(i) + ".png", sizes[i][0], sizes[i][1], i);
    const CliResult one = run_cli("segment -m " + model + " -i " + in + " -o " + dir + "/one --batch 1 --prob classes");
    const CliResult many = run_cli("segment -m " + model + " -i " + in + " -o " + dir + "/many --batch 4 --prob classes");
    ASSERT_EQ(one.rc, 0) << one.out;
    ASSERT_EQ(many.rc, 0) << many.out;
    const auto names = files(dir + "/one");
    ASSERT_EQ(names.size(), 16u);
    ASSERT_EQ(files(dir + "/many"), names);
    for (const auto &n : names) {
        if (n.size() > 4 && n.substr(n.size() - 4) == ".png") {
            EXPECT_EQ(read_labels(dir + "/one/" + n), read_labels(dir + "/many/" + n)) << n;
        } else {
            int s1[3], s2[3];
            const auto p1 = read_npy(dir + "/one/" + n, s1), p2 = read_npy(dir + "/many/" + n, s2);
            ASSERT_EQ(p1.size(), p2.size());
            /* Batch size may change the summation order inside the
             * convolutions (oneDNN blocks over the batch), so allow
             * float rounding: probabilities are sums of ~1e3 terms. */
            for (size_t k = 0; k < p1.size(); ++k) ASSERT_NEAR(p1[k], p2[k], 1e-5) << n << " at " << k;
        }
    }
}

TEST_F(Segment, ProbabilitiesNpyAndClassMapAgree) {
    const std::string in = dir + "/in", out = dir + "/out";
    mkdir(in.c_str(), 0755);
    write_image(in + "/x.png", 37, 45, 3);
    const CliResult r = run_cli("segment -m " + model + " -i " + in + " -o " + out + " --prob classes");
    ASSERT_EQ(r.rc, 0) << r.out;
    int s[3];
    const auto p = read_npy(out + "/x_prob.npy", s);
    ASSERT_EQ(s[0], 37);
    ASSERT_EQ(s[1], 45);
    ASSERT_EQ(s[2], 5);
    const auto c = read_labels(out + "/x.png");
    for (size_t i = 0; i < c.size(); ++i) {
        const float *q = &p[i * 5];
        EXPECT_EQ(c[i], (int)(std::max_element(q, q + 5) - q)) << i;
        double sum = 0;
        for (int k = 0; k < 5; ++k) sum += q[k];
        EXPECT_NEAR(sum, 1.0, 1e-5);
    }
}

TEST_F(Segment, SixteenBitAboveTwoHundredFiftySixClasses) {
    const std::string big = dir + "/big.safetensors", in = dir + "/in", out = dir + "/out";
    make_model(big, "classes=300,width=4,depth=1,upsampling=bilinear", 7);
    mkdir(in.c_str(), 0755);
    write_image(in + "/x.png", 31, 29, 4);
    const CliResult r = run_cli("segment -m " + big + " -i " + in + " -o " + out + " --prob classes --palette");
    ASSERT_EQ(r.rc, 0) << r.out;
    int bits;
    const auto c = read_labels(out + "/x.png", nullptr, nullptr, &bits);
    EXPECT_EQ(bits, 16);
    int s[3];
    const auto p = read_npy(out + "/x_prob.npy", s);
    ASSERT_EQ(s[2], 300);
    int above = 0;
    for (size_t i = 0; i < c.size(); ++i) {
        const float *q = &p[i * 300];
        EXPECT_EQ(c[i], (int)(std::max_element(q, q + 300) - q));
        above += c[i] > 255;
    }
    EXPECT_GT(above, 0) << "no class above 255 was predicted; the test would not see a 16-bit bug";
    cs_image color;
    ASSERT_EQ(cs_image_read((out + "/x_color.png").c_str(), CS_IMAGE_RGB, &color), CUSEG_OK);
    cs_image_free(&color);
}

TEST_F(Segment, ResumeAfterStaleTemporariesAndSubsetEqualsCleanRun) {
    const std::string in = dir + "/in";
    mkdir(in.c_str(), 0755);
    for (int i = 0; i < 6; ++i) write_image(in + "/i" + std::to_string(i) + ".png", 32 + 4 * (i % 2), 40, i);
    const std::string flags = " --palette --prob conf --quiet";
    ASSERT_EQ(run_cli("segment -m " + model + " -i " + in + " -o " + dir + "/clean" + flags).rc, 0);
    const std::string out = dir + "/resumed";
    /* A first run that only got through some images, and leftovers of a killed writer. */
    ASSERT_EQ(run_cli("segment -m " + model + " -i " + in + " -o " + out + " --shard 0/3" + flags).rc, 0);
    std::ofstream(out + "/i1.png.tmp.99999999") << "partial";
    std::ofstream(out + "/i1_color.png.tmp.99999998") << "partial";
    std::ofstream(out + "/keep.tmp.99999999") << "not ours";
    std::remove((out + "/i3.png").c_str()); /* i3's class PNG missing: not done */
    const CliResult r = run_cli("segment -m " + model + " -i " + in + " -o " + out + flags.substr(0, flags.size() - 8));
    ASSERT_EQ(r.rc, 0) << r.out;
    EXPECT_NE(r.out.find("6 images: 5 segmented, 1 skipped"), std::string::npos) << r.out;
    auto got = files(out), want = files(dir + "/clean");
    want.push_back("keep.tmp.99999999");
    std::sort(want.begin(), want.end());
    EXPECT_EQ(got, want);
    for (const auto &n : files(dir + "/clean")) EXPECT_EQ(read_file(out + "/" + n), read_file(dir + "/clean/" + n)) << n;
}

TEST_F(Segment, SigkillHalfwayThenRerunMatchesCleanRun) {
    const std::string in = dir + "/in";
    mkdir(in.c_str(), 0755);
    const int n = 40;
    for (int i = 0; i < n; ++i) write_image(in + "/k" + std::to_string(100 + i) + ".png", 96, 128, i);
    const std::string flags = " --palette --overlay --prob classes --quiet --batch 1 --threads 1";
    ASSERT_EQ(run_cli("segment -m " + model + " -i " + in + " -o " + dir + "/clean" + flags).rc, 0);
    const std::string out = dir + "/killed";
    const pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
        const int devnull = open("/dev/null", O_WRONLY);
        dup2(devnull, 1);
        dup2(devnull, 2);
        const std::string m = model, i = in, o = out;
        execl(CUSEG_CLI, CUSEG_CLI, "segment", "-m", m.c_str(), "-i", i.c_str(), "-o", o.c_str(), "--palette",
              "--overlay", "--prob", "classes", "--quiet", "--batch", "1", "--threads", "1", (char *)nullptr);
        _exit(127);
    }
    /* Kill it once some, but not all, images are done. */
    int done = 0;
    for (int t = 0; t < 2000 && done < 3; ++t) {
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
        done = 0;
        for (const auto &f : files(out)) done += f.find('_') == std::string::npos && f.size() == 8;
    }
    kill(pid, SIGKILL);
    int status;
    waitpid(pid, &status, 0);
    ASSERT_TRUE(WIFSIGNALED(status)) << "the run finished before it could be killed";
    const size_t before = files(out).size();
    EXPECT_LT(before, files(dir + "/clean").size());
    const CliResult r = run_cli("segment -m " + model + " -i " + in + " -o " + out + " --palette --overlay --prob classes");
    ASSERT_EQ(r.rc, 0) << r.out;
    EXPECT_EQ(files(out), files(dir + "/clean"));
    for (const auto &f : files(dir + "/clean")) EXPECT_EQ(read_file(out + "/" + f), read_file(dir + "/clean/" + f)) << f;
}

TEST_F(Segment, ShardsPartitionTheWork) {
    const std::string in = dir + "/in", out = dir + "/sharded";
    mkdir(in.c_str(), 0755);
    mkdir((in + "/d").c_str(), 0755);
    for (int i = 0; i < 7; ++i) write_image(in + (i % 2 ? "/d/s" : "/s") + std::to_string(i) + ".png", 24, 32, i);
    ASSERT_EQ(run_cli("segment -m " + model + " -i " + in + " -o " + dir + "/all --quiet").rc, 0);
    int total = 0;
    for (int k = 0; k < 3; ++k) {
        const CliResult r = run_cli("segment -m " + model + " -i " + in + " -o " + out + " --shard " + std::to_string(k) + "/3");
        ASSERT_EQ(r.rc, 0) << r.out;
        int segmented = -1, listed = -1;
        std::sscanf(r.out.c_str() + r.out.find(" images: ") - 1, "%d images: %d segmented", &listed, &segmented);
        EXPECT_EQ(segmented, listed) << r.out; /* no shard redoes another's images */
        EXPECT_EQ(listed, k == 0 ? 3 : 2);
        total += segmented;
    }
    EXPECT_EQ(total, 7);
    EXPECT_EQ(files(out), files(dir + "/all"));
    for (const auto &f : files(out)) EXPECT_EQ(read_file(out + "/" + f), read_file(dir + "/all/" + f)) << f;
    EXPECT_EQ(run_cli("segment -m " + model + " -i " + in + " -o " + out + " --shard 3/3").rc, 2);
}

/* Tiles start every 128 pixels (tile 160, overlap 32, aligned to 32, which is
 * a multiple of the U-Net's stride 4). Away from the inner tile edges, each
 * tile sees the whole receptive field of the pixel, so the blend of equal
 * values equals the whole-image result. */
TEST_F(Segment, TiledEqualsWholeImageAwayFromTileEdges) {
    const std::string in = dir + "/in";
    mkdir(in.c_str(), 0755);
    const int H = 256, W = 256;
    write_image(in + "/t.png", H, W, 9);
    const CliResult whole = run_cli("segment -m " + model + " -i " + in + " -o " + dir + "/whole --prob classes");
    const CliResult tiled = run_cli("segment -m " + model + " -i " + in + " -o " + dir + "/tiled --prob classes --tile 160 "
                             "--overlap 32 --align 32 --batch 2");
    ASSERT_EQ(whole.rc, 0) << whole.out;
    ASSERT_EQ(tiled.rc, 0) << tiled.out;
    int s1[3], s2[3];
    const auto pw = read_npy(dir + "/whole/t_prob.npy", s1), pt = read_npy(dir + "/tiled/t_prob.npy", s2);
    ASSERT_EQ(pw.size(), pt.size());
    const auto cw = read_labels(dir + "/whole/t.png"), ct = read_labels(dir + "/tiled/t.png");
    /* Inner tile edges: the second tile starts at 128, the first ends at 160. */
    auto near_edge = [](int v, int) {
        /* > the receptive-field radius of a depth-2 U-Net: 2 convs per level
         * at scales 1, 2, 4, pools and bilinear upsampling (~30 px). */
        const int margin = 40;
        return v > 128 - margin && v < 160 + margin;
    };
    int compared = 0, class_diff = 0;
    double max_diff = 0;
    for (int y = 0; y < H; ++y)
        for (int x = 0; x < W; ++x) {
            if (near_edge(y, H) || near_edge(x, W)) continue;
            const size_t i = (size_t)y * W + x;
            float top[2] = {-1, -1};
            for (int k = 0; k < 5; ++k) {
                max_diff = std::max(max_diff, (double)std::fabs(pw[i * 5 + k] - pt[i * 5 + k]));
                const float v = pw[i * 5 + k];
                if (v > top[0]) top[1] = top[0], top[0] = v;
                else if (v > top[1]) top[1] = v;
            }
            /* Classes must agree unless the two best are closer than the noise. */
            class_diff += cw[i] != ct[i] && top[0] - top[1] > 1e-3f;
            ++compared;
        }
    EXPECT_GT(compared, 15000);
    /* Not bit-exact: a 160x160 tile and the 256x256 image run convolutions
     * with different blockings (oneDNN picks kernels by shape), which moves
     * this random model's probabilities by ~1e-5 (7e-5 at most, measured). */
    EXPECT_LT(max_diff, 3e-4);
    EXPECT_EQ(class_diff, 0);
    /* Near the edges the tiles really differ (else this test proves nothing). */
    double edge_diff = 0;
    for (size_t i = 0; i < pw.size(); ++i) edge_diff = std::max(edge_diff, (double)std::fabs(pw[i] - pt[i]));
    EXPECT_GT(edge_diff, 4 * max_diff);
}

TEST_F(Segment, AutomaticTilingAboveThePixelCap) {
    const std::string in = dir + "/in";
    mkdir(in.c_str(), 0755);
    write_image(in + "/t.png", 100, 130, 5);
    const CliResult r = run_cli("segment -m " + model + " -i " + in + " -o " + dir + "/auto --max-pixels 4000 --prob conf");
    ASSERT_EQ(r.rc, 0) << r.out;
    int h, w;
    read_labels(dir + "/auto/t.png", &h, &w);
    EXPECT_EQ(h, 100);
    EXPECT_EQ(w, 130);
}

/* --tta flip against the same computation done by hand through the API. */
TEST_F(Segment, FlipTtaEqualsAveragingFlipsByHand) {
    const std::string in = dir + "/in";
    mkdir(in.c_str(), 0755);
    const int H = 36, W = 52, C = 5;
    write_image(in + "/f.png", H, W, 11);
    const CliResult r = run_cli("segment -m " + model + " -i " + in + " -o " + dir + "/tta --prob classes --tta flip");
    ASSERT_EQ(r.rc, 0) << r.out;
    int s[3];
    const auto got = read_npy(dir + "/tta/f_prob.npy", s);
    ASSERT_EQ(got.size(), (size_t)H * W * C);

    cuseg_model *m = nullptr;
    ASSERT_EQ(cuseg_model_load(model.c_str(), &m), CUSEG_OK);
    cs_preprocess pre;
    ASSERT_EQ(cs_preprocess_from_graph(cuseg_model_graph(m), &pre), CUSEG_OK);
    cuseg_context *ctx = nullptr;
    cuseg_context_options co = {.device = "cpu", .cpu_threads = 1};
    ASSERT_EQ(cuseg_context_create(&co, &ctx), CUSEG_OK);
    cuseg_session *sess = nullptr;
    ASSERT_EQ(cuseg_session_create(m, ctx, &sess), CUSEG_OK);
    const auto img = smooth_image(H, W, 11);
    std::vector<uint8_t> flipped(img.size());
    for (int y = 0; y < H; ++y)
        for (int x = 0; x < W; ++x)
            for (int c = 0; c < 3; ++c) flipped[((size_t)y * W + x) * 3 + c] = img[((size_t)y * W + W - 1 - x) * 3 + c];
    std::vector<double> avg((size_t)H * W * C, 0.0);
    for (int f = 0; f < 2; ++f) {
        cuseg_tensor *t;
        ASSERT_EQ(cuseg_tensor_create(CUSEG_F32, 1, H, W, 3, &t), CUSEG_OK);
        cs_preprocess_image(&pre, f ? flipped.data() : img.data(), H, W, 3, (float *)cuseg_tensor_data(t));
        const cuseg_tensor *ins[1] = {t};
        ASSERT_EQ(cuseg_session_run(sess, ins, 1), CUSEG_OK) << cuseg_last_error();
        const cuseg_tensor *o;
        ASSERT_EQ(cuseg_session_output(sess, 0, &o), CUSEG_OK);
        const float *z = (const float *)cuseg_tensor_data(o);
        for (int y = 0; y < H; ++y)
            for (int x = 0; x < W; ++x) {
                const float *l = z + ((size_t)y * W + x) * C;
                double mx = l[0], sum = 0;
                for (int k = 1; k < C; ++k) mx = std::max(mx, (double)l[k]);
                for (int k = 0; k < C; ++k) sum += std::exp(l[k] - mx);
                const int xo = f ? W - 1 - x : x;
                for (int k = 0; k < C; ++k) avg[((size_t)y * W + xo) * C + k] += 0.5 * std::exp(l[k] - mx) / sum;
            }
        cuseg_tensor_release(t);
    }
    double max_diff = 0, flip_effect = 0;
    for (size_t i = 0; i < avg.size(); ++i) max_diff = std::max(max_diff, std::fabs(avg[i] - got[i]));
    EXPECT_LT(max_diff, 1e-6); /* float softmax and one float average vs double */
    /* Flipping must matter for this model, or the test could not fail. */
    const CliResult plain = run_cli("segment -m " + model + " -i " + in + " -o " + dir + "/plain --prob classes");
    ASSERT_EQ(plain.rc, 0);
    const auto p0 = read_npy(dir + "/plain/f_prob.npy", s);
    for (size_t i = 0; i < p0.size(); ++i) flip_effect = std::max(flip_effect, (double)std::fabs(p0[i] - got[i]));
    EXPECT_GT(flip_effect, 1e-3);
    /* scales=1 alone is no augmentation at all: identical files. */
    ASSERT_EQ(run_cli("segment -m " + model + " -i " + in + " -o " + dir + "/s1 --prob classes --tta scales=1").rc, 0);
    EXPECT_EQ(read_file(dir + "/s1/f_prob.npy"), read_file(dir + "/plain/f_prob.npy"));
    /* Multi-scale runs and still gives probabilities at the input size. */
    const CliResult ms = run_cli("segment -m " + model + " -i " + in + " -o " + dir + "/ms --prob classes --tta flip,scales=0.75,1,1.25");
    ASSERT_EQ(ms.rc, 0) << ms.out;
    const auto pm = read_npy(dir + "/ms/f_prob.npy", s);
    EXPECT_EQ(s[0], H);
    EXPECT_EQ(s[1], W);
    for (size_t i = 0; i < pm.size(); i += C) {
        double sum = 0;
        for (int k = 0; k < C; ++k) sum += pm[i + k];
        ASSERT_NEAR(sum, 1.0, 1e-5);
    }
    EXPECT_EQ(run_cli("segment -m " + model + " -i " + in + " -o " + dir + "/bad --tta scales=0").rc, 2);
    cuseg_session_release(sess);
    cuseg_context_release(ctx);
    cuseg_model_release(m);
}

TEST_F(Segment, GroundTruthEvaluatesAsItGoes) {
    const std::string in = dir + "/in", out = dir + "/out", gt = dir + "/gt";
    mkdir(in.c_str(), 0755);
    for (int i = 0; i < 3; ++i) write_image(in + "/g" + std::to_string(i) + ".png", 30, 40, i);
    ASSERT_EQ(run_cli("segment -m " + model + " -i " + in + " -o " + gt + " --quiet").rc, 0);
    /* Ground truth = the predictions, except one pixel of g1 relabelled. */
    auto l = read_labels(gt + "/g1.png");
    std::vector<uint8_t> b(l.begin(), l.end());
    b[0] = (uint8_t)((b[0] + 1) % 5);
    ASSERT_EQ(cs_png_write((gt + "/g1.png").c_str(), b.data(), 30, 40, 1, 8, nullptr), CUSEG_OK);
    std::remove((gt + "/g2.png").c_str());
    const CliResult r = run_cli("segment -m " + model + " -i " + in + " -o " + out + " --gt " + gt + " --eval-json " + dir +
                         "/e.json");
    ASSERT_EQ(r.rc, 0) << r.out;
    EXPECT_NE(r.out.find("2 images (1 without ground truth)"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("pixel accuracy   0.999583"), std::string::npos) << r.out; /* 2399 / 2400 */
    EXPECT_NE(read_file(dir + "/e.json").find("\"pixels\":2400"), std::string::npos);
    /* A rerun skips the images but still evaluates their saved predictions. */
    const CliResult again = run_cli("segment -m " + model + " -i " + in + " -o " + out + " --gt " + gt);
    EXPECT_NE(again.out.find("pixel accuracy   0.999583"), std::string::npos) << again.out;
    EXPECT_NE(again.out.find("0 segmented, 3 skipped"), std::string::npos) << again.out;
}

TEST(SegmentCli, UsageErrors) {
    EXPECT_EQ(run_cli("segment").rc, 2);
    EXPECT_EQ(run_cli("segment -m x -i y").rc, 2);
    EXPECT_EQ(run_cli("segment -m x -i y -o z --bogus").rc, 2);
    EXPECT_EQ(run_cli("segment -m x -i y -o z --prob nope").rc, 2);
    EXPECT_EQ(run_cli("segment -m x -i y -o z --tile 64 --overlap 64").rc, 2);
    const CliResult r = run_cli("segment -m /nonexistent/m.safetensors -i y -o z");
    EXPECT_EQ(r.rc, 1);
    EXPECT_NE(r.out.find("/nonexistent/m.safetensors"), std::string::npos) << r.out;
    EXPECT_EQ(run_cli("segment --help").rc, 0);
    const std::string d = fresh_dir("seg", "inside");
    EXPECT_EQ(run_cli("segment -m x -i " + d + " -o " + d + "/out").rc, 2);
    EXPECT_EQ(run_cli("segment -m x -i " + d + " -o " + d).rc, 2);
}

/* --crf: the class map is the argmax of cs_crf_run (DeepLab's defaults)
 * over the very probabilities --prob classes writes, on the decoded image;
 * it must differ from the plain argmax somewhere (or --crf did nothing). On
 * the CPU exactly; with a GPU also --device cuda:0 (the CRF then runs on the
 * GPU, whose marginals differ from the CPU's by expf/logf rounding: labels
 * may flip only at near-ties, see tests/cuda/test_cuda_crf.cpp). A tiled
 * image cannot take the CRF: reported by name, exit status 1. */
TEST_F(Segment, CrfRefinesTheWrittenProbabilities) {
    const std::string in = dir + "/in";
    mkdir(in.c_str(), 0755);
    write_image(in + "/x.png", 37, 45, 3);
    std::vector<std::string> devices = {"cpu"};
    if (cuseg_cuda_device_count() > 0) devices.push_back("cuda:0");
    for (const std::string &dev : devices) {
        SCOPED_TRACE(dev);
        const std::string out = dir + "/" + dev.substr(0, 3);
        const CliResult plain =
            run_cli("segment -m " + model + " --device " + dev + " -i " + in + " -o " + out + "/plain --prob classes");
        const CliResult crf = run_cli("segment -m " + model + " --device " + dev + " -i " + in + " -o " + out + "/crf --crf");
        ASSERT_EQ(plain.rc, 0) << plain.out;
        ASSERT_EQ(crf.rc, 0) << crf.out;
        int shape[3];
        std::vector<float> p = read_npy(out + "/plain/x_prob.npy", shape);
        cs_image img;
        ASSERT_EQ(cs_image_read((in + "/x.png").c_str(), CS_IMAGE_RGB, &img), CUSEG_OK);
        const cs_crf_params params = cs_crf_default_params();
        ASSERT_EQ(cs_crf_run(&params, (const uint8_t *)img.data, p.data(), shape[0], shape[1], shape[2], 2, p.data()),
                  CUSEG_OK);
        cs_image_free(&img);
        std::vector<int> want(p.size() / shape[2]);
        for (size_t i = 0; i < want.size(); ++i)
            want[i] = (int)(std::max_element(p.begin() + i * shape[2], p.begin() + (i + 1) * shape[2]) -
                            (p.begin() + i * shape[2]));
        const std::vector<int> got = read_labels(out + "/crf/x.png");
        if (dev == "cpu") {
            EXPECT_EQ(got, want);
        } else {
            ASSERT_EQ(got.size(), want.size());
            size_t differ = 0;
            for (size_t i = 0; i < got.size(); ++i) differ += got[i] != want[i];
            EXPECT_LE(differ, got.size() / 1000) << "labels differ from the CPU CRF's";
        }
        EXPECT_NE(read_labels(out + "/plain/x.png"), want) << "the CRF changed no pixel";
    }
    const CliResult tiled = run_cli("segment -m " + model + " -i " + in + " -o " + dir + "/tiled --crf --tile 32");
    EXPECT_EQ(tiled.rc, 1);
    EXPECT_NE(tiled.out.find("x.png"), std::string::npos) << tiled.out;
    EXPECT_NE(tiled.out.find("--crf needs the whole image"), std::string::npos) << tiled.out;
}

/* A model trained with a resize policy (its "resize" metadata) sees every
 * image as training did, and its probabilities come back to the image's
 * size. The expectation is built here from the PyTorch-exact bilinear resize
 * (ops/resize.c) and the session:
 *   stretch:32x24    a 40x56 image -> 24x32 -> model -> back to 40x56;
 *   letterbox:32x32  a 20x40 image -> 16x32 at the top of a black 32x32
 *                    canvas -> model -> its top 16x32 -> back to 20x40.
 * segment resamples with train/augment.c instead (double coordinates), so
 * the two differ by float rounding of the taps: measured 9e-8 at most on
 * these probabilities; the bound is 1e-5. */
TEST_F(Segment, ResizePolicyOfTheModelIsApplied) {
    struct Case {
        const char *policy;
        int h, w, rh, rw; /* image; region of the model input the image fills */
    } cases[] = {{"stretch:32x24", 40, 56, 24, 32}, {"letterbox:32x32", 20, 40, 16, 32}};
    for (const Case &c : cases) {
        SCOPED_TRACE(c.policy);
        const std::string m = dir + "/" + c.policy + ".safetensors", in = dir + "/in_" + c.policy,
                          out = dir + "/out_" + c.policy;
        save_random_model(m, "unet_bn", kModelOptions, 4, {{"resize", c.policy}});
        mkdir(in.c_str(), 0755);
        write_image(in + "/x.png", c.h, c.w, 9);
        const CliResult r = run_cli("segment -m " + m + " -i " + in + " -o " + out + " --prob classes --threads 1");
        ASSERT_EQ(r.rc, 0) << r.out;
        int shape[3];
        const std::vector<float> got = read_npy(out + "/x_prob.npy", shape);
        ASSERT_EQ(shape[0], c.h);
        ASSERT_EQ(shape[1], c.w);

        cuseg_model *model = nullptr;
        ASSERT_EQ(cuseg_model_load(m.c_str(), &model), CUSEG_OK) << cuseg_last_error();
        cs_preprocess pre;
        ASSERT_EQ(cs_preprocess_from_graph(cuseg_model_graph(model), &pre), CUSEG_OK);
        const std::vector<uint8_t> img = smooth_image(c.h, c.w, 9);
        std::vector<float> base((size_t)c.h * c.w * 3);
        cs_preprocess_image(&pre, img.data(), c.h, c.w, 3, base.data());
        const bool letterbox = c.policy[0] == 'l';
        const int ch = letterbox ? 32 : c.rh, cw = c.rw; /* the model's input */
        std::vector<float> region((size_t)c.rh * c.rw * 3);
        ASSERT_EQ(cs_resize_bilinear_forward_cpu(base.data(), region.data(), 1, c.h, c.w, 3, c.rh, c.rw,
                                                 (float)c.h / c.rh, (float)c.w / c.rw, 0, 1),
                  CUSEG_OK);
        const uint8_t black[3] = {0, 0, 0};
        float pad[3];
        cs_preprocess_image(&pre, black, 1, 1, 3, pad);
        cuseg_tensor *x = nullptr;
        ASSERT_EQ(cuseg_tensor_create(CUSEG_F32, 1, ch, cw, 3, &x), CUSEG_OK);
        float *xd = (float *)cuseg_tensor_data(x);
        for (int i = 0; i < ch * cw; ++i)
            for (int k = 0; k < 3; ++k) xd[(size_t)i * 3 + k] = i / cw < c.rh ? region[(size_t)i * 3 + k] : pad[k];
        cuseg_context *ctx = nullptr;
        cuseg_context_options o = {"cpu", 1};
        ASSERT_EQ(cuseg_context_create(&o, &ctx), CUSEG_OK);
        cuseg_session *s = nullptr;
        ASSERT_EQ(cuseg_session_create(model, ctx, &s), CUSEG_OK);
        const cuseg_tensor *inputs[1] = {x}, *y = nullptr;
        ASSERT_EQ(cuseg_session_run(s, inputs, 1), CUSEG_OK) << cuseg_last_error();
        ASSERT_EQ(cuseg_session_output(s, 0, &y), CUSEG_OK);
        const float *logits = (const float *)cuseg_tensor_data(y);
        std::vector<float> prob((size_t)c.rh * c.rw * 5); /* softmax of the rows the image covers */
        for (int i = 0; i < c.rh * c.rw; ++i) {
            double mx = -1e300, sum = 0;
            for (int k = 0; k < 5; ++k) mx = std::max(mx, (double)logits[i * 5 + k]);
            for (int k = 0; k < 5; ++k) sum += std::exp(logits[i * 5 + k] - mx);
            for (int k = 0; k < 5; ++k) prob[(size_t)i * 5 + k] = (float)(std::exp(logits[i * 5 + k] - mx) / sum);
        }
        std::vector<float> want((size_t)c.h * c.w * 5);
        ASSERT_EQ(cs_resize_bilinear_forward_cpu(prob.data(), want.data(), 1, c.rh, c.rw, 5, c.h, c.w,
                                                 (float)c.rh / c.h, (float)c.rw / c.w, 0, 1),
                  CUSEG_OK);
        double worst = 0;
        for (size_t i = 0; i < want.size(); ++i) worst = std::max(worst, (double)std::fabs(got[i] - want[i]));
        std::printf("%s: max |probability difference| %.2g\n", c.policy, worst);
        EXPECT_LE(worst, 1e-5);
        cuseg_tensor_release(x);
        cuseg_session_release(s);
        cuseg_context_release(ctx);
        cuseg_model_release(model);

        /* flip TTA flips the image before the policy (a letterbox keeps its
         * padding at the right): the average of the image's probabilities and
         * the mirrored probabilities of the mirrored image */
        const std::string fin = dir + "/flip_" + c.policy, fout = dir + "/flipout_" + c.policy;
        mkdir(fin.c_str(), 0755);
        std::vector<uint8_t> mirrored(img.size());
        for (int yy = 0; yy < c.h; ++yy)
            for (int xx = 0; xx < c.w; ++xx)
                for (int k = 0; k < 3; ++k)
                    mirrored[((size_t)yy * c.w + xx) * 3 + k] = img[((size_t)yy * c.w + (c.w - 1 - xx)) * 3 + k];
        ASSERT_EQ(cs_png_write((fin + "/x.png").c_str(), mirrored.data(), c.h, c.w, 3, 8, nullptr), CUSEG_OK);
        ASSERT_EQ(run_cli("segment -m " + m + " -i " + fin + " -o " + fout + " --prob classes --threads 1").rc, 0);
        const CliResult tta =
            run_cli("segment -m " + m + " -i " + in + " -o " + out + "_tta --prob classes --tta flip --threads 1");
        ASSERT_EQ(tta.rc, 0) << tta.out;
        const std::vector<float> fl = read_npy(fout + "/x_prob.npy", shape), avg = read_npy(out + "_tta/x_prob.npy", shape);
        double worst_tta = 0;
        for (int yy = 0; yy < c.h; ++yy)
            for (int xx = 0; xx < c.w; ++xx)
                for (int k = 0; k < 5; ++k) {
                    const size_t i = ((size_t)yy * c.w + xx) * 5 + k, j = ((size_t)yy * c.w + (c.w - 1 - xx)) * 5 + k;
                    worst_tta = std::max(worst_tta, (double)std::fabs(avg[i] - 0.5f * (got[i] + fl[j])));
                }
        EXPECT_LE(worst_tta, 1e-6); /* the same arithmetic, summed in another order */

        /* such a model is never tiled */
        const CliResult t = run_cli("segment -m " + m + " -i " + in + " -o " + out + "2 --tile 16");
        EXPECT_NE(t.rc, 0);
        EXPECT_NE(t.out.find("--tile does not apply"), std::string::npos) << t.out;
    }
}
