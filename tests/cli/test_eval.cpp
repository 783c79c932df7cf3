/* `cuseg eval` on the 101 CamVid val labels against perturbed copies (the
 * formula of tests/golden/make_eval_golden.py), compared with numpy: the
 * printed summary must be identical to the last digit, the JSON values equal
 * to 1e-15 relative (both accumulate integer counts exactly; only the final
 * divisions and means round). */
#include <dirent.h>
#include <sys/stat.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "op_harness.h"

extern "C" {
#include "io/image.h"
}

using namespace cstest;

namespace {

std::vector<std::string> sorted_pngs(const std::string &dir) {
    std::vector<std::string> names;
    DIR *d = opendir(dir.c_str());
    if (!d) return names;
    while (dirent *e = readdir(d)) {
        std::string n = e->d_name;
        if (n.size() > 4 && n.substr(n.size() - 4) == ".png") names.push_back(n);
    }
    closedir(d);
    std::sort(names.begin(), names.end());
    return names;
}

std::string run(const std::string &cmd) {
    const std::string out = testing::TempDir() + "/cli_out.txt";
    const int rc = std::system((cmd + " > " + out + " 2>&1").c_str());
    std::ifstream f(out);
    std::string text((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    return std::to_string(WEXITSTATUS(rc)) + "\n" + text;
}

double json_number(const std::string &json, const std::string &key) {
    const size_t at = json.find("\"" + key + "\":");
    EXPECT_NE(at, std::string::npos) << key;
    return std::stod(json.substr(at + key.size() + 3));
}

}  // namespace

TEST(CliEval, MatchesNumpyOnCamVidToTheLastPrintedDigit) {
    CUSEG_REQUIRE_SHARED();
    const std::string gt = std::string(CUSEG_SHARED_DIR) + "/datasets/camvid/val/labels";
    const std::string pred = testing::TempDir() + "/eval_pred";
    mkdir(pred.c_str(), 0755);
    const std::vector<std::string> names = sorted_pngs(gt);
    ASSERT_EQ(names.size(), 101u);
    for (size_t k = 0; k < names.size(); ++k) {
        cs_image g;
        ASSERT_EQ(cs_image_read((gt + "/" + names[k]).c_str(), CS_IMAGE_LABEL, &g), CUSEG_OK) << cuseg_last_error();
        std::vector<uint8_t> p((size_t)g.h * g.w);
        const uint8_t *gv = (const uint8_t *)g.data;
        for (int y = 0; y < g.h; ++y)
            for (int x = 0; x < g.w; ++x) {
                const int v = gv[(size_t)y * g.w + x];
                int q = (7 * x + 13 * y + 3 * (int)k) % 5 == 0 ? (v + 1 + (x + (int)k) % 3) % 11 : v;
                if (v == 11) q = (x + y) % 11;
                p[(size_t)y * g.w + x] = (uint8_t)q;
            }
        ASSERT_EQ(cs_png_write((pred + "/" + names[k]).c_str(), p.data(), g.h, g.w, 1, 8, nullptr), CUSEG_OK);
        cs_image_free(&g);
    }
    const std::string json = testing::TempDir() + "/eval.json";
    const std::string out = run(std::string(CUSEG_CLI) + " eval --pred " + pred + " --gt " + gt +
                                " --classes 11 --ignore 11 --json " + json);
    ASSERT_EQ(out.substr(0, 2), "0\n") << out;

    std::ifstream golden(std::string(CUSEG_SOURCE_DIR) + "/tests/golden/eval_camvid.txt");
    std::string line;
    std::ifstream jf(json);
    const std::string js((std::istreambuf_iterator<char>(jf)), std::istreambuf_iterator<char>());
    const std::map<std::string, std::string> keys = {{"pixel_accuracy", "pixel_accuracy"},
                                                     {"mean_accuracy", "mean_accuracy"},
                                                     {"mIoU", "miou"},
                                                     {"FW_IoU", "fw_iou"},
                                                     {"mean_Dice", "mean_dice"}};
    int printed = 0, full = 0;
    while (std::getline(golden, line)) {
        if (line.empty() || line[0] == '#' || line.rfind("class ", 0) == 0) continue;
        if (line.rfind("full ", 0) == 0) {
            std::istringstream in(line.substr(5));
            std::string name;
            double want;
            in >> name >> want;
            const double got = json_number(js, keys.at(name));
            EXPECT_NEAR(got, want, 1e-15 * std::fabs(want)) << name;
            ++full;
        } else {
            EXPECT_NE(out.find("\n" + line + "\n"), std::string::npos) << "missing line: " << line << "\n" << out;
            ++printed;
        }
    }
    EXPECT_EQ(printed, 5);
    EXPECT_EQ(full, 5);
}

TEST(CliEval, ReportsMismatchedAndMissingFilesByName) {
    CUSEG_REQUIRE_SHARED();
    const std::string gt = testing::TempDir() + "/eval_gt2", pred = testing::TempDir() + "/eval_pred2";
    mkdir(gt.c_str(), 0755);
    mkdir(pred.c_str(), 0755);
    std::vector<uint8_t> a(4 * 6, 1), b(5 * 6, 1);
    ASSERT_EQ(cs_png_write((gt + "/a.png").c_str(), a.data(), 4, 6, 1, 8, nullptr), CUSEG_OK);
    ASSERT_EQ(cs_png_write((gt + "/b.png").c_str(), a.data(), 4, 6, 1, 8, nullptr), CUSEG_OK);
    ASSERT_EQ(cs_png_write((gt + "/c.png").c_str(), a.data(), 4, 6, 1, 8, nullptr), CUSEG_OK);
    ASSERT_EQ(cs_png_write((pred + "/a.png").c_str(), a.data(), 4, 6, 1, 8, nullptr), CUSEG_OK);
    ASSERT_EQ(cs_png_write((pred + "/b.png").c_str(), b.data(), 5, 6, 1, 8, nullptr), CUSEG_OK);
    const std::string out = run(std::string(CUSEG_CLI) + " eval --pred " + pred + " --gt " + gt + " --classes 3");
    EXPECT_EQ(out.substr(0, 2), "1\n") << out;
    EXPECT_NE(out.find("b.png is 6x5 but"), std::string::npos) << out;
    EXPECT_NE(out.find("c.png: No such file"), std::string::npos) << out;
    EXPECT_NE(out.find("1 images, 24 labelled pixels, 2 failed"), std::string::npos) << out;
}
