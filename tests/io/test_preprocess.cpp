/* Preprocessing from model metadata (models.md §0.7): torchvision's ImageNet
 * normalisation and Caffe's BGR mean subtraction, against float64. */
#include "op_harness.h"

extern "C" {
#include "io/preprocess.h"
}

using namespace cstest;

TEST(Preprocess, ImagenetAndCaffeConventions) {
    std::vector<uint8_t> img(5 * 7 * 3);
    for (size_t i = 0; i < img.size(); ++i) img[i] = (uint8_t)(i * 37 % 256);
    struct {
        const char *order, *scale, *mean, *std;
        bool bgr;
        double s, m[3], d[3];
    } cases[] = {
        {"RGB", "0.00392156862745098", "0.485,0.456,0.406", "0.229,0.224,0.225", false, 1 / 255.0,
         {0.485, 0.456, 0.406}, {0.229, 0.224, 0.225}},
        {"BGR", "1", "104.00699,116.66877,122.67892", "1,1,1", true, 1.0, {104.00699, 116.66877, 122.67892}, {1, 1, 1}},
    };
    for (const auto &k : cases) {
        cuseg_graph *g;
        ASSERT_EQ(cuseg_graph_create(&g), CUSEG_OK);
        ASSERT_EQ(cuseg_graph_set_meta(g, "channel_order", k.order), CUSEG_OK);
        ASSERT_EQ(cuseg_graph_set_meta(g, "input_scale", k.scale), CUSEG_OK);
        ASSERT_EQ(cuseg_graph_set_meta(g, "mean", k.mean), CUSEG_OK);
        ASSERT_EQ(cuseg_graph_set_meta(g, "std", k.std), CUSEG_OK);
        cs_preprocess p;
        ASSERT_EQ(cs_preprocess_from_graph(g, &p), CUSEG_OK) << cuseg_last_error();
        std::vector<float> out(img.size());
        cs_preprocess_image(&p, img.data(), 5, 7, 3, out.data());
        std::vector<double> ref(img.size());
        for (size_t i = 0; i < 35; ++i)
            for (int c = 0; c < 3; ++c) {
                const int from = k.bgr ? 2 - c : c;
                ref[i * 3 + c] = (img[i * 3 + from] * k.s - k.m[c]) / k.d[c];
            }
        /* One multiply-add with precomputed float factors: a few ulps of values up to ~255. */
        expect_close(out, ref, 1e-6);
        cuseg_graph_release(g);
    }
}

TEST(Preprocess, MalformedMetadataIsAnError) {
    cuseg_graph *g;
    ASSERT_EQ(cuseg_graph_create(&g), CUSEG_OK);
    cs_preprocess p;
    ASSERT_EQ(cuseg_graph_set_meta(g, "channel_order", "GBR"), CUSEG_OK);
    expect_error(cs_preprocess_from_graph(g, &p), CUSEG_ERR_FORMAT, "channel_order='GBR'");
    ASSERT_EQ(cuseg_graph_set_meta(g, "channel_order", "RGB"), CUSEG_OK);
    ASSERT_EQ(cuseg_graph_set_meta(g, "mean", "0.5,x"), CUSEG_OK);
    expect_error(cs_preprocess_from_graph(g, &p), CUSEG_ERR_FORMAT, "mean='0.5,x'");
    ASSERT_EQ(cuseg_graph_set_meta(g, "mean", "0.5"), CUSEG_OK);
    ASSERT_EQ(cuseg_graph_set_meta(g, "std", "0"), CUSEG_OK);
    expect_error(cs_preprocess_from_graph(g, &p), CUSEG_ERR_FORMAT, "std: channel 0 is zero");
    cuseg_graph_release(g);
}
