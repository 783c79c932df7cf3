/* The training loop end to end on a tiny dataset: an interrupted run resumed
 * from its checkpoint ends with bit-identical weights to an uninterrupted
 * one; the final model is a complete model file that a session runs; a bad
 * label stops training with the file name and leaves the last checkpoint
 * intact; the command line. Also the bundled default model on its samples. */
#include <gtest/gtest.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include <sys/stat.h>
#include <sys/wait.h>
#include <signal.h>
#include <unistd.h>

#include "temp_dir.h"

extern "C" {
#include "io/image.h"
#include "io/preprocess.h"
#include "io/safetensors.h"
#include "train/trainer.h"
}

namespace {

using cstest::temp_dir;

/* n samples of h x w: two classes, a bright disc (class 1) on noise. */
std::string make_dataset(const char *tag, int n, int h, int w) {
    const std::string d = temp_dir(tag);
    mkdir((d + "/images").c_str(), 0777);
    mkdir((d + "/labels").c_str(), 0777);
    unsigned seed = 1;
    for (int i = 0; i < n; ++i) {
        std::vector<uint8_t> img((size_t)h * w * 3), lab((size_t)h * w);
        const int cx = 4 + (i * 5) % (w - 8), cy = 4 + (i * 3) % (h - 8);
        for (int y = 0; y < h; ++y)
            for (int x = 0; x < w; ++x) {
                const int in = (x - cx) * (x - cx) + (y - cy) * (y - cy) <= 16;
                lab[(size_t)y * w + x] = (uint8_t)in;
                for (int k = 0; k < 3; ++k) {
                    seed = seed * 1103515245u + 12345u;
                    img[((size_t)y * w + x) * 3 + k] = (uint8_t)((in ? 150 : 60) + (seed >> 16) % 60);
                }
            }
        char name[32];
        snprintf(name, sizeof name, "%02d.png", i);
        EXPECT_EQ(cs_png_write((d + "/images/" + name).c_str(), img.data(), h, w, 3, 8, nullptr), CUSEG_OK);
        EXPECT_EQ(cs_png_write((d + "/labels/" + name).c_str(), lab.data(), h, w, 1, 8, nullptr), CUSEG_OK);
    }
    return d;
}

/* cs_train_config holds borrowed strings: keep them alive for the program. */
const char *keep(const std::string &s) {
    static std::vector<std::unique_ptr<std::string>> strings;
    strings.push_back(std::make_unique<std::string>(s));
    return strings.back()->c_str();
}

cs_train_config tiny_config(const std::string &data, const std::string &out, int epochs) {
    cs_train_config c;
    cs_train_defaults(&c);
    c.arch = "unet_bn";
    c.arch_opts = "classes=2,width=2,depth=2";
    c.train_data = keep(data);
    c.val_data = c.train_data;
    c.out_dir = keep(out);
    c.epochs = epochs;
    c.batch = 3;
    c.threads = 2;
    c.workers = 2;
    c.seed = 5;
    c.optim.kind = CS_OPT_ADAMW;
    c.optim.weight_decay = 0.01f;
    c.schedule.kind = CS_SCHED_COSINE;
    c.schedule.base_lr = 0.01f;
    c.schedule.warmup_steps = 2;
    c.augment.hflip = 1;
    c.augment.scale_min = 0.8f;
    c.augment.scale_max = 1.2f;
    c.augment.rotate_deg = 10;
    c.augment.crop_h = c.augment.crop_w = 16;
    c.w_dice = 0.5f;
    c.quiet = 1;
    return c;
}

/* name -> bytes of every tensor */
std::vector<std::pair<std::string, std::string>> tensors_of(const std::string &path) {
    cs_safetensors *st = nullptr;
    std::vector<std::pair<std::string, std::string>> out;
    EXPECT_EQ(cs_safetensors_open(path.c_str(), &st), CUSEG_OK) << cuseg_last_error();
    if (!st) return out;
    for (int i = 0; i < cs_safetensors_count(st); ++i) {
        const cs_st_tensor *t = cs_safetensors_at(st, i);
        out.emplace_back(t->name, std::string((const char *)t->data, t->nbytes));
    }
    cs_safetensors_close(st);
    return out;
}

int count_lines(const std::string &path) {
    std::ifstream f(path);
    std::string line;
    int n = 0;
    while (std::getline(f, line)) ++n;
    return n;
}

/* cm[truth * classes + prediction] of a model file run on whole images (CPU,
 * one at a time), each paired with its label PNG. */
void confusion_of(const std::string &model, const std::vector<std::pair<std::string, std::string>> &pairs,
                  int classes, std::vector<uint64_t> *cm) {
    cm->assign((size_t)classes * classes, 0);
    cuseg_model *m = nullptr;
    ASSERT_EQ(cuseg_model_load(model.c_str(), &m), CUSEG_OK) << cuseg_last_error();
    cs_preprocess pre;
    ASSERT_EQ(cs_preprocess_from_graph(cuseg_model_graph(m), &pre), CUSEG_OK);
    cuseg_context *ctx = nullptr;
    cuseg_context_options o = {"cpu", 2};
    ASSERT_EQ(cuseg_context_create(&o, &ctx), CUSEG_OK);
    cuseg_session *s = nullptr;
    ASSERT_EQ(cuseg_session_create(m, ctx, &s), CUSEG_OK);
    for (const auto &pair : pairs) {
        cs_image img, lab;
        ASSERT_EQ(cs_image_read(pair.first.c_str(), CS_IMAGE_RGB, &img), CUSEG_OK) << cuseg_last_error();
        ASSERT_EQ(cs_image_read(pair.second.c_str(), CS_IMAGE_LABEL, &lab), CUSEG_OK) << cuseg_last_error();
        cuseg_tensor *x = nullptr;
        ASSERT_EQ(cuseg_tensor_create(CUSEG_F32, 1, img.h, img.w, 3, &x), CUSEG_OK);
        cs_preprocess_image(&pre, (const uint8_t *)img.data, img.h, img.w, 3, (float *)cuseg_tensor_data(x));
        const cuseg_tensor *in[1] = {x}, *y = nullptr;
        ASSERT_EQ(cuseg_session_run(s, in, 1), CUSEG_OK) << cuseg_last_error();
        ASSERT_EQ(cuseg_session_output(s, 0, &y), CUSEG_OK);
        int d[4];
        cuseg_tensor_shape(y, d);
        ASSERT_EQ(d[3], classes);
        const float *l = (const float *)cuseg_tensor_data(y);
        for (int p = 0; p < img.h * img.w; ++p) {
            int best = 0;
            for (int k = 1; k < classes; ++k)
                if (l[p * classes + k] > l[p * classes + best]) best = k;
            (*cm)[(size_t)((const uint8_t *)lab.data)[p] * classes + best]++;
        }
        cuseg_tensor_release(x);
        cs_image_free(&img);
        cs_image_free(&lab);
    }
    cuseg_session_release(s);
    cuseg_context_release(ctx);
    cuseg_model_release(m);
}

}  // namespace

TEST(Trainer, ResumeGivesBitIdenticalWeights) {
    const std::string data = make_dataset("resume", 7, 20, 20);
    const std::string a = temp_dir("run_a"), b = temp_dir("run_b");
    cs_train_config ca = tiny_config(data, a, 3);
    ASSERT_EQ(cs_train_run(&ca), CUSEG_OK) << cuseg_last_error();
    /* interrupted after epoch 1, then resumed to 3 */
    cs_train_config cb = tiny_config(data, b, 1);
    ASSERT_EQ(cs_train_run(&cb), CUSEG_OK) << cuseg_last_error();
    cb.epochs = 3;
    cb.resume = 1;
    ASSERT_EQ(cs_train_run(&cb), CUSEG_OK) << cuseg_last_error();
    const auto wa = tensors_of(a + "/model.safetensors"), wb = tensors_of(b + "/model.safetensors");
    ASSERT_FALSE(wa.empty());
    EXPECT_TRUE(wa == wb) << "weights differ after resume";
    /* the checkpoints agree too (optimizer state included) */
    EXPECT_TRUE(tensors_of(a + "/last.ckpt") == tensors_of(b + "/last.ckpt"));
    /* training changed the weights */
    EXPECT_FALSE(tensors_of(a + "/init.safetensors") == wa);
    EXPECT_EQ(count_lines(a + "/log.csv"), 4);
    EXPECT_EQ(count_lines(b + "/log.csv"), 4);
    /* a changed recipe is refused */
    cs_train_config cc = tiny_config(data, b, 4);
    cc.resume = 1;
    cc.schedule.base_lr = 0.02f;
    EXPECT_EQ(cs_train_run(&cc), CUSEG_ERR_INVALID_ARGUMENT);
    EXPECT_NE(std::string(cuseg_last_error()).find("another recipe"), std::string::npos);
}

TEST(Trainer, FinalModelLoadsAndRuns) {
    const std::string data = make_dataset("final", 6, 16, 16);
    const std::string out = temp_dir("final_out");
    cs_train_config c = tiny_config(data, out, 2);
    c.class_names = "background,disc";
    ASSERT_EQ(cs_train_run(&c), CUSEG_OK) << cuseg_last_error();
    for (const char *f : {"/model.safetensors", "/best.safetensors"}) {
        cuseg_model *m = nullptr;
        ASSERT_EQ(cuseg_model_load((out + f).c_str(), &m), CUSEG_OK) << cuseg_last_error();
        const cuseg_graph *g = cuseg_model_graph(m);
        EXPECT_STREQ(cuseg_graph_meta(g, "arch"), "unet_bn");
        EXPECT_STREQ(cuseg_graph_meta(g, "class_names"), "background,disc");
        EXPECT_STREQ(cuseg_graph_meta(g, "resize"), "none");
        EXPECT_NE(cuseg_graph_meta(g, "input_scale"), nullptr); /* preprocessing metadata */
        cuseg_context *ctx = nullptr;
        cuseg_context_options o = {"cpu", 1};
        ASSERT_EQ(cuseg_context_create(&o, &ctx), CUSEG_OK);
        cuseg_session *s = nullptr;
        ASSERT_EQ(cuseg_session_create(m, ctx, &s), CUSEG_OK);
        cuseg_tensor *x = nullptr;
        ASSERT_EQ(cuseg_tensor_create(CUSEG_F32, 1, 16, 16, 3, &x), CUSEG_OK);
        const cuseg_tensor *in[1] = {x}, *y = nullptr;
        ASSERT_EQ(cuseg_session_run(s, in, 1), CUSEG_OK) << cuseg_last_error();
        ASSERT_EQ(cuseg_session_output(s, 0, &y), CUSEG_OK);
        int d[4];
        cuseg_tensor_shape(y, d);
        EXPECT_EQ(d[3], 2);
        cuseg_tensor_release(x);
        cuseg_session_release(s);
        cuseg_context_release(ctx);
        cuseg_model_release(m);
    }
}

/* The per-epoch validation scores whole images, not the training crop:
 * the last log row equals pixel accuracy and mIoU recomputed here from the
 * final model run on every full 24x24 image (crop 16; each image has its
 * disc in another place, so a crop window sees a different set of pixels). */
TEST(Trainer, ValidationScoresWholeImages) {
    const int h = 24, w = 24, n = 6;
    const std::string data = make_dataset("valfull", n, h, w);
    const std::string out = temp_dir("valfull_out");
    cs_train_config c = tiny_config(data, out, 2);
    ASSERT_EQ(cs_train_run(&c), CUSEG_OK) << cuseg_last_error();

    std::vector<std::pair<std::string, std::string>> pairs;
    for (int i = 0; i < n; ++i) {
        char name[32];
        snprintf(name, sizeof name, "%02d.png", i);
        pairs.emplace_back(data + "/images/" + name, data + "/labels/" + name);
    }
    std::vector<uint64_t> cm;
    confusion_of(out + "/model.safetensors", pairs, 2, &cm);
    const double total = (double)(cm[0] + cm[1] + cm[2] + cm[3]);
    ASSERT_EQ(total, (double)n * h * w);
    const double pixel_acc = (cm[0] + cm[3]) / total;
    const double miou = (cm[0] / (double)(cm[0] + cm[1] + cm[2]) + cm[3] / (double)(cm[3] + cm[1] + cm[2])) / 2;
    std::ifstream log(out + "/log.csv");
    std::string line, last;
    while (std::getline(log, line)) last = line;
    int epoch = 0;
    long step = 0;
    double lr, loss, log_miou = -1, log_acc = -1;
    ASSERT_EQ(sscanf(last.c_str(), "%d,%ld,%lf,%lf,%lf,%lf", &epoch, &step, &lr, &loss, &log_miou, &log_acc), 6) << last;
    EXPECT_EQ(epoch, 2);
    EXPECT_NEAR(log_acc, pixel_acc, 5e-7) << last; /* the log prints 6 decimals */
    EXPECT_NEAR(log_miou, miou, 5e-7) << last;
}

TEST(Trainer, BadLabelStopsWithTheFileNameAndKeepsTheCheckpoint) {
    const std::string data = make_dataset("badlabel", 4, 16, 16);
    const std::string out = temp_dir("bad_out");
    cs_train_config c = tiny_config(data, out, 1);
    ASSERT_EQ(cs_train_run(&c), CUSEG_OK) << cuseg_last_error();
    const auto before = tensors_of(out + "/last.ckpt");
    std::vector<uint8_t> lab(16 * 16, 0);
    lab[16 * 3 + 2] = 7;
    ASSERT_EQ(cs_png_write((data + "/labels/02.png").c_str(), lab.data(), 16, 16, 1, 8, nullptr), CUSEG_OK);
    c.epochs = 2;
    c.resume = 1;
    EXPECT_EQ(cs_train_run(&c), CUSEG_ERR_FORMAT);
    EXPECT_EQ(std::string(cuseg_last_error()),
              data + "/labels/02.png: pixel (x=2, y=3) has class 7, not below classes=2 and not the ignore value 255");
    EXPECT_TRUE(tensors_of(out + "/last.ckpt") == before);
    /* no temporary file left behind */
    EXPECT_EQ(access((out + "/model.safetensors").c_str(), F_OK), 0); /* from the first run */
}

namespace {

std::string run_cli(const std::string &args, int *status) {
    const std::string cmd = std::string(CUSEG_CLI) + " " + args + " 2>&1";
    FILE *p = popen(cmd.c_str(), "r");
    std::string out;
    char buf[4096];
    size_t n;
    while (p && (n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
    const int rc = p ? pclose(p) : -1;
    *status = WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
    return out;
}

}  // namespace

TEST(TrainCli, HelpAndErrors) {
    int rc;
    std::string out = run_cli("train --help", &rc);
    EXPECT_EQ(rc, 0);
    EXPECT_NE(out.find("usage: cuseg train --arch ARCH"), std::string::npos);
    EXPECT_NE(out.find("--resume"), std::string::npos);
    out = run_cli("train --arch unet_bn", &rc);
    EXPECT_EQ(rc, 2);
    EXPECT_NE(out.find("--arch, --train and --out are required"), std::string::npos);
    out = run_cli("train --arch unet_bn --train x --out y --optim rmsprop", &rc);
    EXPECT_EQ(rc, 2);
    EXPECT_NE(out.find("bad value 'rmsprop' for --optim"), std::string::npos);
    const std::string empty = temp_dir("cli_empty");
    mkdir((empty + "/images").c_str(), 0777);
    mkdir((empty + "/labels").c_str(), 0777);
    out = run_cli("train --arch unet_bn --arch-opts classes=2,width=2,depth=1 --train " + empty + " --out " + empty +
                      "/run --quiet",
                  &rc);
    EXPECT_EQ(rc, 1);
    EXPECT_NE(out.find(empty + ": the dataset is empty"), std::string::npos) << out;
}

TEST(TrainCli, TrainsAndScenesWork) {
    int rc;
    const std::string d = temp_dir("cli_scenes");
    std::string out = run_cli("scenes --out " + d + " --count 4 --size 24x20 --seed 3", &rc);
    ASSERT_EQ(rc, 0) << out;
    cs_image img;
    ASSERT_EQ(cs_image_read((d + "/labels/0003.png").c_str(), CS_IMAGE_LABEL, &img), CUSEG_OK);
    EXPECT_EQ(img.w, 24);
    EXPECT_EQ(img.h, 20);
    for (int i = 0; i < 24 * 20; ++i) EXPECT_LT(((uint8_t *)img.data)[i], 5);
    cs_image_free(&img);
    out = run_cli("train --arch unet_bn --arch-opts classes=5,width=2,depth=2 --train " + d + " --val " + d +
                      " --epochs 2 --batch 2 --crop 16 --hflip --threads 1 --out " + d + "/run",
                  &rc);
    EXPECT_EQ(rc, 0) << out;
    EXPECT_NE(out.find("epoch 2/2"), std::string::npos) << out;
    EXPECT_NE(out.find("val mIoU"), std::string::npos) << out;
    EXPECT_EQ(count_lines(d + "/run/log.csv"), 3);
}

/* SIGKILL during training (after epoch 2's row appears: mid-epoch or
 * mid-checkpoint, whichever it hits), then --resume: the final model and
 * checkpoint equal an uninterrupted run's byte for byte. */
TEST(TrainCli, ResumeAfterSigkillMatchesAnUninterruptedRun) {
    int rc;
    const std::string d = temp_dir("cli_kill");
    ASSERT_EQ((run_cli("scenes --out " + d + "/data --count 12 --size 40x32 --seed 9", &rc), rc), 0);
    const std::string recipe = "train --arch unet_bn --arch-opts classes=5,width=2,depth=2 --train " + d +
                               "/data --val " + d +
                               "/data --epochs 16 --batch 4 --hflip --rotate 10 --scale 0.8,1.2 --crop 24 "
                               "--optim adamw --lr 0.01 --threads 2 --quiet --out ";
    std::string out = run_cli(recipe + d + "/a", &rc);
    ASSERT_EQ(rc, 0) << out;
    const pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
        execl("/bin/sh", "sh", "-c", ("exec " + std::string(CUSEG_CLI) + " " + recipe + d + "/b >/dev/null 2>&1").c_str(),
              (char *)nullptr);
        _exit(127);
    }
    for (int i = 0; i < 2000 && count_lines(d + "/b/log.csv") < 3; ++i) usleep(5000);
    kill(pid, SIGKILL); /* cuseg itself: the shell exec'd it */
    waitpid(pid, nullptr, 0);
    /* interrupted: no final model yet */
    EXPECT_NE(access((d + "/b/model.safetensors").c_str(), F_OK), 0) << count_lines(d + "/b/log.csv") - 1 << " epochs ran";
    out = run_cli(recipe + d + "/b --resume", &rc);
    ASSERT_EQ(rc, 0) << out;
    EXPECT_TRUE(tensors_of(d + "/a/model.safetensors") == tensors_of(d + "/b/model.safetensors"));
    EXPECT_TRUE(tensors_of(d + "/a/last.ckpt") == tensors_of(d + "/b/last.ckpt"));
    EXPECT_EQ(count_lines(d + "/b/log.csv"), 17);
}

/* The bundled default model segments its sample scenes (models/default). */
TEST(DefaultModel, SegmentsTheSamples) {
    const std::string dir = std::string(CUSEG_SOURCE_DIR) + "/models/default";
    std::vector<std::pair<std::string, std::string>> pairs;
    for (int i = 0; i < 4; ++i) {
        char image[64], label[64];
        snprintf(image, sizeof image, "/samples/images/%04d.jpg", i);
        snprintf(label, sizeof label, "/samples/labels/%04d.png", i);
        pairs.emplace_back(dir + image, dir + label);
    }
    std::vector<uint64_t> cm;
    confusion_of(dir + "/default.safetensors", pairs, 5, &cm);
    uint64_t right = 0, total = 0;
    for (int k = 0; k < 25; ++k) {
        total += cm[k];
        if (k % 6 == 0) right += cm[k]; /* the diagonal of 5 x 5 */
    }
    ASSERT_GT(total, 0u);
    EXPECT_GT((double)right / total, 0.95) << "pixel accuracy on the samples (0.996 when trained)";
}

/* --bn eval keeps every BN running statistic and trains gamma/beta; --bn
 * frozen also keeps gamma/beta; both train everything else. */
TEST(Trainer, BnEvalAndFrozenKeepWhatTheySay) {
    const std::string data = make_dataset("bnmodes", 4, 16, 16);
    for (cs_bn_mode mode : {CS_BN_EVAL, CS_BN_FROZEN}) {
        SCOPED_TRACE(mode == CS_BN_EVAL ? "eval" : "frozen");
        const std::string out = temp_dir("bnmodes_out");
        cs_train_config c = tiny_config(data, out, 1);
        c.bn_mode = mode;
        ASSERT_EQ(cs_train_run(&c), CUSEG_OK) << cuseg_last_error();
        const auto before = tensors_of(out + "/init.safetensors"), after = tensors_of(out + "/model.safetensors");
        ASSERT_EQ(before.size(), after.size());
        std::vector<std::string> bn; /* batch norm prefixes */
        for (const auto &t : before)
            if (t.first.size() > 13 && t.first.compare(t.first.size() - 13, 13, ".running_mean") == 0)
                bn.push_back(t.first.substr(0, t.first.size() - 12));
        ASSERT_GE(bn.size(), 4u);
        int kept = 0, changed = 0;
        for (size_t i = 0; i < before.size(); ++i) {
            const std::string &name = before[i].first;
            ASSERT_EQ(name, after[i].first);
            bool is_stat = false, is_affine = false;
            for (const auto &p : bn) {
                is_stat |= name == p + "running_mean" || name == p + "running_var";
                is_affine |= name == p + "weight" || name == p + "bias";
            }
            const bool same = before[i].second == after[i].second;
            if (is_stat || (is_affine && mode == CS_BN_FROZEN)) {
                EXPECT_TRUE(same) << name;
                ++kept;
            } else {
                EXPECT_FALSE(same) << name << " was not trained";
                ++changed;
            }
        }
        EXPECT_EQ(kept, (int)bn.size() * (mode == CS_BN_FROZEN ? 4 : 2));
        EXPECT_GT(changed, 0);
    }
}

/* --init with another class count: strict by default (the error names the
 * tensor and suggests --init-partial); --init-partial loads every tensor
 * whose name and shape match bit for bit, keeps the fresh initialisation of
 * the classifier and reports each skipped tensor once. */
TEST(TrainCli, InitPartialLoadsAllButTheClassifier) {
    int rc;
    const std::string data = make_dataset("initp", 4, 16, 16);
    const std::string src = temp_dir("initp_src"), fresh = temp_dir("initp_fresh"), part = temp_dir("initp_part");
    const std::string base = "train --arch unet_bn --train " + data + " --epochs 1 --batch 2 --threads 1 --quiet --seed 7";
    const std::string five = base + " --arch-opts classes=5,width=2,depth=2";
    std::string out = run_cli(base + " --arch-opts classes=3,width=2,depth=2 --out " + src, &rc);
    ASSERT_EQ(rc, 0) << out;
    const std::string file = src + "/model.safetensors";
    out = run_cli(five + " --out " + fresh, &rc);
    ASSERT_EQ(rc, 0) << out;
    out = run_cli(five + " --init " + file + " --out " + part, &rc);
    EXPECT_EQ(rc, 1);
    EXPECT_NE(out.find(file + ": tensor 'outc.conv.weight' has shape [3,2,1,1], the model needs [5,2,1,1] "
                              "(--init-partial loads only the tensors that match"),
              std::string::npos)
        << out;
    out = run_cli(five + " --init " + file + " --init-partial --out " + part, &rc);
    ASSERT_EQ(rc, 0) << out;
    const std::string skipped_w =
        "init: skipped outc.conv.weight: shape [3,2,1,1] in " + file + ", [5,2,1,1] in the model\n";
    const std::string skipped_b = "init: skipped outc.conv.bias: shape [3] in " + file + ", [5] in the model\n";
    EXPECT_EQ(out, skipped_w + skipped_b) << "each skipped tensor once, nothing else";
    const auto loaded = tensors_of(part + "/init.safetensors"), source = tensors_of(file),
               fresh_init = tensors_of(fresh + "/init.safetensors");
    ASSERT_EQ(loaded.size(), source.size());
    ASSERT_EQ(loaded.size(), fresh_init.size());
    int from_file = 0, differs_from_fresh = 0;
    for (size_t i = 0; i < loaded.size(); ++i) {
        const std::string &name = loaded[i].first;
        ASSERT_EQ(name, source[i].first);
        ASSERT_EQ(name, fresh_init[i].first);
        if (name.rfind("outc.", 0) == 0) {
            EXPECT_TRUE(loaded[i].second == fresh_init[i].second) << name << ": the fresh initialisation";
        } else {
            EXPECT_TRUE(loaded[i].second == source[i].second) << name << ": bit for bit from " << file;
            ++from_file;
            differs_from_fresh += source[i].second != fresh_init[i].second;
        }
    }
    EXPECT_EQ(from_file, (int)loaded.size() - 2);
    EXPECT_GT(differs_from_fresh, 10) << "the source was trained, so loading it is visible";

    /* nothing in common (another width): an error, not a fresh model */
    out = run_cli(base + " --arch-opts classes=5,width=4,depth=2 --init " + file + " --init-partial --out " + part + "/w4",
                  &rc);
    EXPECT_EQ(rc, 1);
    EXPECT_NE(out.find("--init " + file + ": no tensor matches the model in name and shape"), std::string::npos) << out;
    out = run_cli(five + " --init-partial --out " + part, &rc);
    EXPECT_EQ(rc, 2);
    EXPECT_NE(out.find("--init-partial needs --init FILE"), std::string::npos) << out;
}
