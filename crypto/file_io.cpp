#include "crypto/file_io.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace custos {

namespace {
error io_error(const std::string& what, const std::filesystem::path& p, int err) {
    return make_error(errc::io, what + " " + p.string() + ": " + std::strerror(err));
}
}  // namespace

void fd_guard::reset(int f) noexcept {
    if (fd >= 0) ::close(fd);
    fd = f;
}

result<bytes> read_file(const std::filesystem::path& path, std::size_t max_size) {
    fd_guard g{::open(path.c_str(), O_RDONLY | O_CLOEXEC)};
    if (g.fd < 0) return io_error("cannot open", path, errno);
    struct stat st{};
    if (::fstat(g.fd, &st) != 0) return io_error("cannot stat", path, errno);
    if (!S_ISREG(st.st_mode)) return make_error(errc::io, path.string() + " is not a regular file");
    if (static_cast<std::size_t>(st.st_size) > max_size)
        return make_error(errc::io, path.string() + " is " + std::to_string(st.st_size) +
                                        " bytes, more than the limit of " + std::to_string(max_size));
    bytes out;
    out.reserve(static_cast<std::size_t>(st.st_size));
    std::uint8_t buf[65536];
    for (;;) {
        ssize_t n = ::read(g.fd, buf, sizeof buf);
        if (n < 0) {
            if (errno == EINTR) continue;
            return io_error("cannot read", path, errno);
        }
        if (n == 0) break;
        if (out.size() + static_cast<std::size_t>(n) > max_size)
            return make_error(errc::io, path.string() + " grew past the limit of " + std::to_string(max_size));
        out.insert(out.end(), buf, buf + n);
    }
    return out;
}

result<void> write_file_atomic(const std::filesystem::path& path, byte_view data, unsigned mode) {
    auto dir = path.has_parent_path() ? path.parent_path() : std::filesystem::path(".");
    std::string tmpl = (dir / ("." + path.filename().string() + ".tmp-XXXXXX")).string();
    int fd = ::mkstemp(tmpl.data());
    if (fd < 0) return io_error("cannot create a temporary file in", dir, errno);
    fd_guard g{fd};
    auto fail = [&](const char* what) {
        int e = errno;
        ::unlink(tmpl.c_str());
        return io_error(what, tmpl, e);
    };
    if (::fchmod(fd, mode) != 0) return fail("cannot chmod");
    std::size_t off = 0;
    while (off < data.size()) {
        ssize_t n = ::write(fd, data.data() + off, data.size() - off);
        if (n < 0) {
            if (errno == EINTR) continue;
            return fail("cannot write");
        }
        off += static_cast<std::size_t>(n);
    }
    if (::fsync(fd) != 0) return fail("cannot fsync");
    if (::rename(tmpl.c_str(), path.c_str()) != 0) return fail("cannot rename into place");
    fd_guard d{::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC)};
    if (d.fd >= 0) (void)::fsync(d.fd);
    return {};
}

}  // namespace custos
