/* Read access to a committed golden safetensors file in tests/golden/. */
#ifndef CUSEG_TEST_GOLDEN_FILE_H
#define CUSEG_TEST_GOLDEN_FILE_H

#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "cuseg.h"

extern "C" {
#include "io/safetensors.h"
}

namespace cstest {

class GoldenFile {
  public:
    /* `relative`: path below tests/golden/, e.g. "train/optim.safetensors". */
    explicit GoldenFile(const std::string &relative) {
        const std::string path = std::string(CUSEG_SOURCE_DIR) + "/tests/golden/" + relative;
        EXPECT_EQ(cs_safetensors_open(path.c_str(), &st_), CUSEG_OK) << cuseg_last_error();
    }
    ~GoldenFile() { cs_safetensors_close(st_); }
    GoldenFile(const GoldenFile &) = delete;
    GoldenFile &operator=(const GoldenFile &) = delete;

    const cs_st_tensor *tensor(const std::string &name) const {
        const cs_st_tensor *t = st_ ? cs_safetensors_find(st_, name.c_str()) : nullptr;
        EXPECT_NE(t, nullptr) << "golden tensor " << name;
        return t;
    }
    /* The raw elements as T (the caller knows the stored dtype). */
    template <typename T> std::vector<T> get(const std::string &name) const {
        const cs_st_tensor *t = tensor(name);
        std::vector<T> v(t ? t->numel : 0);
        if (t) std::memcpy(v.data(), t->data, v.size() * sizeof(T));
        return v;
    }
    const cs_safetensors *file() const { return st_; }

  private:
    cs_safetensors *st_ = nullptr;
};

}  // namespace cstest

#endif
