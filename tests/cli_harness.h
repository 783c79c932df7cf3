/* Helpers of the tests that run the real `cuseg` binary (CUSEG_CLI): a fresh
 * scratch directory per test and a command run with its output captured. */
#ifndef CUSEG_TEST_CLI_HARNESS_H
#define CUSEG_TEST_CLI_HARNESS_H

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <iterator>
#include <string>

namespace cstest {

/* An empty directory under the test temp dir, unique to this process. */
inline std::string fresh_dir(const std::string &prefix, const std::string &name) {
    const std::string d = testing::TempDir() + "/" + prefix + "_" + std::to_string(getpid()) + "_" + name;
    EXPECT_EQ(std::system(("rm -rf '" + d + "' && mkdir -p '" + d + "'").c_str()), 0) << d;
    return d;
}

struct CliResult {
    int rc;
    std::string out; /* stdout and stderr */
};

/* Runs `cuseg ARGS` (a shell command line) and returns its exit status and output. */
inline CliResult run_cli(const std::string &args) {
    const std::string log = testing::TempDir() + "/cuseg_cli_" + std::to_string(getpid()) + ".txt";
    const int rc = std::system((std::string(CUSEG_CLI) + " " + args + " > '" + log + "' 2>&1").c_str());
    std::ifstream f(log);
    return {WEXITSTATUS(rc), std::string((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>())};
}

}  // namespace cstest

#endif
