/* Weights files: strict name/shape/dtype checks with messages that name the
 * tensor, and nothing changed in the graph when a file is rejected. */
#include <cstdio>
#include <cstring>
#include <fstream>

#include "op_harness.h"

extern "C" {
#include "graph/graph.h"
#include "io/safetensors.h"
}

using namespace cstest;

namespace {

/* conv "c" (3 -> 4, 3x3, bias) then batch norm "bn". */
cuseg_graph *small_graph() {
    cuseg_graph *g = nullptr;
    EXPECT_EQ(cuseg_graph_create(&g), CUSEG_OK);
    int x, y, z;
    EXPECT_EQ(cuseg_graph_input(g, "x", 3, &x), CUSEG_OK);
    cuseg_conv2d_params p = {.out_channels = 4, .kernel_h = 3, .kernel_w = 3, .has_bias = 1};
    EXPECT_EQ(cuseg_graph_conv2d(g, "c", x, &p, &y), CUSEG_OK);
    EXPECT_EQ(cuseg_graph_batch_norm(g, "bn", y, 1e-5f, &z), CUSEG_OK);
    EXPECT_EQ(cuseg_graph_output(g, z), CUSEG_OK);
    return g;
}

struct T {
    std::string name;
    std::vector<int64_t> dims;
    std::vector<float> data;
    cs_st_dtype dtype = CS_ST_F32;
};

std::vector<T> good_tensors() {
    return {{"c.weight", {4, 3, 3, 3}, random_floats(108, 1)},
            {"c.bias", {4}, random_floats(4, 2)},
            {"bn.weight", {4}, random_floats(4, 3, 0.5f, 1.5f)},
            {"bn.bias", {4}, random_floats(4, 4)},
            {"bn.running_mean", {4}, random_floats(4, 5)},
            {"bn.running_var", {4}, random_floats(4, 6, 0.5f, 1.5f)}};
}

std::string write(const std::vector<T> &ts, const std::string &file, const char *const *meta = nullptr) {
    std::vector<cs_st_tensor_in> in;
    std::vector<std::vector<uint16_t>> halves;
    for (const T &t : ts) {
        cs_st_tensor_in x = {};
        x.name = t.name.c_str();
        x.dtype = t.dtype;
        x.ndim = (int)t.dims.size();
        for (size_t d = 0; d < t.dims.size(); ++d) x.dims[d] = t.dims[d];
        if (t.dtype == CS_ST_BF16) { /* truncate to bfloat16 */
            halves.emplace_back();
            for (float f : t.data) {
                uint32_t u;
                std::memcpy(&u, &f, 4);
                halves.back().push_back((uint16_t)(u >> 16));
            }
            x.data = halves.back().data();
        } else {
            x.data = t.data.data();
        }
        in.push_back(x);
    }
    const std::string path = testing::TempDir() + "/" + file;
    EXPECT_EQ(cs_safetensors_write(path.c_str(), in.data(), (int)in.size(), meta), CUSEG_OK)
        << cuseg_last_error();
    return path;
}

std::vector<float> param(const cuseg_graph *g, int i) {
    const char *name;
    int dims[4], nd;
    EXPECT_EQ(cuseg_graph_param_info(g, i, &name, dims, &nd), CUSEG_OK);
    (void)name;
    size_t n = 1;
    for (int d = 0; d < nd; ++d) n *= dims[d];
    const cs_param *q = &g->params[i];
    return std::vector<float>(q->data, q->data + n);
}

}  // namespace

TEST(ModelFile, LoadsWeightsByNameAndIgnoresBatchCounters) {
    cuseg_graph *g = small_graph();
    auto ts = good_tensors();
    ts.push_back({"bn.num_batches_tracked", {}, {0.0f}}); /* PyTorch writes it; it is skipped */
    const std::string path = write(ts, "good.safetensors");
    ASSERT_EQ(cuseg_graph_load_weights(g, path.c_str()), CUSEG_OK) << cuseg_last_error();
    for (int i = 0; i < 6; ++i) EXPECT_EQ(param(g, i), ts[i].data) << ts[i].name;
    cuseg_graph_release(g);
}

TEST(ModelFile, Bf16WeightsAreWidened) {
    cuseg_graph *g = small_graph();
    auto ts = good_tensors();
    ts[0].dtype = CS_ST_BF16;
    const std::string path = write(ts, "bf16.safetensors");
    ASSERT_EQ(cuseg_graph_load_weights(g, path.c_str()), CUSEG_OK) << cuseg_last_error();
    auto w = param(g, 0);
    for (size_t i = 0; i < w.size(); ++i) {
        uint32_t u;
        std::memcpy(&u, &ts[0].data[i], 4);
        u &= 0xffff0000u; /* what a bf16 store keeps */
        float want;
        std::memcpy(&want, &u, 4);
        EXPECT_EQ(w[i], want);
    }
    cuseg_graph_release(g);
}

TEST(ModelFile, RejectsMissingExtraAndMisshapenTensorsWithoutChangingTheGraph) {
    cuseg_graph *g = small_graph();
    const auto before = param(g, 0);

    auto missing = good_tensors();
    missing.erase(missing.begin() + 3);
    std::string path = write(missing, "missing.safetensors");
    expect_error(cuseg_graph_load_weights(g, path.c_str()), CUSEG_ERR_NOT_FOUND,
                 "tensor 'bn.bias' is missing");

    auto shape = good_tensors();
    shape[0].dims = {4, 3, 9};
    path = write(shape, "shape.safetensors");
    expect_error(cuseg_graph_load_weights(g, path.c_str()), CUSEG_ERR_SHAPE,
                 "tensor 'c.weight' has shape [4,3,9], the model needs [4,3,3,3]");

    auto extra = good_tensors();
    extra.push_back({"head.weight", {2}, {1.0f, 2.0f}});
    path = write(extra, "extra.safetensors");
    expect_error(cuseg_graph_load_weights(g, path.c_str()), CUSEG_ERR_FORMAT,
                 "tensor 'head.weight' is not a parameter of this model");

    EXPECT_EQ(param(g, 0), before); /* nothing was half-loaded */
    cuseg_graph_release(g);
}

TEST(ModelFile, CorruptFilesAreFormatErrorsNamingTheFile) {
    cuseg_graph *g = small_graph();
    const std::string good = write(good_tensors(), "base.safetensors");
    std::ifstream f(good, std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    auto save = [](const std::string &name, const std::string &content) {
        const std::string p = testing::TempDir() + "/" + name;
        std::ofstream(p, std::ios::binary) << content;
        return p;
    };
    /* Truncated in the data. */
    std::string p = save("trunc.safetensors", bytes.substr(0, bytes.size() - 10));
    EXPECT_EQ(cuseg_graph_load_weights(g, p.c_str()), CUSEG_ERR_FORMAT);
    EXPECT_NE(std::string(cuseg_last_error()).find("trunc.safetensors"), std::string::npos) << cuseg_last_error();
    /* Header length far beyond the file. */
    std::string big = bytes;
    const uint64_t huge = 1ull << 40;
    std::memcpy(&big[0], &huge, 8);
    p = save("huge.safetensors", big);
    EXPECT_EQ(cuseg_graph_load_weights(g, p.c_str()), CUSEG_ERR_FORMAT) << cuseg_last_error();
    /* Overlapping offsets: make c.bias start inside c.weight. */
    std::string overlap = bytes;
    const std::string from = "\"c.bias\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[432,448]}";
    const size_t at = overlap.find(from);
    ASSERT_NE(at, std::string::npos) << overlap.substr(8, 300);
    overlap.replace(at, from.size(), "\"c.bias\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[416,432]}");
    p = save("overlap.safetensors", overlap);
    EXPECT_EQ(cuseg_graph_load_weights(g, p.c_str()), CUSEG_ERR_FORMAT);
    EXPECT_NE(std::string(cuseg_last_error()).find("c.bias"), std::string::npos) << cuseg_last_error();
    /* Missing file. */
    expect_error(cuseg_graph_load_weights(g, (testing::TempDir() + "/nope.safetensors").c_str()),
                 CUSEG_ERR_IO, "nope.safetensors");
    cuseg_graph_release(g);
}

TEST(ModelFile, ModelLoadNeedsArchMetadataAndAKnownArch) {
    const std::string plain = write(good_tensors(), "plain.safetensors");
    cuseg_model *m = nullptr;
    expect_error(cuseg_model_load(plain.c_str(), &m), CUSEG_ERR_FORMAT, "no \"arch\" in __metadata__");
    const char *meta[] = {"arch", "no_such_net", "options", "", nullptr};
    const std::string unknown = write(good_tensors(), "unknown.safetensors", meta);
    expect_error(cuseg_model_load(unknown.c_str(), &m), CUSEG_ERR_NOT_FOUND,
                 "unknown architecture 'no_such_net'");
    EXPECT_EQ(m, nullptr);
}
