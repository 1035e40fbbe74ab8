// Test plumbing over the OS: run a program without a shell and capture its output; a temporary directory.
#pragma once

#include <chrono>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

namespace custos::test {

struct process_result {
    // The exit status; 128 + N when killed by signal N; 127 when the program could not be started
    // (the reason is in err); -1 after a timeout.
    int exit_code = -1;
    std::string out;
    std::string err;
    bool timed_out = false;
};

// Runs argv[0] (looked up in PATH) with argv, without a shell. env adds to (or overrides) the current
// environment; stdin_text is written to the program's stdin (empty: stdin is /dev/null). After `timeout` the
// program's whole process group is killed and the result says so. Returns once the program has exited, even if
// something it started in the background still holds its stdout or stderr.
[[nodiscard]] process_result run_process(const std::vector<std::string>& argv,
                                         const std::vector<std::pair<std::string, std::string>>& env = {},
                                         std::chrono::seconds timeout = std::chrono::seconds(60),
                                         const std::string& stdin_text = {});

// The current environment with `env` added or overriding ("KEY=value" strings).
std::vector<std::string> merged_environment(const std::vector<std::pair<std::string, std::string>>& env);

// A fresh directory under $TMPDIR (or /tmp), removed with everything in it on destruction. Set
// CUSTOS_KEEP_TEST_DIRS=1 to keep it for a post-mortem.
class temp_dir {
public:
    explicit temp_dir(const std::string& prefix = "custos-test");
    ~temp_dir();
    temp_dir(temp_dir&& other) noexcept;
    temp_dir& operator=(temp_dir&& other) noexcept;
    temp_dir(const temp_dir&) = delete;
    temp_dir& operator=(const temp_dir&) = delete;

    // Absolute.
    [[nodiscard]] const std::filesystem::path& path() const { return path_; }

private:
    void remove() noexcept;
    std::filesystem::path path_;
};

}  // namespace custos::test
