/* labelme JSON as a training label source: the loader draws each file with
 * the code `cuseg convert labelme` uses, so its class map must equal the
 * converted PNG pixel for pixel (on labelme's own examples); names map
 * through --class-names or labels.txt (labelme2voc's convention); bad files
 * and unknown names stop loading with the file name. */
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "cli_harness.h"
#include "op_harness.h"
#include "temp_dir.h"

extern "C" {
#include "io/image.h"
#include "io/labelme.h"
#include "train/data.h"
#include "train/trainer.h"
}

using namespace cstest;

namespace {

const std::string kExamples = std::string(CUSEG_SHARED_DIR) + "/datasets/labelme_examples";

cs_label_spec labelme_spec(const cs_labelme_classes *classes) {
    cs_label_spec s;
    std::memset(&s, 0, sizeof s);
    s.classes = cs_labelme_class_count(classes);
    s.ignore = 255;
    s.labelme = classes;
    return s;
}

/* A 5x4 PNG image beside NAME.json with one shape of label `label`. */
void write_labelme_pair(const std::string &dir, const std::string &name, const std::string &label) {
    const std::vector<uint8_t> img(5 * 4 * 3, 100);
    ASSERT_EQ(cs_png_write((dir + "/" + name + ".png").c_str(), img.data(), 4, 5, 3, 8, nullptr), CUSEG_OK);
    std::ofstream(dir + "/" + name + ".json")
        << R"({"imageHeight": 4, "imageWidth": 5, "shapes": [{"label": ")" << label
        << R"(", "points": [[1,1],[3,2]], "shape_type": "rectangle"}]})";
}

}  // namespace

TEST(TrainLabelme, LoaderLabelsEqualConvertOutput) {
    CUSEG_REQUIRE_SHARED();
    const std::string out = fresh_dir("train_labelme", "convert");
    struct Set {
        std::string dir, labels;
        int n;
    };
    const std::vector<Set> sets = {
        {"semantic_segmentation", "labels.txt", 3}, {"video_annotation", "labels.txt", 5}, {"tutorial", "label_names.txt", 1}};
    for (const auto &s : sets) {
        SCOPED_TRACE(s.dir);
        const std::string labels = kExamples + "/" + s.dir + "/" + s.labels;
        const CliResult r =
            run_cli("convert labelme " + kExamples + "/" + s.dir + "/json -o " + out + "/" + s.dir + " --labels " + labels);
        ASSERT_EQ(r.rc, 0) << r.out;
        cs_labelme_classes classes;
        ASSERT_EQ(cs_labelme_classes_read(labels.c_str(), 255, &classes), CUSEG_OK) << cuseg_last_error();
        /* labelme's own layout: IMG.jpg beside IMG.json */
        cs_dataset ds;
        ASSERT_EQ(cs_dataset_open((kExamples + "/" + s.dir + "/json").c_str(), nullptr, nullptr, &ds), CUSEG_OK)
            << cuseg_last_error();
        ASSERT_EQ(ds.n, s.n);
        const cs_label_spec spec = labelme_spec(&classes);
        for (int i = 0; i < ds.n; ++i) {
            const std::string json = ds.pairs[i].label;
            ASSERT_EQ(json.substr(json.size() - 5), ".json");
            const std::string stem = json.substr(json.rfind('/') + 1, json.size() - json.rfind('/') - 6);
            ASSERT_EQ(std::string(ds.pairs[i].image), kExamples + "/" + s.dir + "/json/" + stem + ".jpg");
            cs_sample smp;
            ASSERT_EQ(cs_sample_load(&ds.pairs[i], &spec, 3, &smp), CUSEG_OK) << cuseg_last_error();
            cs_image png;
            ASSERT_EQ(cs_image_read((out + "/" + s.dir + "/" + stem + ".png").c_str(), CS_IMAGE_LABEL, &png), CUSEG_OK);
            ASSERT_EQ(png.w, smp.w);
            ASSERT_EQ(png.h, smp.h);
            size_t differ = 0, labelled = 0;
            for (size_t k = 0; k < (size_t)smp.w * smp.h; ++k) {
                differ += smp.label[k] != ((const uint8_t *)png.data)[k];
                labelled += smp.label[k] != 0;
            }
            EXPECT_EQ(differ, 0u) << stem;
            EXPECT_GT(labelled, 1000u) << stem << ": the shapes were drawn";
            cs_image_free(&png);
            cs_sample_free(&smp);
        }
        cs_dataset_free(&ds);
        cs_labelme_classes_free(&classes);
    }
}

/* labelme2voc: "__ignore__" first maps to the ignore value, the next names
 * to 0, 1, ...; without it the first name is 0. */
TEST(TrainLabelme, ClassNamesFollowLabelme2voc) {
    cs_labelme_classes c;
    ASSERT_EQ(cs_labelme_classes_parse("__ignore__,_background_,cat,dog", 255, &c), CUSEG_OK);
    EXPECT_EQ(cs_labelme_class_count(&c), 3);
    EXPECT_EQ(c.has_ignore, 1);
    EXPECT_EQ(std::vector<int>(c.values, c.values + c.n), (std::vector<int>{255, 0, 1, 2}));
    cs_labelme_classes_free(&c);
    ASSERT_EQ(cs_labelme_classes_parse("_background_,cat", 255, &c), CUSEG_OK);
    EXPECT_EQ(cs_labelme_class_count(&c), 2);
    EXPECT_EQ(std::vector<int>(c.values, c.values + c.n), (std::vector<int>{0, 1}));
    cs_labelme_classes_free(&c);
    EXPECT_EQ(cs_labelme_classes_parse("cat,,dog", 255, &c), CUSEG_ERR_INVALID_ARGUMENT);
    EXPECT_STREQ(cuseg_last_error(), "class names 'cat,,dog': empty name");
    EXPECT_EQ(cs_labelme_classes_parse("__ignore__", 255, &c), CUSEG_ERR_INVALID_ARGUMENT);
}

TEST(TrainLabelme, BadJsonAndUnknownNamesNameTheFile) {
    const std::string d = temp_dir("labelme_bad");
    write_labelme_pair(d, "a", "cat");
    write_labelme_pair(d, "b", "dog");
    cs_labelme_classes classes;
    ASSERT_EQ(cs_labelme_classes_parse("_background_,cat", 255, &classes), CUSEG_OK);
    const cs_label_spec spec = labelme_spec(&classes);
    cs_dataset ds;
    ASSERT_EQ(cs_dataset_open(d.c_str(), nullptr, nullptr, &ds), CUSEG_OK) << cuseg_last_error();
    ASSERT_EQ(ds.n, 2);
    cs_sample smp;
    ASSERT_EQ(cs_sample_load(&ds.pairs[0], &spec, 3, &smp), CUSEG_OK) << cuseg_last_error();
    const int want[4][5] = {{0, 0, 0, 0, 0}, {0, 1, 1, 1, 0}, {0, 1, 1, 1, 0}, {0, 0, 0, 0, 0}};
    for (int y = 0; y < 4; ++y)
        for (int x = 0; x < 5; ++x) EXPECT_EQ(smp.label[y * 5 + x], want[y][x]) << x << "," << y;
    cs_sample_free(&smp);
    EXPECT_EQ(cs_sample_load(&ds.pairs[1], &spec, 3, &smp), CUSEG_ERR_FORMAT);
    EXPECT_EQ(std::string(cuseg_last_error()), d + "/b.json: shape 0 has label 'dog', which the label list does not name");
    std::ofstream(d + "/b.json") << R"({"imageHeight": 4, "imageWidth": )";
    EXPECT_EQ(cs_sample_load(&ds.pairs[1], &spec, 3, &smp), CUSEG_ERR_FORMAT);
    EXPECT_EQ(std::string(cuseg_last_error()).rfind(d + "/b.json: not valid JSON", 0), 0u) << cuseg_last_error();
    std::ofstream(d + "/b.json") << R"({"imageHeight": 3, "imageWidth": 5, "shapes": []})";
    EXPECT_EQ(cs_sample_load(&ds.pairs[1], &spec, 3, &smp), CUSEG_ERR_SHAPE);
    EXPECT_EQ(std::string(cuseg_last_error()),
              d + "/b.json: imageWidth x imageHeight is 5x3 but its image " + d + "/b.png is 5x4");
    cs_label_spec no_names = spec;
    no_names.labelme = nullptr;
    EXPECT_EQ(cs_sample_load(&ds.pairs[0], &no_names, 3, &smp), CUSEG_ERR_INVALID_ARGUMENT);
    EXPECT_NE(std::string(cuseg_last_error()).find(d + "/a.json: a labelme label needs class names"), std::string::npos);
    cs_dataset_free(&ds);
    cs_labelme_classes_free(&classes);

    /* the trainer stops with the file's name: a corrupt file, unknown names */
    write_labelme_pair(d, "b", "dog");
    const std::string out = temp_dir("labelme_bad_out");
    const std::string cmd = "train --arch unet_bn --arch-opts classes=2,width=2,depth=1 --train " + d +
                            " --epochs 1 --batch 2 --threads 1 --quiet --out " + out;
    CliResult r = run_cli(cmd);
    EXPECT_EQ(r.rc, 1);
    EXPECT_NE(r.out.find("has labelme JSON labels: name their classes with --class-names"), std::string::npos) << r.out;
    r = run_cli(cmd + " --class-names _background_,cat");
    EXPECT_EQ(r.rc, 1);
    EXPECT_NE(r.out.find(d + "/b.json: shape 0 has label 'dog', which the label list does not name"), std::string::npos)
        << r.out;
    std::ofstream(d + "/labels.txt") << "__ignore__\n_background_\ncat\ndog\n";
    r = run_cli(cmd);
    EXPECT_EQ(r.rc, 1);
    EXPECT_NE(r.out.find(d + "/labels.txt names 3 classes but the model has classes=2"), std::string::npos) << r.out;
    std::ofstream(d + "/a.json") << "{";
    r = run_cli(cmd + " --class-names _background_,cat,dog --arch-opts classes=3,width=2,depth=1");
    EXPECT_EQ(r.rc, 1);
    EXPECT_NE(r.out.find(d + "/a.json: not valid JSON"), std::string::npos) << r.out;
}

/* One epoch on labelme's semantic_segmentation examples in labelme's own
 * layout, classes from the labels.txt beside json/ (21 VOC classes and
 * __ignore__); the model records the names. */
TEST(TrainLabelme, OneEpochOnTheExamples) {
    CUSEG_REQUIRE_SHARED();
    const std::string out = temp_dir("labelme_train");
    const std::string data = kExamples + "/semantic_segmentation/json";
    const CliResult r = run_cli("train --arch unet_bn --arch-opts classes=21,width=2,depth=2 --train " + data +
                                " --val " + data + " --crop 64 --epochs 1 --batch 3 --threads 2 --out " + out);
    ASSERT_EQ(r.rc, 0) << r.out;
    EXPECT_NE(r.out.find("epoch 1/1"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("val mIoU"), std::string::npos) << r.out;
    cuseg_model *m = nullptr;
    ASSERT_EQ(cuseg_model_load((out + "/model.safetensors").c_str(), &m), CUSEG_OK) << cuseg_last_error();
    const char *names = cuseg_graph_meta(cuseg_model_graph(m), "class_names");
    ASSERT_NE(names, nullptr);
    EXPECT_EQ(std::string(names).rfind("_background_,aeroplane,bicycle,", 0), 0u) << names;
    EXPECT_NE(std::string(names).find(",tv/monitor"), std::string::npos) << names;
    cuseg_model_release(m);
}

/* images/ + labels/ with labelme labels: labels/STEM.json when there is no
 * labels/STEM.png. */
TEST(TrainLabelme, ImageAndLabelDirectoriesPairJsonLabels) {
    const std::string d = temp_dir("labelme_dirs");
    ASSERT_EQ(std::system(("mkdir -p " + d + "/images " + d + "/labels").c_str()), 0);
    write_labelme_pair(d + "/images", "a", "cat");
    ASSERT_EQ(std::rename((d + "/images/a.json").c_str(), (d + "/labels/a.json").c_str()), 0);
    cs_dataset ds;
    ASSERT_EQ(cs_dataset_open(d.c_str(), nullptr, nullptr, &ds), CUSEG_OK) << cuseg_last_error();
    ASSERT_EQ(ds.n, 1);
    EXPECT_EQ(std::string(ds.pairs[0].label), d + "/labels/a.json");
    cs_labelme_classes classes;
    ASSERT_EQ(cs_labelme_classes_parse("_background_,cat", 255, &classes), CUSEG_OK);
    const cs_label_spec spec = labelme_spec(&classes);
    cs_sample smp;
    ASSERT_EQ(cs_sample_load(&ds.pairs[0], &spec, 1, &smp), CUSEG_OK) << cuseg_last_error();
    EXPECT_EQ(smp.label[1 * 5 + 2], 1);
    EXPECT_EQ(smp.label[0], 0);
    cs_sample_free(&smp);
    cs_labelme_classes_free(&classes);
    cs_dataset_free(&ds);
}
