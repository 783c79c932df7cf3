/* cuseg train's data side: pairing (directories, pair lists, VOC), label
 * mapping and every label error, augmentation consistency between image and
 * label, and loader results that do not depend on the thread count. */
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <sys/stat.h>
#include <unistd.h>

#include "temp_dir.h"

extern "C" {
#include "io/image.h"
#include "io/preprocess.h"
#include "train/augment.h"
#include "train/data.h"
#include "train/loader.h"
}

namespace {

using cstest::temp_dir;

void mkdirs(const std::string &p) { mkdir(p.c_str(), 0777); }

void write_gray(const std::string &path, int h, int w, const std::vector<uint8_t> &v) {
    ASSERT_EQ(cs_png_write(path.c_str(), v.data(), h, w, 1, 8, nullptr), CUSEG_OK) << cuseg_last_error();
}

void write_rgb(const std::string &path, int h, int w, const std::vector<uint8_t> &v) {
    ASSERT_EQ(cs_png_write(path.c_str(), v.data(), h, w, 3, 8, nullptr), CUSEG_OK) << cuseg_last_error();
}

/* A 3-class sample: label = (x / 4 + y / 4) % 3 in blocks of 4; image = 40 * label in every channel. */
void block_sample(int h, int w, std::vector<uint8_t> &img, std::vector<uint8_t> &lab, int shift = 0) {
    img.assign((size_t)h * w * 3, 0);
    lab.assign((size_t)h * w, 0);
    for (int y = 0; y < h; ++y)
        for (int x = 0; x < w; ++x) {
            const uint8_t c = (uint8_t)((x / 4 + y / 4 + shift) % 3);
            lab[(size_t)y * w + x] = c;
            for (int k = 0; k < 3; ++k) img[((size_t)y * w + x) * 3 + k] = (uint8_t)(40 * c);
        }
}

std::string error_of(cuseg_status st) { return st == CUSEG_OK ? std::string("(ok)") : std::string(cuseg_last_error()); }

cs_label_spec spec3() {
    cs_label_spec s;
    memset(&s, 0, sizeof s);
    s.classes = 3;
    s.ignore = 255;
    return s;
}

/* A dataset directory images/ + labels/ with n block samples of size h x w. */
std::string make_dataset(const char *tag, int n, int h, int w) {
    const std::string d = temp_dir(tag);
    mkdirs(d + "/images");
    mkdirs(d + "/labels");
    for (int i = 0; i < n; ++i) {
        std::vector<uint8_t> img, lab;
        block_sample(h, w, img, lab, i);
        char name[32];
        snprintf(name, sizeof name, "%03d.png", i);
        write_rgb(d + "/images/" + name, h, w, img);
        write_gray(d + "/labels/" + name, h, w, lab);
    }
    return d;
}

}  // namespace

TEST(TrainData, PairsDirectoriesByStemInSortedOrder) {
    const std::string d = make_dataset("pairs", 3, 8, 8);
    cs_dataset ds;
    ASSERT_EQ(cs_dataset_open(d.c_str(), nullptr, nullptr, &ds), CUSEG_OK) << cuseg_last_error();
    ASSERT_EQ(ds.n, 3);
    for (int i = 0; i < 3; ++i) {
        char name[32];
        snprintf(name, sizeof name, "%03d.png", i);
        EXPECT_EQ(std::string(ds.pairs[i].image), d + "/images/" + name);
        EXPECT_EQ(std::string(ds.pairs[i].label), d + "/labels/" + name);
    }
    cs_dataset_free(&ds);
    /* An image without a label names the image and the expected label. */
    std::vector<uint8_t> img, lab;
    block_sample(8, 8, img, lab);
    write_rgb(d + "/images/zzz.png", 8, 8, img);
    EXPECT_EQ(cs_dataset_open(d.c_str(), nullptr, nullptr, &ds), CUSEG_ERR_NOT_FOUND);
    EXPECT_NE(error_of(CUSEG_ERR_NOT_FOUND).find("images/zzz.png: no label for this image (expected " + d +
                                                  "/labels/zzz.png or " + d + "/labels/zzz.json)"),
              std::string::npos)
        << cuseg_last_error();
}

TEST(TrainData, EmptyDatasetAndUnknownLayoutAreErrors) {
    const std::string d = temp_dir("empty");
    mkdirs(d + "/images");
    mkdirs(d + "/labels");
    cs_dataset ds;
    EXPECT_EQ(cs_dataset_open(d.c_str(), nullptr, nullptr, &ds), CUSEG_ERR_NOT_FOUND);
    EXPECT_EQ(std::string(cuseg_last_error()), d + ": the dataset is empty (no image/label pairs)");
    const std::string other = temp_dir("nolayout");
    EXPECT_EQ(cs_dataset_open(other.c_str(), nullptr, nullptr, &ds), CUSEG_ERR_NOT_FOUND);
    EXPECT_NE(std::string(cuseg_last_error()).find(other + ": not a dataset"), std::string::npos);
    EXPECT_EQ(cs_dataset_open((d + "/nothing").c_str(), nullptr, nullptr, &ds), CUSEG_ERR_NOT_FOUND);
    EXPECT_NE(std::string(cuseg_last_error()).find("no such file or directory"), std::string::npos);
    const std::string list = d + "/empty.txt";
    std::ofstream(list) << "# only a comment\n\n";
    EXPECT_EQ(cs_dataset_open(list.c_str(), nullptr, nullptr, &ds), CUSEG_ERR_NOT_FOUND);
    EXPECT_EQ(std::string(cuseg_last_error()), list + ": the dataset is empty (no image/label pairs)");
}

TEST(TrainData, PairListRelativeToItsDirectoryOrRoot) {
    const std::string d = make_dataset("list", 2, 8, 8);
    const std::string list = d + "/train.txt";
    std::ofstream(list) << "# comment\nimages/001.png labels/001.png\n\n  images/000.png   labels/000.png\n";
    cs_dataset ds;
    ASSERT_EQ(cs_dataset_open(list.c_str(), nullptr, nullptr, &ds), CUSEG_OK) << cuseg_last_error();
    ASSERT_EQ(ds.n, 2);
    EXPECT_EQ(std::string(ds.pairs[0].image), d + "/images/001.png");
    EXPECT_EQ(std::string(ds.pairs[1].label), d + "/labels/000.png");
    cs_dataset_free(&ds);
    /* --root: relative paths from elsewhere */
    const std::string list2 = temp_dir("list2") + "/l.txt";
    std::ofstream(list2) << "images/000.png labels/000.png\n";
    ASSERT_EQ(cs_dataset_open(list2.c_str(), d.c_str(), nullptr, &ds), CUSEG_OK) << cuseg_last_error();
    EXPECT_EQ(std::string(ds.pairs[0].image), d + "/images/000.png");
    cs_dataset_free(&ds);
    /* missing file: the line is named */
    std::ofstream(list) << "images/000.png labels/000.png\nimages/000.png labels/404.png\n";
    EXPECT_EQ(cs_dataset_open(list.c_str(), nullptr, nullptr, &ds), CUSEG_ERR_NOT_FOUND);
    EXPECT_EQ(std::string(cuseg_last_error()), list + ":2: label " + d + "/labels/404.png does not exist");
    std::ofstream(list) << "images/000.png\n";
    EXPECT_EQ(cs_dataset_open(list.c_str(), nullptr, nullptr, &ds), CUSEG_ERR_FORMAT);
    EXPECT_EQ(std::string(cuseg_last_error()), list + ":1: expected \"IMAGE LABEL\" (two paths), got 1 field");
}

TEST(TrainData, CamvidPairListParses) {
    cs_dataset ds;
    const std::string list = std::string(CUSEG_SHARED_DIR) + "/datasets/camvid/val.txt";
    if (access(list.c_str(), R_OK) != 0) GTEST_SKIP() << list << " not present";
    ASSERT_EQ(cs_dataset_open(list.c_str(), nullptr, nullptr, &ds), CUSEG_OK) << cuseg_last_error();
    EXPECT_EQ(ds.n, 101);
    cs_dataset_free(&ds);
}

TEST(TrainData, VocLayout) {
    const std::string d = temp_dir("voc");
    for (const char *sub : {"/JPEGImages", "/SegmentationClass", "/ImageSets", "/ImageSets/Segmentation"})
        mkdirs(d + sub);
    std::vector<uint8_t> img, lab;
    block_sample(6, 6, img, lab);
    /* decoding goes by signature: a PNG named .jpg is fine for this test */
    for (const char *id : {"2007_000032", "2007_000039"}) {
        write_rgb(d + "/JPEGImages/" + id + ".jpg", 6, 6, img);
        write_gray(d + "/SegmentationClass/" + id + ".png", 6, 6, lab);
    }
    std::ofstream(d + "/ImageSets/Segmentation/train.txt") << "2007_000039\n2007_000032\n";
    std::ofstream(d + "/ImageSets/Segmentation/val.txt") << "2007_000032\n2007_000099\n";
    cs_dataset ds;
    ASSERT_EQ(cs_dataset_open(d.c_str(), nullptr, "train", &ds), CUSEG_OK) << cuseg_last_error();
    ASSERT_EQ(ds.n, 2);
    EXPECT_EQ(std::string(ds.pairs[0].image), d + "/JPEGImages/2007_000039.jpg");
    EXPECT_EQ(std::string(ds.pairs[1].label), d + "/SegmentationClass/2007_000032.png");
    cs_dataset_free(&ds);
    EXPECT_EQ(cs_dataset_open(d.c_str(), nullptr, "val", &ds), CUSEG_ERR_NOT_FOUND);
    EXPECT_EQ(std::string(cuseg_last_error()),
              d + "/ImageSets/Segmentation/val.txt:2: image " + d + "/JPEGImages/2007_000099.jpg does not exist");
}

TEST(TrainData, LabelErrorsNameTheFile) {
    const std::string d = temp_dir("labels");
    std::vector<uint8_t> img, lab;
    block_sample(6, 5, img, lab);
    const std::string ip = d + "/a.png", lp = d + "/a_label.png";
    write_rgb(ip, 6, 5, img);
    cs_pair pair = {(char *)ip.c_str(), (char *)lp.c_str()};
    cs_label_spec s = spec3();
    cs_sample smp;

    lab[7] = 3; /* >= classes, not ignore: pixel 7 = (x=2, y=1) */
    write_gray(lp, 6, 5, lab);
    EXPECT_EQ(cs_sample_load(&pair, &s, 3, &smp), CUSEG_ERR_FORMAT);
    EXPECT_EQ(std::string(cuseg_last_error()),
              lp + ": pixel (x=2, y=1) has class 3, not below classes=3 and not the ignore value 255");
    lab[7] = 255; /* the ignore value is fine */
    write_gray(lp, 6, 5, lab);
    ASSERT_EQ(cs_sample_load(&pair, &s, 3, &smp), CUSEG_OK) << cuseg_last_error();
    EXPECT_EQ(smp.label[7], 255);
    EXPECT_EQ(smp.label[1], lab[1]);
    cs_sample_free(&smp);

    std::vector<uint8_t> small(4 * 5, 0); /* size mismatch */
    write_gray(lp, 4, 5, small);
    EXPECT_EQ(cs_sample_load(&pair, &s, 3, &smp), CUSEG_ERR_SHAPE);
    EXPECT_EQ(std::string(cuseg_last_error()), lp + ": label is 5x4 (WxH) but its image " + ip + " is 5x6");

    /* label values 0,255 -> classes 0,1; any other value is named */
    cs_label_spec v = spec3();
    v.classes = 2;
    v.ignore = -1;
    ASSERT_EQ(cs_label_parse_values("0,255", &v), CUSEG_OK);
    std::vector<uint8_t> mask(30, 255);
    mask[0] = 0;
    write_gray(lp, 6, 5, mask);
    ASSERT_EQ(cs_sample_load(&pair, &v, 1, &smp), CUSEG_OK) << cuseg_last_error();
    EXPECT_EQ(smp.c, 1);
    EXPECT_EQ(smp.label[0], 0);
    EXPECT_EQ(smp.label[29], 1);
    cs_sample_free(&smp);
    mask[29] = 128;
    write_gray(lp, 6, 5, mask);
    EXPECT_EQ(cs_sample_load(&pair, &v, 1, &smp), CUSEG_ERR_FORMAT);
    EXPECT_EQ(std::string(cuseg_last_error()),
              lp + ": pixel (x=4, y=5) has value 128, which is not one of the label values");
    EXPECT_EQ(cs_label_parse_values("0,x", &v), CUSEG_ERR_INVALID_ARGUMENT);

    /* RGB colour labels through a palette file */
    const std::string pal = d + "/palette.txt";
    std::ofstream(pal) << "# Potsdam-like\n255 255 255 surface\n0,0,255 building\n0 255 0\nignore 255 0 0\n";
    cs_label_spec c = spec3();
    ASSERT_EQ(cs_label_read_palette(pal.c_str(), &c), CUSEG_OK) << cuseg_last_error();
    EXPECT_EQ(c.n_colors, 3);
    std::vector<uint8_t> rgb(30 * 3, 255);
    rgb[3 * 4 + 0] = 0, rgb[3 * 4 + 1] = 0;              /* pixel 4: blue = class 1 */
    rgb[3 * 5 + 1] = 0, rgb[3 * 5 + 2] = 0;              /* pixel 5: red = ignore */
    write_rgb(lp, 6, 5, rgb);
    ASSERT_EQ(cs_sample_load(&pair, &c, 3, &smp), CUSEG_OK) << cuseg_last_error();
    EXPECT_EQ(smp.label[0], 0);
    EXPECT_EQ(smp.label[4], 1);
    EXPECT_EQ(smp.label[5], 255);
    cs_sample_free(&smp);
    rgb[3 * 6 + 0] = 10;
    write_rgb(lp, 6, 5, rgb);
    EXPECT_EQ(cs_sample_load(&pair, &c, 3, &smp), CUSEG_ERR_FORMAT);
    EXPECT_EQ(std::string(cuseg_last_error()),
              lp + ": pixel (x=1, y=1) has colour (10,255,255), which is not in the palette");
    std::ofstream(pal) << "1 2\n";
    EXPECT_EQ(cs_label_read_palette(pal.c_str(), &c), CUSEG_ERR_FORMAT);
    EXPECT_EQ(std::string(cuseg_last_error()), pal + ":1: expected \"R G B [name]\" with values 0..255");

    /* an unreadable label is reported by the decoder with its name */
    std::ofstream(lp) << "not a png";
    EXPECT_NE(cs_sample_load(&pair, &s, 3, &smp), CUSEG_OK);
    EXPECT_NE(std::string(cuseg_last_error()).find(lp), std::string::npos) << cuseg_last_error();
}

namespace {

cs_sample make_sample(int h, int w, int shift, std::vector<uint8_t> &img, std::vector<uint8_t> &lab8,
                      std::vector<int32_t> &lab) {
    block_sample(h, w, img, lab8, shift);
    lab.assign(lab8.begin(), lab8.end());
    cs_sample s = {h, w, 3, img.data(), lab.data()};
    return s;
}

cs_augment no_augment() {
    cs_augment a;
    memset(&a, 0, sizeof a);
    a.scale_min = a.scale_max = 1.0f;
    a.ignore = 255;
    return a;
}

}  // namespace

/* Integer geometry (flips, crop, padding): the image must be exactly 40 *
 * label at every pixel, and padding is 0 / ignore. */
TEST(TrainAugment, FlipsAndCropKeepImageAndLabelIdentical) {
    std::vector<uint8_t> img, lab8;
    std::vector<int32_t> lab;
    const cs_sample s = make_sample(21, 17, 0, img, lab8, lab);
    cs_augment a = no_augment();
    a.hflip = a.vflip = 1;
    a.crop_h = 24; /* taller than the image: padded at the bottom */
    a.crop_w = 11;
    int oh, ow;
    cs_augment_out_size(&a, 21, 17, &oh, &ow);
    ASSERT_EQ(oh, 24);
    ASSERT_EQ(ow, 11);
    int flipped = 0, padded = 0;
    for (uint64_t index = 0; index < 16; ++index) {
        std::vector<float> out((size_t)oh * ow * 3);
        std::vector<int32_t> ol((size_t)oh * ow);
        ASSERT_EQ(cs_augment_apply(&a, &s, 1, 7, 0, index, out.data(), ol.data(), oh, ow), CUSEG_OK);
        for (int y = 0; y < oh; ++y)
            for (int x = 0; x < ow; ++x) {
                const size_t i = (size_t)y * ow + x;
                if (y >= 21) {
                    EXPECT_EQ(ol[i], 255);
                    EXPECT_EQ(out[3 * i], 0.0f);
                    ++padded;
                    continue;
                }
                ASSERT_GE(ol[i], 0);
                ASSERT_LT(ol[i], 3);
                for (int k = 0; k < 3; ++k) ASSERT_EQ(out[3 * i + k], 40.0f * ol[i]) << "index " << index;
            }
        /* compare with the source to see whether a flip happened */
        flipped += ol[0] != lab[0];
    }
    EXPECT_GT(flipped, 0);
    EXPECT_GT(padded, 0);
}

/* Scale and rotation: the label is sampled nearest and the image bilinearly
 * from the same source point, so away from class boundaries (where bilinear
 * mixes two classes) the image still equals 40 * label. */
TEST(TrainAugment, ScaleAndRotationKeepImageAndLabelConsistent) {
    std::vector<uint8_t> img, lab8;
    std::vector<int32_t> lab;
    /* blocks of 4 are too thin for bilinear at 0.7x; use blocks of 12 */
    const int h = 64, w = 48;
    img.assign((size_t)h * w * 3, 0);
    lab.assign((size_t)h * w, 0);
    for (int y = 0; y < h; ++y)
        for (int x = 0; x < w; ++x) {
            const int c = (x / 12 + y / 12) % 3;
            lab[(size_t)y * w + x] = c;
            for (int k = 0; k < 3; ++k) img[((size_t)y * w + x) * 3 + k] = (uint8_t)(40 * c);
        }
    const cs_sample s = {h, w, 3, img.data(), lab.data()};
    cs_augment a = no_augment();
    a.scale_min = 0.7f;
    a.scale_max = 1.6f;
    a.rotate_deg = 20;
    a.hflip = 1;
    a.crop_h = a.crop_w = 40;
    size_t valid = 0, agree = 0, ignored = 0;
    for (uint64_t index = 0; index < 20; ++index) {
        std::vector<float> out(40 * 40 * 3);
        std::vector<int32_t> ol(40 * 40);
        ASSERT_EQ(cs_augment_apply(&a, &s, 1, 3, 1, index, out.data(), ol.data(), 40, 40), CUSEG_OK);
        for (size_t i = 0; i < ol.size(); ++i) {
            if (ol[i] == 255) {
                ++ignored;
                EXPECT_EQ(out[3 * i], 0.0f);
                continue;
            }
            ++valid;
            agree += std::fabs(out[3 * i] - 40.0f * ol[i]) < 1e-3f;
        }
    }
    EXPECT_GT(ignored, 0u); /* rotation corners / downscaled padding */
    /* Only pixels within one source pixel of a boundary may differ: with 12-px
     * blocks and scale >= 0.7, that is under ~25% of the pixels. */
    EXPECT_GT((double)agree / valid, 0.75) << agree << " of " << valid;
}

TEST(TrainAugment, DeterministicPerSeedEpochIndex) {
    std::vector<uint8_t> img, lab8;
    std::vector<int32_t> lab;
    const cs_sample s = make_sample(30, 30, 1, img, lab8, lab);
    cs_augment a = no_augment();
    a.scale_min = 0.5f;
    a.scale_max = 2.0f;
    a.rotate_deg = 10;
    a.hflip = a.vflip = 1;
    a.crop_h = a.crop_w = 16;
    a.brightness = a.contrast = a.saturation = 0.3f;
    auto run = [&](uint64_t seed, uint64_t epoch, uint64_t index) {
        std::vector<float> out(16 * 16 * 3);
        std::vector<int32_t> ol(16 * 16);
        EXPECT_EQ(cs_augment_apply(&a, &s, 1, seed, epoch, index, out.data(), ol.data(), 16, 16), CUSEG_OK);
        return out;
    };
    EXPECT_EQ(run(1, 2, 3), run(1, 2, 3));
    EXPECT_NE(run(1, 2, 3), run(1, 3, 3));
    EXPECT_NE(run(1, 2, 3), run(2, 2, 3));
    EXPECT_NE(run(1, 2, 3), run(1, 2, 4));
}

TEST(TrainAugment, LetterboxKeepsAspectAndPadsWithIgnore) {
    std::vector<uint8_t> img, lab8;
    std::vector<int32_t> lab;
    const cs_sample s = make_sample(10, 20, 0, img, lab8, lab); /* 20 wide, 10 high */
    cs_augment a = no_augment();
    a.resize = CS_RESIZE_LETTERBOX;
    a.resize_h = a.resize_w = 40; /* 20x10 -> padded to 20x20 at the top left -> 2x */
    int oh, ow;
    cs_augment_out_size(&a, 10, 20, &oh, &ow);
    ASSERT_EQ(oh, 40);
    ASSERT_EQ(ow, 40);
    std::vector<float> out(40 * 40 * 3);
    std::vector<int32_t> ol(40 * 40);
    ASSERT_EQ(cs_augment_apply(&a, &s, 0, 0, 0, 0, out.data(), ol.data(), 40, 40), CUSEG_OK);
    for (int y = 0; y < 40; ++y)
        for (int x = 0; x < 40; ++x) {
            const int32_t l = ol[(size_t)y * 40 + x];
            if (y >= 20) EXPECT_EQ(l, 255) << x << "," << y;
            else EXPECT_EQ(l, lab[(size_t)(y / 2) * 20 + x / 2]) << x << "," << y; /* nearest, 2x */
        }
}

TEST(TrainLoader, BatchesDoNotDependOnThreadsOrPrefetch) {
    const std::string d = make_dataset("loader", 7, 20, 18);
    cs_dataset ds;
    ASSERT_EQ(cs_dataset_open(d.c_str(), nullptr, nullptr, &ds), CUSEG_OK) << cuseg_last_error();
    cs_label_spec spec = spec3();
    cs_augment a = no_augment();
    a.scale_min = 0.8f;
    a.scale_max = 1.3f;
    a.rotate_deg = 15;
    a.hflip = 1;
    a.crop_h = a.crop_w = 16;
    a.brightness = 0.2f;
    const cs_preprocess pre = {0, 1.0f / 255, {0.5f, 0.5f, 0.5f, 0}, {0.25f, 0.25f, 0.25f, 1}};
    auto collect = [&](int threads, int prefetch, int epoch) {
        cs_loader_config c = {&ds, &spec, &a, &pre, 3, 3, threads, prefetch, 42, 1};
        cs_loader *l = nullptr;
        EXPECT_EQ(cs_loader_create(&c, &l), CUSEG_OK) << cuseg_last_error();
        std::vector<float> all;
        std::vector<int32_t> labels;
        EXPECT_EQ(cs_loader_batches(l), 3);
        EXPECT_EQ(cs_loader_start(l, epoch), CUSEG_OK);
        int batches = 0;
        for (;;) {
            cs_batch b;
            EXPECT_EQ(cs_loader_next(l, &b), CUSEG_OK) << cuseg_last_error();
            if (b.n == 0) break;
            EXPECT_EQ(b.n, batches < 2 ? 3 : 1);
            all.insert(all.end(), b.image, b.image + (size_t)b.n * b.h * b.w * b.c);
            labels.insert(labels.end(), b.label, b.label + (size_t)b.n * b.h * b.w);
            ++batches;
        }
        EXPECT_EQ(batches, 3);
        cs_loader_release(l);
        return std::make_pair(all, labels);
    };
    const auto ref = collect(1, 1, 0);
    EXPECT_EQ(ref.first.size(), 7u * 16 * 16 * 3);
    EXPECT_EQ(collect(3, 1, 0), ref);
    EXPECT_EQ(collect(4, 3, 0), ref);
    EXPECT_NE(collect(2, 2, 1), ref); /* another epoch: another shuffle and augmentation */
    cs_dataset_free(&ds);
}

TEST(TrainLoader, ABadSampleIsReportedByName) {
    const std::string d = make_dataset("loaderbad", 4, 8, 8);
    std::vector<uint8_t> bad(64, 9);
    write_gray(d + "/labels/002.png", 8, 8, bad);
    cs_dataset ds;
    ASSERT_EQ(cs_dataset_open(d.c_str(), nullptr, nullptr, &ds), CUSEG_OK);
    cs_label_spec spec = spec3();
    cs_augment a = no_augment();
    const cs_preprocess pre = {0, 1.0f / 255, {0, 0, 0, 0}, {1, 1, 1, 1}};
    cs_loader_config c = {&ds, &spec, &a, &pre, 3, 2, 2, 2, 0, 0};
    cs_loader *l = nullptr;
    ASSERT_EQ(cs_loader_create(&c, &l), CUSEG_OK);
    ASSERT_EQ(cs_loader_start(l, 0), CUSEG_OK);
    cs_batch b;
    EXPECT_EQ(cs_loader_next(l, &b), CUSEG_OK);
    EXPECT_EQ(cs_loader_next(l, &b), CUSEG_ERR_FORMAT);
    EXPECT_EQ(std::string(cuseg_last_error()),
              d + "/labels/002.png: pixel (x=0, y=0) has class 9, not below classes=3 and not the ignore value 255");
    cs_loader_release(l); /* with workers possibly still running: must not hang or leak */
    cs_dataset_free(&ds);
}
