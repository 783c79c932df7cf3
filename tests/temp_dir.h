/* Temporary directories for tests, removed when the test program exits. */
#ifndef CUSEG_TEST_TEMP_DIR_H
#define CUSEG_TEST_TEMP_DIR_H

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

namespace cstest {

struct TempDirs {
    std::vector<std::string> paths;
    ~TempDirs() {
        for (const auto &p : paths) std::filesystem::remove_all(p);
    }
};

/* A new empty directory /tmp/cuseg_test_<tag>_<pid>_XXXXXX ("" on failure). */
inline std::string temp_dir(const char *tag) {
    static TempDirs dirs;
    char buf[256];
    snprintf(buf, sizeof buf, "/tmp/cuseg_test_%s_%d_XXXXXX", tag, (int)getpid());
    const char *d = mkdtemp(buf);
    if (d) dirs.paths.push_back(d);
    return d ? d : "";
}

}  // namespace cstest

#endif
