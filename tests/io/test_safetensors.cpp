/* safetensors reader/writer: round trips, a file written by the reference
 * Python package, every rejection rule of models.md §7.9, writer atomicity. */
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "io/safetensors.h"
#include "op_harness.h"

namespace fs = std::filesystem;
using cstest::expect_error;

namespace {

std::string temp_path(const std::string &leaf) {
    const ::testing::TestInfo *info = ::testing::UnitTest::GetInstance()->current_test_info();
    return ::testing::TempDir() + "cuseg_st_" + info->test_suite_name() + "_" + info->name() + "_" + leaf;
}

std::string read_bytes(const std::string &path) {
    std::ifstream f(path, std::ios::binary);
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
}

void write_bytes(const std::string &path, const std::string &bytes) {
    std::ofstream f(path, std::ios::binary | std::ios::trunc);
    f.write(bytes.data(), (std::streamsize)bytes.size());
    ASSERT_TRUE(f.good()) << path;
}

std::string le64(uint64_t v) {
    std::string s(8, '\0');
    for (int i = 0; i < 8; ++i) s[i] = (char)(v >> (8 * i));
    return s;
}

/* length prefix + header + data */
std::string make_st(const std::string &header, const std::string &data) {
    return le64(header.size()) + header + data;
}

uint32_t float_bits(float f) {
    uint32_t u;
    std::memcpy(&u, &f, 4);
    return u;
}

/* Reference binary16 decoding via ldexp, independent of the bit tricks. */
double half_reference(uint16_t h) {
    int sign = h >> 15, exp = (h >> 10) & 31, mant = h & 1023;
    double v;
    if (exp == 31) v = mant ? NAN : INFINITY;
    else if (exp == 0) v = std::ldexp((double)mant, -24);
    else v = std::ldexp(1024.0 + mant, exp - 25);
    return sign ? -v : v;
}

/* Two tensors, a (F32 [2,3], 24 bytes) and b (F16 [4], 8 bytes), as the
 * writer lays them out; the bad-file tests edit this header. */
const char *const kGoodHeader =
    "{\"__metadata__\":{\"format\":\"pt\"},"
    "\"a\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]},"
    "\"b\":{\"dtype\":\"F16\",\"shape\":[4],\"data_offsets\":[24,32]}}";

struct GoodFile {
    std::string header;  // padded, as written
    std::string data;
    std::string bytes;
};

GoodFile write_good_file(const std::string &path) {
    static const float a[6] = {1, 2, 3, 4, 5, 6};
    static const uint16_t b[4] = {0x3C00, 0xC000, 0x7C00, 0x0001};
    cs_st_tensor_in t[2] = {
        {"a", CS_ST_F32, 2, {2, 3}, a},
        {"b", CS_ST_F16, 1, {4}, b},
    };
    const char *meta[] = {"format", "pt", nullptr};
    EXPECT_EQ(cs_safetensors_write(path.c_str(), t, 2, meta), CUSEG_OK) << cuseg_last_error();
    GoodFile g;
    g.bytes = read_bytes(path);
    uint64_t n = 0;
    for (int i = 7; i >= 0; --i) n = (n << 8) | (uint8_t)g.bytes[i];
    g.header = g.bytes.substr(8, n);
    g.data = g.bytes.substr(8 + n);
    return g;
}

/* The header with `from` replaced by `to` (which must occur once). */
std::string edit(std::string header, const std::string &from, const std::string &to) {
    size_t at = header.find(from);
    EXPECT_NE(at, std::string::npos) << from;
    EXPECT_EQ(header.find(from, at + 1), std::string::npos) << from;
    if (at != std::string::npos) header.replace(at, from.size(), to);
    return header;
}

/* Opens `bytes` saved to a temp file; expects the status and message parts. */
void expect_rejected(const std::string &bytes, cuseg_status expected,
                     const std::vector<std::string> &needles) {
    std::string path = temp_path("bad.safetensors");
    write_bytes(path, bytes);
    cs_safetensors *st = reinterpret_cast<cs_safetensors *>(0x1);
    cuseg_status s = cs_safetensors_open(path.c_str(), &st);
    EXPECT_EQ(st, nullptr);
    cs_safetensors_close(st);
    expect_error(s, expected, path);  // every message names the file
    for (const auto &n : needles)
        EXPECT_NE(std::string(cuseg_last_error()).find(n), std::string::npos)
            << "missing '" << n << "' in: " << cuseg_last_error();
}

/* The good file's bytes with its header replaced (data kept). */
std::string with_header(const GoodFile &g, const std::string &header) { return make_st(header, g.data); }

}  // namespace

// ----------------------------------------------------------------- round trip

TEST(SafetensorsRoundTrip, F32F16BF16WithMetadata) {
    std::string path = temp_path("rt.safetensors");
    const float f32[6] = {1.5f, -2.0f, 3.25f, 1e-38f, -INFINITY, 7.0f};
    // half: 1, -2, 65504, 2^-24 (subnormal), -0, inf
    const uint16_t f16[6] = {0x3C00, 0xC000, 0x7BFF, 0x0001, 0x8000, 0x7C00};
    // bf16: 1, -0.5, 2^-133 (subnormal), 3.140625
    const uint16_t bf16[4] = {0x3F80, 0xBF00, 0x0001, 0x4049};
    const int64_t i64[2] = {7, -3};
    const float scalar = 42.5f;
    cs_st_tensor_in t[] = {
        {"w.f32", CS_ST_F32, 3, {1, 2, 3}, f32},
        {"w.f16", CS_ST_F16, 2, {3, 2}, f16},
        {"w.bf16", CS_ST_BF16, 1, {4}, bf16},
        {"steps", CS_ST_I64, 1, {2}, i64},
        {"scalar", CS_ST_F32, 0, {}, &scalar},
        {"empty", CS_ST_F32, 2, {0, 5}, nullptr},
    };
    const char *meta[] = {"format", "pt", "note", "caf\xc3\xa9 \"quoted\"", nullptr};
    ASSERT_EQ(cs_safetensors_write(path.c_str(), t, 6, meta), CUSEG_OK) << cuseg_last_error();

    std::string bytes = read_bytes(path);
    uint64_t n = 0;
    for (int i = 7; i >= 0; --i) n = (n << 8) | (uint8_t)bytes[i];
    EXPECT_EQ(n % 8, 0u) << "header is padded so that the data starts 8-byte aligned";
    EXPECT_EQ(bytes.size(), 8 + n + 24 + 12 + 8 + 16 + 4);
    EXPECT_EQ(bytes[8], '{');

    cs_safetensors *st = nullptr;
    ASSERT_EQ(cs_safetensors_open(path.c_str(), &st), CUSEG_OK) << cuseg_last_error();
    ASSERT_EQ(cs_safetensors_count(st), 6);
    // Header order is the given order, data contiguous in that order.
    const uint64_t begins[6] = {0, 24, 36, 44, 60, 64};
    for (int i = 0; i < 6; ++i) {
        const cs_st_tensor *x = cs_safetensors_at(st, i);
        ASSERT_NE(x, nullptr);
        EXPECT_STREQ(x->name, t[i].name);
        EXPECT_EQ(x->dtype, t[i].dtype);
        ASSERT_EQ(x->ndim, t[i].ndim);
        uint64_t numel = 1;
        for (int d = 0; d < x->ndim; ++d) {
            EXPECT_EQ(x->shape[d], t[i].dims[d]);
            numel *= (uint64_t)t[i].dims[d];
        }
        EXPECT_EQ(x->numel, numel);
        EXPECT_EQ(x->begin, begins[i]);
        EXPECT_EQ(x->nbytes, numel * cs_st_dtype_size(t[i].dtype));
        EXPECT_EQ(x->end, x->begin + x->nbytes);
        if (x->nbytes) {
            EXPECT_EQ(std::memcmp(x->data, t[i].data, x->nbytes), 0) << x->name;
        }
        EXPECT_EQ(cs_safetensors_find(st, t[i].name), x);
    }
    EXPECT_EQ(cs_safetensors_at(st, 6), nullptr);
    EXPECT_EQ(cs_safetensors_at(st, -1), nullptr);
    EXPECT_EQ(cs_safetensors_find(st, "w"), nullptr);
    EXPECT_EQ(cs_safetensors_find(st, "w.f32 "), nullptr);

    float out[6];
    ASSERT_EQ(cs_safetensors_read_f32(st, "w.f32", out, 6), CUSEG_OK) << cuseg_last_error();
    for (int i = 0; i < 6; ++i) EXPECT_EQ(float_bits(out[i]), float_bits(f32[i])) << i;
    ASSERT_EQ(cs_safetensors_read_f32(st, "w.f16", out, 6), CUSEG_OK) << cuseg_last_error();
    const float f16_expected[6] = {1.0f, -2.0f, 65504.0f, std::ldexp(1.0f, -24), -0.0f, INFINITY};
    for (int i = 0; i < 6; ++i) EXPECT_EQ(float_bits(out[i]), float_bits(f16_expected[i])) << i;
    ASSERT_EQ(cs_safetensors_read_f32(st, "w.bf16", out, 4), CUSEG_OK) << cuseg_last_error();
    const float bf16_expected[4] = {1.0f, -0.5f, std::ldexp(1.0f, -133), 3.140625f};
    for (int i = 0; i < 4; ++i) EXPECT_EQ(float_bits(out[i]), float_bits(bf16_expected[i])) << i;
    ASSERT_EQ(cs_safetensors_read_f32(st, "scalar", out, 1), CUSEG_OK);
    EXPECT_EQ(out[0], 42.5f);
    EXPECT_EQ(cs_safetensors_read_f32(st, "empty", nullptr, 0), CUSEG_OK) << cuseg_last_error();

    EXPECT_STREQ(cs_safetensors_metadata(st, "format"), "pt");
    EXPECT_STREQ(cs_safetensors_metadata(st, "note"), "caf\xc3\xa9 \"quoted\"");
    EXPECT_EQ(cs_safetensors_metadata(st, "absent"), nullptr);
    ASSERT_EQ(cs_safetensors_metadata_count(st), 2);
    const char *k = nullptr, *v = nullptr;
    EXPECT_EQ(cs_safetensors_metadata_at(st, 1, &k, &v), 1);
    EXPECT_STREQ(k, "note");
    EXPECT_EQ(cs_safetensors_metadata_at(st, 2, &k, &v), 0);
    cs_safetensors_close(st);
}

TEST(SafetensorsRoundTrip, WriterHeaderIsCompactAndSpacePadded) {
    GoodFile g = write_good_file(temp_path("good.safetensors"));
    std::string expected = kGoodHeader;
    while (expected.size() % 8) expected += ' ';
    EXPECT_EQ(g.header, expected);
    EXPECT_EQ(g.data.size(), 32u);
}

TEST(SafetensorsRoundTrip, NoTensorsNoMetadata) {
    std::string path = temp_path("empty.safetensors");
    ASSERT_EQ(cs_safetensors_write(path.c_str(), nullptr, 0, nullptr), CUSEG_OK) << cuseg_last_error();
    EXPECT_EQ(read_bytes(path), make_st("{}      ", ""));
    cs_safetensors *st = nullptr;
    ASSERT_EQ(cs_safetensors_open(path.c_str(), &st), CUSEG_OK) << cuseg_last_error();
    EXPECT_EQ(cs_safetensors_count(st), 0);
    EXPECT_EQ(cs_safetensors_metadata_count(st), 0);
    cs_safetensors_close(st);
}

TEST(SafetensorsRoundTrip, EveryHalfBitPatternConverts) {
    std::vector<uint16_t> all(65536);
    for (size_t i = 0; i < all.size(); ++i) all[i] = (uint16_t)i;
    std::string path = temp_path("half.safetensors");
    cs_st_tensor_in t = {"h", CS_ST_F16, 1, {65536}, all.data()};
    ASSERT_EQ(cs_safetensors_write(path.c_str(), &t, 1, nullptr), CUSEG_OK) << cuseg_last_error();
    cs_safetensors *st = nullptr;
    ASSERT_EQ(cs_safetensors_open(path.c_str(), &st), CUSEG_OK) << cuseg_last_error();
    std::vector<float> out(65536);
    ASSERT_EQ(cs_safetensors_read_f32(st, "h", out.data(), out.size()), CUSEG_OK);
    cs_safetensors_close(st);
    int bad = 0;
    for (uint32_t h = 0; h < 65536 && bad < 10; ++h) {
        double ref = half_reference((uint16_t)h);
        if (std::isnan(ref)) {
            // NaN stays NaN, sign and payload kept (payload shifted into the top mantissa bits).
            bool ok = std::isnan(out[h]) && (float_bits(out[h]) >> 31) == (h >> 15) &&
                      ((float_bits(out[h]) >> 13) & 1023) == (h & 1023);
            if (!ok) ++bad;
            EXPECT_TRUE(ok) << std::hex << h;
        } else {
            // Every half is exact in float: equality, and the sign of zero too.
            bool ok = (double)out[h] == ref && std::signbit(out[h]) == std::signbit(ref);
            if (!ok) ++bad;
            EXPECT_TRUE(ok) << std::hex << h << " -> " << out[h] << " want " << ref;
        }
    }
}

// ----------------------------------------------------------------- reference file

TEST(SafetensorsGolden, ReadsFileWrittenByReferencePackage) {
    // tests/golden/make_safetensors_golden.py wrote both files with the
    // `safetensors` Python package (it orders tensors by dtype alignment).
    std::string dir = std::string(CUSEG_SOURCE_DIR) + "/tests/golden/";
    cs_safetensors *st = nullptr;
    ASSERT_EQ(cs_safetensors_open((dir + "st_small.safetensors").c_str(), &st), CUSEG_OK)
        << cuseg_last_error();
    EXPECT_EQ(cs_safetensors_count(st), 6);
    EXPECT_STREQ(cs_safetensors_metadata(st, "format"), "pt");
    EXPECT_STREQ(cs_safetensors_metadata(st, "source"), "cuseg golden \xc3\xa9");

    std::ifstream expected(dir + "st_small_expected.txt");
    ASSERT_TRUE(expected.good());
    std::string line;
    int lines = 0;
    while (std::getline(expected, line)) {
        std::istringstream in(line);
        std::string name, dtype;
        int ndim;
        in >> name >> dtype >> ndim;
        SCOPED_TRACE(name);
        const cs_st_tensor *t = cs_safetensors_find(st, name.c_str());
        ASSERT_NE(t, nullptr);
        EXPECT_STREQ(cs_st_dtype_name(t->dtype), dtype.c_str());
        ASSERT_EQ(t->ndim, ndim);
        for (int d = 0; d < ndim; ++d) {
            int64_t dim;
            in >> dim;
            EXPECT_EQ(t->shape[d], dim);
        }
        size_t count;
        in >> count;
        std::vector<float> want(count), got(count);
        for (auto &w : want) {
            std::string s;
            in >> s;
            w = std::strtof(s.c_str(), nullptr);  // %.9g text: exact float32 round trip
        }
        ASSERT_FALSE(in.fail());
        ASSERT_EQ(cs_safetensors_read_f32(st, name.c_str(), got.data(), count), CUSEG_OK)
            << cuseg_last_error();
        for (size_t i = 0; i < count; ++i) {
            if (std::isnan(want[i])) {
                EXPECT_TRUE(std::isnan(got[i])) << i;
                continue;
            }
            EXPECT_EQ(float_bits(got[i]), float_bits(want[i])) << i << ": " << got[i] << " vs " << want[i];
        }
        ++lines;
    }
    EXPECT_EQ(lines, 5);

    const cs_st_tensor *steps = cs_safetensors_find(st, "enc.bn.num_batches_tracked");
    ASSERT_NE(steps, nullptr);
    EXPECT_EQ(steps->dtype, CS_ST_I64);
    ASSERT_EQ(steps->nbytes, 16u);
    int64_t v[2];
    std::memcpy(v, steps->data, 16);
    EXPECT_EQ(v[0], 7);
    EXPECT_EQ(v[1], -3);
    cs_safetensors_close(st);
}

// ----------------------------------------------------------------- read_f32 errors

TEST(SafetensorsReadF32, ErrorsNameTheTensor) {
    std::string path = temp_path("x.safetensors");
    const int64_t i64[2] = {1, 2};
    const float f[6] = {};
    cs_st_tensor_in t[] = {{"w", CS_ST_F32, 2, {2, 3}, f}, {"n", CS_ST_I64, 1, {2}, i64}};
    ASSERT_EQ(cs_safetensors_write(path.c_str(), t, 2, nullptr), CUSEG_OK);
    cs_safetensors *st = nullptr;
    ASSERT_EQ(cs_safetensors_open(path.c_str(), &st), CUSEG_OK);
    float out[8];
    expect_error(cs_safetensors_read_f32(st, "missing.weight", out, 6), CUSEG_ERR_NOT_FOUND,
                 "no tensor 'missing.weight'");
    expect_error(cs_safetensors_read_f32(st, "w", out, 8), CUSEG_ERR_SHAPE,
                 "tensor 'w' has 6 elements, the caller expects 8");
    expect_error(cs_safetensors_read_f32(st, "n", out, 2), CUSEG_ERR_UNSUPPORTED, "tensor 'n' has dtype I64");
    cs_safetensors_close(st);
}

// ----------------------------------------------------------------- rejected files

TEST(SafetensorsBadFile, MissingFileIsIoError) {
    std::string path = temp_path("does_not_exist.safetensors");
    cs_safetensors *st = nullptr;
    expect_error(cs_safetensors_open(path.c_str(), &st), CUSEG_ERR_IO, path + ": cannot open: No such file");
    EXPECT_EQ(st, nullptr);
}

TEST(SafetensorsBadFile, GoodFileOpens) {
    // The base of every edit below is valid, and so is the hand-made header.
    GoodFile g = write_good_file(temp_path("good.safetensors"));
    std::string path = temp_path("hand.safetensors");
    write_bytes(path, with_header(g, kGoodHeader));
    cs_safetensors *st = nullptr;
    ASSERT_EQ(cs_safetensors_open(path.c_str(), &st), CUSEG_OK) << cuseg_last_error();
    cs_safetensors_close(st);
    // Tensor order in the header does not matter; offsets do.
    write_bytes(path, with_header(g, "{\"b\":{\"dtype\":\"F16\",\"shape\":[4],\"data_offsets\":[24,32]},"
                                     "\"a\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]}}"));
    ASSERT_EQ(cs_safetensors_open(path.c_str(), &st), CUSEG_OK) << cuseg_last_error();
    EXPECT_STREQ(cs_safetensors_at(st, 0)->name, "b");
    cs_safetensors_close(st);
}

TEST(SafetensorsBadFile, EmptyFile) {
    expect_rejected("", CUSEG_ERR_FORMAT, {"file is 0 bytes, shorter than the 8-byte header length"});
}

TEST(SafetensorsBadFile, TextFile) {
    // "hello, w" read as a little-endian u64 is far above the header cap.
    expect_rejected("hello, world: this is not a safetensors file\n", CUSEG_ERR_FORMAT,
                    {"exceeds the 100 MB cap"});
}

TEST(SafetensorsBadFile, TruncatedInsideLength) {
    GoodFile g = write_good_file(temp_path("good.safetensors"));
    for (size_t cut : {1, 4, 7})
        expect_rejected(g.bytes.substr(0, cut), CUSEG_ERR_FORMAT,
                        {"file is " + std::to_string(cut) + " bytes, shorter than the 8-byte header length"});
}

TEST(SafetensorsBadFile, TruncatedInsideHeader) {
    GoodFile g = write_good_file(temp_path("good.safetensors"));
    for (size_t cut : {(size_t)8, (size_t)9, (size_t)40, 8 + g.header.size() - 1})
        expect_rejected(g.bytes.substr(0, cut), CUSEG_ERR_FORMAT,
                        {"header length " + std::to_string(g.header.size()) + " is beyond the end of the " +
                         std::to_string(cut) + "-byte file"});
}

TEST(SafetensorsBadFile, TruncatedInsideData) {
    GoodFile g = write_good_file(temp_path("good.safetensors"));
    size_t base = 8 + g.header.size();
    expect_rejected(g.bytes.substr(0, base), CUSEG_ERR_FORMAT,
                    {"tensor 'a': data_offsets [0, 24] go beyond the data buffer of 0 bytes"});
    expect_rejected(g.bytes.substr(0, base + 10), CUSEG_ERR_FORMAT,
                    {"tensor 'a': data_offsets [0, 24] go beyond the data buffer of 10 bytes"});
    expect_rejected(g.bytes.substr(0, base + 31), CUSEG_ERR_FORMAT,
                    {"tensor 'b': data_offsets [24, 32] go beyond the data buffer of 31 bytes"});
}

TEST(SafetensorsBadFile, TrailingBytesAreAGap) {
    GoodFile g = write_good_file(temp_path("good.safetensors"));
    expect_rejected(g.bytes + "xyz", CUSEG_ERR_FORMAT,
                    {"gap in the data buffer: bytes [32, 35) at its end belong to no tensor"});
}

TEST(SafetensorsBadFile, HeaderLengthHugeOrZero) {
    GoodFile g = write_good_file(temp_path("good.safetensors"));
    std::string body = g.bytes.substr(8);
    expect_rejected(le64(1ull << 40) + body, CUSEG_ERR_FORMAT, {"header length 1099511627776 exceeds the 100 MB cap"});
    expect_rejected(le64(~0ull) + body, CUSEG_ERR_FORMAT, {"exceeds the 100 MB cap"});
    expect_rejected(le64(100000001) + body, CUSEG_ERR_FORMAT, {"exceeds the 100 MB cap"});
    expect_rejected(le64(0) + body, CUSEG_ERR_FORMAT, {"header length is 0"});
}

TEST(SafetensorsBadFile, HeaderLengthBeyondFile) {
    GoodFile g = write_good_file(temp_path("good.safetensors"));
    std::string body = g.bytes.substr(8);
    expect_rejected(le64(body.size() + 1) + body, CUSEG_ERR_FORMAT,
                    {"header length " + std::to_string(body.size() + 1) + " is beyond the end"});
}

TEST(SafetensorsBadFile, InvalidJson) {
    GoodFile g = write_good_file(temp_path("good.safetensors"));
    std::string h = kGoodHeader;
    expect_rejected(with_header(g, h.substr(0, h.size() - 1)), CUSEG_ERR_FORMAT, {"header is not valid JSON"});
    expect_rejected(with_header(g, h + " x"), CUSEG_ERR_FORMAT, {"header is not valid JSON"});
    expect_rejected(with_header(g, edit(h, "\"a\":", "a:")), CUSEG_ERR_FORMAT, {"header is not valid JSON"});
    expect_rejected(with_header(g, "[1,2]"), CUSEG_ERR_FORMAT, {"header does not start with '{'"});
    expect_rejected(with_header(g, "   " + h), CUSEG_ERR_FORMAT, {"header does not start with '{'"});
    // NUL, other control bytes and bad UTF-8 are not JSON text.
    expect_rejected(with_header(g, h + std::string(1, '\0')), CUSEG_ERR_FORMAT, {"bad byte 0x00"});
    expect_rejected(with_header(g, edit(h, "\"a\"", "\"a\x01\"")), CUSEG_ERR_FORMAT, {"bad byte 0x01"});
    expect_rejected(with_header(g, edit(h, "\"a\"", "\"a\xff\"")), CUSEG_ERR_FORMAT,
                    {"not valid UTF-8", "bad byte 0xff"});
    expect_rejected(with_header(g, edit(h, "\"a\"", "\"a\xc0\xaf\"")), CUSEG_ERR_FORMAT,  // overlong '/'
                    {"not valid UTF-8"});
}

TEST(SafetensorsBadFile, WrongDtype) {
    GoodFile g = write_good_file(temp_path("good.safetensors"));
    std::string h = kGoodHeader;
    expect_rejected(with_header(g, edit(h, "\"F32\"", "\"F33\"")), CUSEG_ERR_FORMAT,
                    {"tensor 'a': unknown dtype \"F33\""});
    expect_rejected(with_header(g, edit(h, "\"F32\"", "\"f32\"")), CUSEG_ERR_FORMAT,
                    {"tensor 'a': unknown dtype \"f32\""});
    // A newer sub-byte kind this reader does not know.
    expect_rejected(with_header(g, edit(h, "\"F16\"", "\"F4\"")), CUSEG_ERR_FORMAT,
                    {"tensor 'b': unknown dtype \"F4\""});
    expect_rejected(with_header(g, edit(h, "\"F32\"", "32")), CUSEG_ERR_FORMAT,
                    {"tensor 'a': \"dtype\" is not a string"});
}

TEST(SafetensorsBadFile, MissingOrMistypedFields) {
    GoodFile g = write_good_file(temp_path("good.safetensors"));
    std::string h = kGoodHeader;
    expect_rejected(with_header(g, edit(h, "\"dtype\":\"F16\",", "")), CUSEG_ERR_FORMAT,
                    {"tensor 'b': missing \"dtype\""});
    expect_rejected(with_header(g, edit(h, "\"shape\":[2,3],", "")), CUSEG_ERR_FORMAT,
                    {"tensor 'a': missing \"shape\""});
    expect_rejected(with_header(g, edit(h, ",\"data_offsets\":[24,32]", "")), CUSEG_ERR_FORMAT,
                    {"tensor 'b': missing \"data_offsets\""});
    expect_rejected(with_header(g, edit(h, "[2,3]", "\"2,3\"")), CUSEG_ERR_FORMAT,
                    {"tensor 'a': \"shape\" is not an array"});
    expect_rejected(with_header(g, edit(h, "[2,3]", "[2,\"3\"]")), CUSEG_ERR_FORMAT,
                    {"tensor 'a': shape[1] is not an integer in [0, 2^53]"});
    expect_rejected(with_header(g, edit(h, "[24,32]", "{\"begin\":24}")), CUSEG_ERR_FORMAT,
                    {"tensor 'b': \"data_offsets\" must be [begin, end]"});
    expect_rejected(with_header(g, edit(h, "[24,32]", "[24]")), CUSEG_ERR_FORMAT,
                    {"tensor 'b': \"data_offsets\" must be [begin, end]"});
    expect_rejected(with_header(g, edit(h, "[24,32]", "[24,32,40]")), CUSEG_ERR_FORMAT,
                    {"tensor 'b': \"data_offsets\" must be [begin, end]"});
    expect_rejected(with_header(g, edit(h, "[24,32]", "[24,\"32\"]")), CUSEG_ERR_FORMAT,
                    {"tensor 'b': \"data_offsets\" must be [begin, end]"});
    expect_rejected(with_header(g, edit(h, "[24,32]", "[32,24]")), CUSEG_ERR_FORMAT,
                    {"tensor 'b': \"data_offsets\" must be [begin, end] with 0 <= begin <= end <= 2^53"});
    expect_rejected(with_header(g, edit(h, "[24,32]", "[-8,32]")), CUSEG_ERR_FORMAT,
                    {"tensor 'b': \"data_offsets\" must be"});
    expect_rejected(with_header(g, edit(h, "{\"dtype\":\"F16\",\"shape\":[4],\"data_offsets\":[24,32]}", "[4]")),
                    CUSEG_ERR_FORMAT, {"tensor 'b': entry is not an object"});
}

TEST(SafetensorsBadFile, NegativeOrNonIntegerDims) {
    GoodFile g = write_good_file(temp_path("good.safetensors"));
    std::string h = kGoodHeader;
    expect_rejected(with_header(g, edit(h, "[2,3]", "[-2,3]")), CUSEG_ERR_FORMAT,
                    {"tensor 'a': shape[0] is not an integer in [0, 2^53]"});
    expect_rejected(with_header(g, edit(h, "[2,3]", "[2,2.5]")), CUSEG_ERR_FORMAT,
                    {"tensor 'a': shape[1] is not an integer in [0, 2^53]"});
    expect_rejected(with_header(g, edit(h, "[2,3]", "[2,1e300]")), CUSEG_ERR_FORMAT,
                    {"tensor 'a': shape[1] is not an integer in [0, 2^53]"});
}

TEST(SafetensorsBadFile, ShapeProductOverflow) {
    GoodFile g = write_good_file(temp_path("good.safetensors"));
    std::string h = kGoodHeader;
    expect_rejected(with_header(g, edit(h, "[2,3]", "[4294967296,4294967296,4294967296]")), CUSEG_ERR_FORMAT,
                    {"tensor 'a': shape product overflows"});
    // numel fits but numel * 4 bytes does not.
    expect_rejected(with_header(g, edit(h, "[2,3]", "[4294967296,4294967296]")), CUSEG_ERR_FORMAT,
                    {"tensor 'a': shape product overflows"});
}

TEST(SafetensorsBadFile, ShapeOffsetSizeMismatch) {
    GoodFile g = write_good_file(temp_path("good.safetensors"));
    std::string h = kGoodHeader;
    expect_rejected(with_header(g, edit(h, "[0,24]", "[0,20]")), CUSEG_ERR_FORMAT,
                    {"tensor 'a': shape [2,3] F32 needs 24 bytes, offsets give 20"});
    expect_rejected(with_header(g, edit(h, "\"F16\"", "\"F32\"")), CUSEG_ERR_FORMAT,
                    {"tensor 'b': shape [4] F32 needs 16 bytes, offsets give 8"});
    expect_rejected(with_header(g, edit(h, "[2,3]", "[]")), CUSEG_ERR_FORMAT,
                    {"tensor 'a': shape [] F32 needs 4 bytes, offsets give 24"});
    expect_rejected(with_header(g, edit(h, "[2,3]", "[2,0,3]")), CUSEG_ERR_FORMAT,
                    {"tensor 'a': shape [2,0,3] F32 needs 0 bytes, offsets give 24"});
}

TEST(SafetensorsBadFile, OverlappingOffsets) {
    GoodFile g = write_good_file(temp_path("good.safetensors"));
    std::string h = kGoodHeader;
    // b moved onto the last 8 bytes of a (the now-unused tail is checked later).
    expect_rejected(with_header(g, edit(h, "[24,32]", "[16,24]")), CUSEG_ERR_FORMAT,
                    {"tensor 'b': data_offsets [16, 24] overlap tensor 'a'"});
    // Same range twice.
    std::string both = edit(h, "\"shape\":[4],\"data_offsets\":[24,32]", "\"shape\":[12],\"data_offsets\":[0,24]");
    expect_rejected(with_header(g, both), CUSEG_ERR_FORMAT, {"overlap tensor '"});
    // An empty tensor inside another one's bytes also overlaps it.
    std::string inside = edit(h, "\"shape\":[4],\"data_offsets\":[24,32]", "\"shape\":[0],\"data_offsets\":[8,8]");
    expect_rejected(make_st(inside, g.data.substr(0, 24)), CUSEG_ERR_FORMAT,
                    {"tensor 'b': data_offsets [8, 8] overlap tensor 'a'"});
}

TEST(SafetensorsBadFile, GapBetweenTensors) {
    GoodFile g = write_good_file(temp_path("good.safetensors"));
    std::string h = kGoodHeader;
    expect_rejected(with_header(g, edit(h, "\"shape\":[4],\"data_offsets\":[24,32]",
                                        "\"shape\":[2],\"data_offsets\":[28,32]")),
                    CUSEG_ERR_FORMAT, {"gap in the data buffer: bytes [24, 28) before tensor 'b'"});
    expect_rejected(with_header(g, edit(h, "\"shape\":[4],\"data_offsets\":[24,32]",
                                        "\"shape\":[2],\"data_offsets\":[24,28]")),
                    CUSEG_ERR_FORMAT, {"gap in the data buffer: bytes [28, 32) at its end"});
    // Nothing may start after 0 either.
    expect_rejected(make_st("{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[1,2]}}", "xy"),
                    CUSEG_ERR_FORMAT, {"bytes [0, 1) before tensor 'a'"});
}

TEST(SafetensorsBadFile, OffsetsOutOfRange) {
    GoodFile g = write_good_file(temp_path("good.safetensors"));
    std::string h = kGoodHeader;
    expect_rejected(with_header(g, edit(h, "\"shape\":[4],\"data_offsets\":[24,32]",
                                        "\"shape\":[8],\"data_offsets\":[24,40]")),
                    CUSEG_ERR_FORMAT, {"tensor 'b': data_offsets [24, 40] go beyond the data buffer of 32 bytes"});
    expect_rejected(with_header(g, edit(h, "[24,32]", "[9007199254740000,9007199254740008]")), CUSEG_ERR_FORMAT,
                    {"tensor 'b': data_offsets [9007199254740000, 9007199254740008] go beyond"});
    expect_rejected(with_header(g, edit(h, "[24,32]", "[24,1e30]")), CUSEG_ERR_FORMAT,
                    {"tensor 'b': \"data_offsets\" must be"});
}

TEST(SafetensorsBadFile, DuplicateNames) {
    GoodFile g = write_good_file(temp_path("good.safetensors"));
    std::string h = kGoodHeader;
    expect_rejected(with_header(g, edit(h, "\"b\":{", "\"a\":{")), CUSEG_ERR_FORMAT,
                    {"tensor 'a' appears twice in the header"});
    expect_rejected(with_header(g, edit(h, "{\"__metadata__\":{\"format\":\"pt\"},",
                                        "{\"__metadata__\":{\"format\":\"pt\"},\"__metadata__\":{},")),
                    CUSEG_ERR_FORMAT, {"__metadata__ appears twice"});
    expect_rejected(with_header(g, edit(h, "{\"format\":\"pt\"}", "{\"format\":\"pt\",\"format\":\"tf\"}")),
                    CUSEG_ERR_FORMAT, {"__metadata__ key 'format' appears twice"});
}

TEST(SafetensorsBadFile, MetadataNotStrings) {
    GoodFile g = write_good_file(temp_path("good.safetensors"));
    std::string h = kGoodHeader;
    expect_rejected(with_header(g, edit(h, "\"format\":\"pt\"", "\"format\":1")), CUSEG_ERR_FORMAT,
                    {"__metadata__ value of 'format' is not a string"});
    expect_rejected(with_header(g, edit(h, "\"format\":\"pt\"", "\"format\":{\"x\":\"y\"}")), CUSEG_ERR_FORMAT,
                    {"__metadata__ value of 'format' is not a string"});
    expect_rejected(with_header(g, edit(h, "\"format\":\"pt\"", "\"format\":null")), CUSEG_ERR_FORMAT,
                    {"__metadata__ value of 'format' is not a string"});
    expect_rejected(with_header(g, edit(h, "{\"format\":\"pt\"}", "[\"pt\"]")), CUSEG_ERR_FORMAT,
                    {"__metadata__ must be an object of strings"});
}

// ----------------------------------------------------------------- writer

TEST(SafetensorsWriter, MissingDirectoryFailsAndLeavesNoTempFile) {
    fs::path dir = temp_path("no_such_dir");
    fs::remove_all(dir);
    std::string path = (dir / "out.safetensors").string();
    const float x[2] = {1, 2};
    cs_st_tensor_in t = {"x", CS_ST_F32, 1, {2}, x};
    expect_error(cs_safetensors_write(path.c_str(), &t, 1, nullptr), CUSEG_ERR_IO, "No such file or directory");
    EXPECT_NE(std::string(cuseg_last_error()).find(path), std::string::npos) << cuseg_last_error();
    EXPECT_FALSE(fs::exists(dir));
}

TEST(SafetensorsWriter, FailedRenameRemovesTempAndKeepsTarget) {
    // The target is a non-empty directory: the temp file is written, the
    // rename fails, and the temp file must be cleaned up.
    fs::path dir = temp_path("target_is_dir");
    fs::remove_all(dir);
    fs::create_directories(dir / "target");
    write_bytes((dir / "target" / "keep").string(), "keep");
    std::string path = (dir / "target").string();
    const float x[2] = {1, 2};
    cs_st_tensor_in t = {"x", CS_ST_F32, 1, {2}, x};
    expect_error(cs_safetensors_write(path.c_str(), &t, 1, nullptr), CUSEG_ERR_IO, "cannot rename");
    int entries = 0;
    for (const auto &e : fs::directory_iterator(dir)) {
        ++entries;
        EXPECT_EQ(e.path().filename(), "target");
    }
    EXPECT_EQ(entries, 1);
    EXPECT_EQ(read_bytes((dir / "target" / "keep").string()), "keep");
    fs::remove_all(dir);
}

TEST(SafetensorsWriter, OverwriteReplacesFileFully) {
    fs::path dir = temp_path("overwrite");
    fs::remove_all(dir);
    fs::create_directories(dir);
    std::string path = (dir / "w.safetensors").string();
    std::vector<float> big(1000, 3.0f);
    cs_st_tensor_in t1[] = {{"big", CS_ST_F32, 1, {1000}, big.data()}, {"extra", CS_ST_F32, 1, {1}, big.data()}};
    const char *meta1[] = {"version", "1", nullptr};
    ASSERT_EQ(cs_safetensors_write(path.c_str(), t1, 2, meta1), CUSEG_OK) << cuseg_last_error();
    const uint16_t small[3] = {0x3C00, 0x4000, 0x4200};
    cs_st_tensor_in t2 = {"small", CS_ST_BF16, 1, {3}, small};
    ASSERT_EQ(cs_safetensors_write(path.c_str(), &t2, 1, nullptr), CUSEG_OK) << cuseg_last_error();

    std::string bytes = read_bytes(path);
    uint64_t n = 0;
    for (int i = 7; i >= 0; --i) n = (n << 8) | (uint8_t)bytes[i];
    EXPECT_EQ(bytes.size(), 8 + n + 6) << "no bytes of the old file are left";
    cs_safetensors *st = nullptr;
    ASSERT_EQ(cs_safetensors_open(path.c_str(), &st), CUSEG_OK) << cuseg_last_error();
    EXPECT_EQ(cs_safetensors_count(st), 1);
    EXPECT_EQ(cs_safetensors_find(st, "big"), nullptr);
    EXPECT_EQ(cs_safetensors_metadata(st, "version"), nullptr);
    cs_safetensors_close(st);
    int entries = 0;
    for (const auto &e : fs::directory_iterator(dir)) {
        ++entries;
        EXPECT_EQ(e.path().filename(), "w.safetensors");
    }
    EXPECT_EQ(entries, 1) << "no temp file is left behind";
    fs::remove_all(dir);
}

TEST(SafetensorsWriter, RejectsBadArguments) {
    std::string path = temp_path("args.safetensors");
    std::remove(path.c_str());
    const float x[4] = {};
    cs_st_tensor_in dup[] = {{"x", CS_ST_F32, 1, {2}, x}, {"x", CS_ST_F32, 1, {2}, x}};
    expect_error(cs_safetensors_write(path.c_str(), dup, 2, nullptr), CUSEG_ERR_INVALID_ARGUMENT,
                 "tensor 'x' given twice");
    cs_st_tensor_in nd = {"x", CS_ST_F32, 9, {}, x};
    expect_error(cs_safetensors_write(path.c_str(), &nd, 1, nullptr), CUSEG_ERR_INVALID_ARGUMENT,
                 "tensor 'x': ndim 9 not in [0, 8]");
    cs_st_tensor_in neg = {"x", CS_ST_F32, 2, {2, -1}, x};
    expect_error(cs_safetensors_write(path.c_str(), &neg, 1, nullptr), CUSEG_ERR_INVALID_ARGUMENT,
                 "tensor 'x': dims[1] = -1 is invalid");
    cs_st_tensor_in bad_dtype = {"x", (cs_st_dtype)99, 1, {2}, x};
    expect_error(cs_safetensors_write(path.c_str(), &bad_dtype, 1, nullptr), CUSEG_ERR_INVALID_ARGUMENT,
                 "tensor 'x': invalid dtype 99");
    cs_st_tensor_in meta_name = {"__metadata__", CS_ST_F32, 1, {2}, x};
    expect_error(cs_safetensors_write(path.c_str(), &meta_name, 1, nullptr), CUSEG_ERR_INVALID_ARGUMENT,
                 "'__metadata__' is not a tensor name");
    cs_st_tensor_in no_data = {"x", CS_ST_F32, 1, {2}, nullptr};
    expect_error(cs_safetensors_write(path.c_str(), &no_data, 1, nullptr), CUSEG_ERR_INVALID_ARGUMENT,
                 "tensor 'x': data is NULL");
    cs_st_tensor_in ok = {"x", CS_ST_F32, 1, {2}, x};
    const char *odd[] = {"format", nullptr, nullptr};
    expect_error(cs_safetensors_write(path.c_str(), &ok, 1, odd), CUSEG_ERR_INVALID_ARGUMENT,
                 "metadata key 'format' has no value");
    const char *twice[] = {"k", "1", "k", "2", nullptr};
    expect_error(cs_safetensors_write(path.c_str(), &ok, 1, twice), CUSEG_ERR_INVALID_ARGUMENT,
                 "metadata key 'k' given twice");
    EXPECT_FALSE(fs::exists(path));
}
