// Embedding cuseg in C++: load a model (or build a zoo one), run a batch, read the logits.
#include <cstdio>
#include "cuseg.hpp"

int main(int argc, char **argv) try {
    cuseg::Model model = argc > 1 ? cuseg::Model::load(argv[1])
                                  : cuseg::Model::from(cuseg::Graph::build("unet_bn", "width=8"));
    cuseg::Context ctx("auto");                 // CUDA when usable, else the CPU
    cuseg::Session session(model, ctx);         // one per thread
    cuseg::Tensor image = cuseg::Tensor::create(CUSEG_F32, {1, 96, 128, 3});
    for (float &v : image.data<float>()) v = 0.5f;
    session.run(image);
    cuseg::Shape s = session.output().shape();  // logits, NHWC
    std::printf("%s: logits %dx%dx%dx%d\n", ctx.device().c_str(), s[0], s[1], s[2], s[3]);
    return 0;
} catch (const cuseg::Error &e) {
    std::fprintf(stderr, "cuseg error %d: %s\n", (int)e.status(), e.what());
    return 1;
}
