/* Image decoding against Pillow (tests/golden/image_digests.txt), PNG
 * writing round trips, and bad files: each is reported by name, nothing
 * crashes, nothing is left half-written. */
#include <gtest/gtest.h>
#include <zlib.h>

#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "op_harness.h"

extern "C" {
#include "io/image.h"
}

using namespace cstest;

namespace {

std::string slurp(const std::string &path) {
    std::ifstream f(path, std::ios::binary);
    return std::string((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}

std::string temp_file(const std::string &name, const std::string &content) {
    const std::string p = testing::TempDir() + "/" + name;
    std::ofstream(p, std::ios::binary) << content;
    return p;
}

const std::string kShared = std::string(CUSEG_SHARED_DIR) + "/datasets/";
const std::string kOwn = std::string(CUSEG_SOURCE_DIR) + "/tests/golden/images/";

}  // namespace

TEST(ImageRead, MatchesPillowOnRealAndSyntheticFiles) {
    CUSEG_REQUIRE_SHARED();
    std::ifstream digests(std::string(CUSEG_SOURCE_DIR) + "/tests/golden/image_digests.txt");
    ASSERT_TRUE(digests.good());
    std::string line;
    int checked = 0;
    while (std::getline(digests, line)) {
        if (line.empty() || line[0] == '#') continue;
        std::istringstream in(line);
        std::string where, rel, mode, crc_hex;
        int h, w, c, bytes;
        in >> where >> rel >> mode >> h >> w >> c >> bytes >> crc_hex;
        SCOPED_TRACE(rel + " " + mode);
        const std::string path = (where == "shared" ? kShared : kOwn) + rel;
        const cs_image_mode m = mode == "RGB" ? CS_IMAGE_RGB : mode == "GRAY" ? CS_IMAGE_GRAY : CS_IMAGE_LABEL;
        cs_image img;
        ASSERT_EQ(cs_image_read(path.c_str(), m, &img), CUSEG_OK) << cuseg_last_error();
        EXPECT_EQ(img.h, h);
        EXPECT_EQ(img.w, w);
        EXPECT_EQ(img.c, c);
        EXPECT_EQ(img.bit_depth, 8 * bytes);
        const size_t n = (size_t)h * w * c * bytes;
        EXPECT_EQ(crc32(0, (const Bytef *)img.data, (uInt)n), std::stoul(crc_hex, nullptr, 16));
        cs_image_free(&img);
        ++checked;
    }
    EXPECT_EQ(checked, 17);
}

TEST(ImageWrite, PngRoundTripsEveryLayout) {
    const int h = 7, w = 13;
    for (int c : {1, 3, 4})
        for (int depth : {8, 16}) {
            SCOPED_TRACE(testing::Message() << c << " channels, " << depth << " bit");
            std::vector<uint16_t> v16((size_t)h * w * c);
            std::vector<uint8_t> v8(v16.size());
            std::mt19937 rng(c * 100 + depth);
            for (size_t i = 0; i < v16.size(); ++i) {
                v16[i] = (uint16_t)rng();
                v8[i] = (uint8_t)rng();
            }
            const void *data = depth == 8 ? (const void *)v8.data() : (const void *)v16.data();
            const std::string path = testing::TempDir() + "/rt.png";
            ASSERT_EQ(cs_png_write(path.c_str(), data, h, w, c, depth, nullptr), CUSEG_OK) << cuseg_last_error();
            if (c == 1) { /* single channel: LABEL mode returns the stored samples */
                cs_image img;
                ASSERT_EQ(cs_image_read(path.c_str(), CS_IMAGE_LABEL, &img), CUSEG_OK) << cuseg_last_error();
                ASSERT_EQ(img.bit_depth, depth);
                EXPECT_EQ(std::memcmp(img.data, data, v8.size() * (depth / 8)), 0);
                cs_image_free(&img);
            } else if (depth == 8) { /* colour: RGB mode returns the first three channels */
                cs_image img;
                ASSERT_EQ(cs_image_read(path.c_str(), CS_IMAGE_RGB, &img), CUSEG_OK) << cuseg_last_error();
                const uint8_t *p = (const uint8_t *)img.data;
                for (int i = 0; i < h * w; ++i)
                    for (int k = 0; k < 3; ++k) ASSERT_EQ(p[i * 3 + k], v8[(size_t)i * c + k]);
                cs_image_free(&img);
            }
        }
}

TEST(ImageWrite, PalettePngKeepsIndicesAndColours) {
    const int h = 5, w = 9;
    std::vector<uint8_t> idx((size_t)h * w), palette(768);
    for (size_t i = 0; i < idx.size(); ++i) idx[i] = (uint8_t)(i * 37 % 256);
    for (int i = 0; i < 768; ++i) palette[i] = (uint8_t)(i * 7 + 3);
    const std::string path = testing::TempDir() + "/pal.png";
    ASSERT_EQ(cs_png_write(path.c_str(), idx.data(), h, w, 1, 8, palette.data()), CUSEG_OK);
    cs_image lab, rgb;
    ASSERT_EQ(cs_image_read(path.c_str(), CS_IMAGE_LABEL, &lab), CUSEG_OK);
    EXPECT_EQ(std::memcmp(lab.data, idx.data(), idx.size()), 0);
    ASSERT_EQ(cs_image_read(path.c_str(), CS_IMAGE_RGB, &rgb), CUSEG_OK);
    const uint8_t *p = (const uint8_t *)rgb.data;
    for (size_t i = 0; i < idx.size(); ++i)
        for (int k = 0; k < 3; ++k) ASSERT_EQ(p[3 * i + k], palette[3 * idx[i] + k]);
    cs_image_free(&lab);
    cs_image_free(&rgb);
}

TEST(ImageRead, BadFilesAreReportedByNameAndNeverCrash) {
    CUSEG_REQUIRE_SHARED();
    const std::string png = slurp(kShared + "camvid/train/images/0001TP_006690.png");
    const std::string jpg = slurp(kShared + "labelme_examples/semantic_segmentation/json/2011_000003.jpg");
    ASSERT_GT(png.size(), 1000u);
    ASSERT_GT(jpg.size(), 1000u);
    struct Bad {
        std::string name, content, needle;
    } cases[] = {
        {"empty.png", "", "empty file"},
        {"text.png", "this is not an image\n", "not a PNG or JPEG file"},
        {"sig_only.png", png.substr(0, 8), "corrupt or truncated PNG"},
        {"header_cut.png", png.substr(0, 30), "corrupt or truncated PNG"},
        {"half.png", png.substr(0, png.size() / 2), "corrupt or truncated PNG"},
        {"no_end.png", png.substr(0, png.size() - 12), "corrupt or truncated PNG"},
        {"half.jpg", jpg.substr(0, jpg.size() / 2), "corrupt or truncated JPEG"},
        {"soi_only.jpg", jpg.substr(0, 4), "corrupt JPEG"},
    };
    for (const Bad &b : cases) {
        SCOPED_TRACE(b.name);
        const std::string path = temp_file(b.name, b.content);
        cs_image img;
        expect_error(cs_image_read(path.c_str(), CS_IMAGE_RGB, &img), CUSEG_ERR_FORMAT, b.needle);
        EXPECT_NE(std::string(cuseg_last_error()).find(b.name), std::string::npos) << cuseg_last_error();
        EXPECT_EQ(img.data, nullptr);
    }
    /* A JPEG whose frame header (SOF0) is damaged: zero the image height. */
    std::string broken = jpg;
    const size_t sof = broken.find("\xff\xc0");
    ASSERT_NE(sof, std::string::npos);
    broken[sof + 5] = 0;
    broken[sof + 6] = 0;
    cs_image img;
    expect_error(cs_image_read(temp_file("sof.jpg", broken).c_str(), CS_IMAGE_RGB, &img), CUSEG_ERR_FORMAT,
                 "corrupt JPEG");
    /* A CRC error inside the PNG image data. */
    std::string crc = png;
    crc[png.find("IDAT") + 100] ^= 0x55;
    expect_error(cs_image_read(temp_file("crc.png", crc).c_str(), CS_IMAGE_RGB, &img), CUSEG_ERR_FORMAT,
                 "crc.png");
    expect_error(cs_image_read((testing::TempDir() + "/missing.png").c_str(), CS_IMAGE_RGB, &img),
                 CUSEG_ERR_IO, "missing.png");
    /* Labels must be single-channel PNGs. */
    expect_error(cs_image_read((kShared + "camvid/train/images/0001TP_006690.png").c_str(), CS_IMAGE_LABEL, &img),
                 CUSEG_ERR_FORMAT, "a label PNG must be gray or palette");
    expect_error(cs_image_read((kShared + "labelme_examples/semantic_segmentation/json/2011_000003.jpg").c_str(),
                               CS_IMAGE_LABEL, &img),
                 CUSEG_ERR_FORMAT, "labels must be PNG");
}

TEST(ImageWrite, IsAtomic) {
    std::vector<uint8_t> px(6 * 4, 9);
    const std::string dir = testing::TempDir() + "/no/such/dir/out.png";
    expect_error(cs_png_write(dir.c_str(), px.data(), 6, 4, 1, 8, nullptr), CUSEG_ERR_IO, "out.png");
    /* Overwriting replaces the file whole; no temporary is left behind. */
    const std::string path = testing::TempDir() + "/atomic.png";
    std::vector<uint8_t> big(64 * 64, 1);
    ASSERT_EQ(cs_png_write(path.c_str(), big.data(), 64, 64, 1, 8, nullptr), CUSEG_OK);
    ASSERT_EQ(cs_png_write(path.c_str(), px.data(), 6, 4, 1, 8, nullptr), CUSEG_OK);
    cs_image img;
    ASSERT_EQ(cs_image_read(path.c_str(), CS_IMAGE_LABEL, &img), CUSEG_OK);
    EXPECT_EQ(img.h, 6);
    EXPECT_EQ(img.w, 4);
    cs_image_free(&img);
    EXPECT_FALSE(std::ifstream(path + ".tmp." + std::to_string(getpid())).good());
}
