/* `cuseg convert labelme`: the labelme repository's example masks (made by
 * labelme2voc), and goldens of every shape type drawn by labelme's
 * shape_to_mask with Pillow 13 (tests/golden/make_labelme_golden.py). */
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

#include "cli_harness.h"
#include "op_harness.h"

extern "C" {
#include "io/image.h"
}

using namespace cstest;

namespace {

/* Pixels that differ, as (row, col); sizes must match. */
std::vector<std::pair<int, int>> diff(const std::string &a, const std::string &b) {
    cs_image x, y;
    EXPECT_EQ(cs_image_read(a.c_str(), CS_IMAGE_LABEL, &x), CUSEG_OK) << cuseg_last_error();
    EXPECT_EQ(cs_image_read(b.c_str(), CS_IMAGE_LABEL, &y), CUSEG_OK) << cuseg_last_error();
    std::vector<std::pair<int, int>> d;
    EXPECT_EQ(x.h, y.h);
    EXPECT_EQ(x.w, y.w);
    if (x.data && y.data && x.h == y.h && x.w == y.w)
        for (int r = 0; r < x.h; ++r)
            for (int c = 0; c < x.w; ++c)
                if (((uint8_t *)x.data)[(size_t)r * x.w + c] != ((uint8_t *)y.data)[(size_t)r * x.w + c])
                    d.push_back({r, c});
    cs_image_free(&x);
    cs_image_free(&y);
    return d;
}

}  // namespace

/* The reference masks were made by an older labelme/Pillow; Pillow 13 (which
 * cuseg follows, and which reproduces these files the same way when run in
 * Python) differs at 9 pixels, all at polygon vertices: Pillow >= 10 joins
 * "discontiguous corners" of the scan-line fill. Every differing pixel is
 * listed here so that any other change fails. */
TEST(ConvertLabelme, ReproducesTheLabelmeExamples) {
    CUSEG_REQUIRE_SHARED();
    const std::string root = std::string(CUSEG_SHARED_DIR) + "/datasets/labelme_examples";
    const std::string out = fresh_dir("labelme", "examples");
    struct Set {
        std::string dir, labels;
        std::vector<std::string> names;
    };
    const std::vector<Set> sets = {
        {"semantic_segmentation", "labels.txt", {"2011_000003", "2011_000006", "2011_000025"}},
        {"video_annotation", "labels.txt", {"00000100", "00000101", "00000102", "00000103", "00000104"}},
        {"tutorial", "label_names.txt", {"apc2016_obj3"}},
    };
    const std::vector<std::pair<int, int>> tutorial_diff = {{711, 523}, {711, 524}, {711, 525}, {711, 526},
                                                            {711, 527}, {711, 528}, {711, 529}, {711, 530}};
    int total = 0;
    for (const auto &s : sets) {
        const CliResult r = run_cli("convert labelme " + root + "/" + s.dir + "/json -o " + out + "/" + s.dir + " --labels " +
                             root + "/" + s.dir + "/" + s.labels);
        ASSERT_EQ(r.rc, 0) << r.out;
        for (const auto &n : s.names) {
            const std::string ref = root + "/" + s.dir + "/labels/" + n + ".png";
            const auto d = diff(out + "/" + s.dir + "/" + n + ".png", ref);
            const auto dc = diff(out + "/" + s.dir + "/" + n + "_color.png", ref);
            EXPECT_EQ(d, dc) << n << ": the palette PNG holds the same indices";
            if (n == "2011_000006") EXPECT_EQ(d, (std::vector<std::pair<int, int>>{{290, 104}})) << n;
            else if (n == "apc2016_obj3") EXPECT_EQ(d, tutorial_diff) << n;
            else EXPECT_TRUE(d.empty()) << n << ": " << d.size() << " pixels differ";
            total += (int)d.size();
        }
    }
    EXPECT_EQ(total, 9);
}

TEST(ConvertLabelme, EveryShapeTypeMatchesPillow) {
    const std::string g = std::string(CUSEG_SOURCE_DIR) + "/tests/golden/labelme";
    const std::string out = fresh_dir("labelme", "shapes");
    const CliResult r = run_cli("convert labelme " + g + " -o " + out + " --labels " + g + "/labels.txt");
    ASSERT_EQ(r.rc, 0) << r.out;
    EXPECT_NE(r.out.find("6 converted, 0 failed"), std::string::npos) << r.out;
    for (int k = 0; k < 6; ++k) {
        const std::string n = "shapes_" + std::to_string(k) + ".png";
        EXPECT_EQ(diff(out + "/" + n, g + "/" + n).size(), 0u) << n;
    }
    /* One file at a time works too. */
    const CliResult one = run_cli("convert labelme " + g + "/shapes_2.json -o " + out + "/one --labels " + g + "/labels.txt");
    ASSERT_EQ(one.rc, 0) << one.out;
    EXPECT_EQ(diff(out + "/one/shapes_2.png", g + "/shapes_2.png").size(), 0u);
}

TEST(ConvertLabelme, ReportsBadFilesByName) {
    const std::string d = fresh_dir("labelme", "bad");
    std::ofstream(d + "/labels.txt") << "_background_\ncat\n";
    std::ofstream(d + "/unknown.json") << R"({"imageHeight": 4, "imageWidth": 5, "shapes": [)"
                                          R"({"label": "dog", "points": [[0,0],[3,0],[3,3]], "shape_type": "polygon"}]})";
    std::ofstream(d + "/broken.json") << "{\"imageHeight\": 4, ";
    std::ofstream(d + "/twopoints.json") << R"({"imageHeight": 4, "imageWidth": 5, "shapes": [)"
                                            R"({"label": "cat", "points": [[0,0],[3,0]], "shape_type": "polygon"}]})";
    std::ofstream(d + "/ok.json") << R"({"imageHeight": 4, "imageWidth": 5, "shapes": [)"
                                     R"({"label": "cat", "points": [[1,1],[3,2]], "shape_type": "rectangle"}]})";
    const CliResult r = run_cli("convert labelme " + d + " -o " + d + "/out --labels " + d + "/labels.txt");
    EXPECT_EQ(r.rc, 1);
    EXPECT_NE(r.out.find("unknown.json: shape 0 has label 'dog'"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("broken.json: not valid JSON"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("twopoints.json: shape 0 (polygon, 'cat'): a polygon needs more than 2 points"),
              std::string::npos)
        << r.out;
    EXPECT_NE(r.out.find("1 converted, 3 failed"), std::string::npos) << r.out;
    cs_image img;
    ASSERT_EQ(cs_image_read((d + "/out/ok.png").c_str(), CS_IMAGE_LABEL, &img), CUSEG_OK);
    const uint8_t *p = (const uint8_t *)img.data;
    const uint8_t want[4][5] = {{0, 0, 0, 0, 0}, {0, 1, 1, 1, 0}, {0, 1, 1, 1, 0}, {0, 0, 0, 0, 0}};
    for (int y = 0; y < 4; ++y)
        for (int x = 0; x < 5; ++x) EXPECT_EQ(p[y * 5 + x], want[y][x]) << y << "," << x;
    cs_image_free(&img);
    EXPECT_EQ(run_cli("convert labelme " + d + " -o " + d + "/out").rc, 2);
    EXPECT_EQ(run_cli("convert coco x -o y --labels z").rc, 2);
}
