// sealed_model: a sealed directory opened with the data key the verifier gets from key.sealed, each file
// decrypted into a sealed memfd; wrong keys, wrong models and altered chunks refused, naming the check.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>
#include <map>
#include <random>
#include <sstream>

#include "crypto/file_io.hpp"
#include "tests/support/files.hpp"
#include "weights/sealed.hpp"
#include "weights/sealed_open.hpp"

#ifndef F_SEAL_FUTURE_WRITE
#define F_SEAL_FUTURE_WRITE 0x0010
#endif

namespace custos::weights {
namespace {

namespace fs = std::filesystem;
constexpr std::uint64_t cs = 64u << 10;

constexpr auto slurp = &custos::test::read_text;
constexpr auto spit = &custos::test::write_text;
using custos::test::random_bytes;

using custos::test::fd_content;

class SealedOpen : public ::testing::Test {
protected:
    void SetUp() override {
        std::string t = (fs::temp_directory_path() / "custos-sopen-XXXXXX").string();
        dir_ = ::mkdtemp(t.data());
        auto k = generate_recipient_key();
        ASSERT_TRUE(k.ok());
        key_ = std::move(*k);
        // Three full chunks (so chunks can be swapped), a chunk and a bit, an empty file, a short one.
        files_["a.bin"] = random_bytes(3 * cs, 1);
        files_["sub/b.bin"] = random_bytes(cs + 7, 2);
        files_["sub/empty"] = "";
        files_["sub/c.txt"] = "hello";
        for (const auto& [rel, data] : files_) spit(dir_ / "model" / rel, data);
        auto m = seal_model(dir_ / "model", id_, key_.pub, sealed(), {cs, 2});
        ASSERT_TRUE(m.ok()) << m.err().message;
        root_ = m->model_root;
        // The data key as the verifier gets it: key.sealed opened with the recipient's private key.
        auto k2 = read_sealed_key(sealed(), key_);
        ASSERT_TRUE(k2.ok()) << k2.err().message;
        ASSERT_EQ(k2->model_id, id_);
        ASSERT_EQ(k2->model_root, root_);
        ASSERT_EQ(k2->dek.size(), 32u);
        dek_ = std::move(k2->dek);
    }
    void TearDown() override {
        std::error_code ec;
        fs::remove_all(dir_, ec);
    }
    fs::path sealed() const { return dir_ / "sealed"; }
    result<sealed_model> open() const { return sealed_model::open(sealed(), dek_, id_, root_); }
    static void flip(const fs::path& p, std::uint64_t off) {
        std::string s = slurp(p);
        ASSERT_LT(off, s.size());
        s[off] = static_cast<char>(s[off] ^ 0x01);
        spit(p, s);
    }

    fs::path dir_;
    recipient_private_key key_;
    std::string id_ = "org/model@1";
    digest root_{};
    secret_bytes dek_;
    std::map<std::string, std::string> files_;
};

TEST_F(SealedOpen, EveryFileDecryptsToASealedMemfd) {
    auto m = open();
    ASSERT_TRUE(m.ok()) << m.err().message;
    EXPECT_EQ(m->index().model_id, id_);
    ASSERT_EQ(m->index().files.size(), files_.size());
    for (const auto& [rel, data] : files_) {
        SCOPED_TRACE(rel);
        ASSERT_NE(m->find(rel), nullptr);
        auto fd = decrypt_to_sealed_memfd(*m, rel, 2);
        ASSERT_TRUE(fd.ok()) << fd.err().message;
        EXPECT_EQ(fd_content((*fd)->fd), data);
        EXPECT_EQ(::lseek((*fd)->fd, 0, SEEK_CUR), 0);
        EXPECT_NE(::fcntl((*fd)->fd, F_GETFD) & FD_CLOEXEC, 0);
    }
}

TEST_F(SealedOpen, MemfdIsSealedAgainstChange) {
    auto m = open();
    ASSERT_TRUE(m.ok()) << m.err().message;
    auto r = decrypt_to_sealed_memfd(*m, "sub/b.bin", 1);
    ASSERT_TRUE(r.ok()) << r.err().message;
    const int fd = (*r)->fd;
    const int seals = ::fcntl(fd, F_GET_SEALS);
    ASSERT_GE(seals, 0);
    for (int s : {F_SEAL_SHRINK, F_SEAL_GROW, F_SEAL_WRITE, F_SEAL_SEAL}) EXPECT_NE(seals & s, 0) << s;
    errno = 0;
    EXPECT_EQ(::write(fd, "x", 1), -1);
    EXPECT_EQ(errno, EPERM);
    errno = 0;
    EXPECT_EQ(::pwrite(fd, "x", 1, 0), -1);
    EXPECT_EQ(errno, EPERM);
    EXPECT_NE(::ftruncate(fd, 0), 0);
    EXPECT_NE(::ftruncate(fd, static_cast<off_t>(10 * cs)), 0);
    EXPECT_EQ(::mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0), MAP_FAILED);
    EXPECT_NE(::fcntl(fd, F_ADD_SEALS, F_SEAL_FUTURE_WRITE), 0);  // F_SEAL_SEAL: the set is final
    EXPECT_EQ(fd_content(fd), files_["sub/b.bin"]);       // and the content is unchanged
}

TEST_F(SealedOpen, DecryptFileIntoARegularFile) {
    auto m = open();
    ASSERT_TRUE(m.ok()) << m.err().message;
    const auto out = dir_ / "out.bin";
    spit(out, std::string(5 * cs, 'z'));  // longer than the plaintext: it must be cut to size
    fd_guard o(::open(out.c_str(), O_RDWR | O_CLOEXEC));
    ASSERT_GE(o.fd, 0);
    auto r = m->decrypt_file("a.bin", o.fd);
    ASSERT_TRUE(r.ok()) << r.err().message;
    EXPECT_EQ(slurp(out), files_["a.bin"]);
}

TEST_F(SealedOpen, SingleFileModel) {
    spit(dir_ / "w.bin", random_bytes(2 * cs + 1, 7));
    ASSERT_TRUE(seal_model(dir_ / "w.bin", "w", key_.pub, dir_ / "sealed-w", {cs, 1}).ok());
    auto k = read_sealed_key(dir_ / "sealed-w", key_);
    ASSERT_TRUE(k.ok()) << k.err().message;
    auto m = sealed_model::open(dir_ / "sealed-w", k->dek, k->model_id, k->model_root);
    ASSERT_TRUE(m.ok()) << m.err().message;
    EXPECT_TRUE(m->index().single_file);
    auto fd = decrypt_to_sealed_memfd(*m, "w.bin");
    ASSERT_TRUE(fd.ok()) << fd.err().message;
    EXPECT_EQ(fd_content((*fd)->fd), slurp(dir_ / "w.bin"));
}

TEST_F(SealedOpen, WrongDataKeyRefusedAtIndexMac) {
    secret_bytes other(32);
    for (std::size_t i = 0; i < other.size(); ++i) other.data()[i] = dek_.data()[i];
    other.data()[0] ^= 0x80;
    auto m = sealed_model::open(sealed(), other, id_, root_);
    ASSERT_FALSE(m.ok());
    EXPECT_EQ(m.err().code, errc::signature);
    EXPECT_NE(m.err().message.find("index.json does not verify under this data key"), std::string::npos) << m.err().message;
}

TEST_F(SealedOpen, DataKeyOfWrongLengthRefused) {
    secret_bytes short_key(16);
    auto m = sealed_model::open(sealed(), short_key, id_, root_);
    ASSERT_FALSE(m.ok());
    EXPECT_EQ(m.err().code, errc::invalid_argument);
    EXPECT_NE(m.err().message.find("the data key is 16 bytes"), std::string::npos) << m.err().message;
}

TEST_F(SealedOpen, WrongExpectedModelIdRefused) {
    auto m = sealed_model::open(sealed(), dek_, "org/other@1", root_);
    ASSERT_FALSE(m.ok());
    EXPECT_EQ(m.err().code, errc::mismatch);
    EXPECT_NE(m.err().message.find("index.json describes model \"org/model@1\""), std::string::npos) << m.err().message;
    EXPECT_NE(m.err().message.find("but the key is for model \"org/other@1\""), std::string::npos) << m.err().message;
}

TEST_F(SealedOpen, WrongExpectedRootRefused) {
    digest other = root_;
    other[31] ^= 1;
    auto m = sealed_model::open(sealed(), dek_, id_, other);
    ASSERT_FALSE(m.ok());
    EXPECT_EQ(m.err().code, errc::mismatch);
    EXPECT_NE(m.err().message.find(to_hex(other)), std::string::npos) << m.err().message;
}

TEST_F(SealedOpen, EditedIndexRefusedAtMac) {
    auto idx = inspect_sealed(sealed());
    ASSERT_TRUE(idx.ok());
    std::string s = slurp(sealed() / "index.json");
    const std::string kr = to_hex(idx->files[1].keyed_root);
    const auto pos = s.find(kr);
    ASSERT_NE(pos, std::string::npos);
    s[pos] = s[pos] == '0' ? '1' : '0';
    spit(sealed() / "index.json", s);
    auto m = open();
    ASSERT_FALSE(m.ok());
    EXPECT_NE(m.err().message.find("index.json does not verify under this data key"), std::string::npos) << m.err().message;
}

TEST_F(SealedOpen, FlippedCiphertextByteNamesTheChunk) {
    flip(sealed() / "data" / "000000.enc", (cs + 16) + 100);  // chunk 1 of a.bin
    auto m = open();
    ASSERT_TRUE(m.ok()) << m.err().message;  // sizes are intact: only the chunk's tag can tell
    auto fd = decrypt_to_sealed_memfd(*m, "a.bin", 2);
    ASSERT_FALSE(fd.ok());
    EXPECT_EQ(fd.err().code, errc::signature);
    EXPECT_NE(fd.err().message.find("\"a.bin\" chunk 1 of 3 (data/000000.enc) does not authenticate (ciphertext or tag altered)"),
              std::string::npos)
        << fd.err().message;
    // The other files are untouched and still decrypt.
    auto other = decrypt_to_sealed_memfd(*m, "sub/b.bin");
    ASSERT_TRUE(other.ok()) << other.err().message;
    EXPECT_EQ(fd_content((*other)->fd), files_["sub/b.bin"]);
}

TEST_F(SealedOpen, FlippedTagOfEmptyFile) {
    flip(sealed() / "data" / "000003.enc", 15);  // sub/empty: its data file is one 16-byte tag
    auto m = open();
    ASSERT_TRUE(m.ok()) << m.err().message;
    auto fd = decrypt_to_sealed_memfd(*m, "sub/empty");
    ASSERT_FALSE(fd.ok());
    EXPECT_NE(fd.err().message.find("\"sub/empty\" chunk 0 of 1 (data/000003.enc) does not authenticate"), std::string::npos)
        << fd.err().message;
}

TEST_F(SealedOpen, SwappedChunksNamed) {
    std::string s = slurp(sealed() / "data" / "000000.enc");
    const std::size_t n = cs + 16;
    const std::string c1 = s.substr(n, n), c2 = s.substr(2 * n, n);
    s.replace(n, n, c2);
    s.replace(2 * n, n, c1);
    spit(sealed() / "data" / "000000.enc", s);
    auto m = open();
    ASSERT_TRUE(m.ok()) << m.err().message;
    auto fd = decrypt_to_sealed_memfd(*m, "a.bin");
    ASSERT_FALSE(fd.ok());
    EXPECT_NE(fd.err().message.find("\"a.bin\" chunk 1 of 3 (data/000000.enc) holds the ciphertext of chunk 2 of the same file"),
              std::string::npos)
        << fd.err().message;
}

TEST_F(SealedOpen, TruncatedDataFileRefusedAtOpen) {
    fs::resize_file(sealed() / "data" / "000001.enc", cs);
    auto m = open();
    ASSERT_FALSE(m.ok());
    EXPECT_NE(m.err().message.find("data/000001.enc (\"sub/b.bin\") is " + std::to_string(cs) + " bytes"), std::string::npos)
        << m.err().message;
    EXPECT_NE(m.err().message.find("(truncated)"), std::string::npos);
}

TEST_F(SealedOpen, DataFileChangedAfterOpenIsCheckedAgain) {
    auto m = open();
    ASSERT_TRUE(m.ok()) << m.err().message;
    std::string s = slurp(sealed() / "data" / "000001.enc");
    spit(sealed() / "data" / "000001.enc", s + "x");
    auto fd = decrypt_to_sealed_memfd(*m, "sub/b.bin");
    ASSERT_FALSE(fd.ok());
    EXPECT_NE(fd.err().message.find("(extra bytes appended)"), std::string::npos) << fd.err().message;
}

TEST_F(SealedOpen, LayoutCheckedAtOpen) {
    spit(sealed() / "manifest.json", "{}");
    auto m = open();
    ASSERT_FALSE(m.ok());
    EXPECT_EQ(m.err().code, errc::structure);
    EXPECT_NE(m.err().message.find("unexpected entry \"manifest.json\""), std::string::npos) << m.err().message;
    fs::remove(sealed() / "manifest.json");
    fs::remove(sealed() / "data" / "000003.enc");
    auto m2 = open();
    ASSERT_FALSE(m2.ok());
    EXPECT_NE(m2.err().message.find("is missing data/000003.enc (the data of \"sub/empty\")"), std::string::npos)
        << m2.err().message;
}

TEST_F(SealedOpen, SymlinkedDirectoryRefused) {
    fs::create_symlink(sealed(), dir_ / "link");
    auto m = sealed_model::open(dir_ / "link", dek_, id_, root_);
    ASSERT_FALSE(m.ok());
    EXPECT_NE(m.err().message.find("is a symlink"), std::string::npos) << m.err().message;
}

TEST_F(SealedOpen, UnknownFileRefused) {
    auto m = open();
    ASSERT_TRUE(m.ok()) << m.err().message;
    EXPECT_EQ(m->find("sub"), nullptr);
    EXPECT_EQ(m->find("nope.bin"), nullptr);
    auto fd = decrypt_to_sealed_memfd(*m, "nope.bin");
    ASSERT_FALSE(fd.ok());
    EXPECT_EQ(fd.err().code, errc::invalid_argument);
    EXPECT_NE(fd.err().message.find("has no file \"nope.bin\""), std::string::npos) << fd.err().message;
}

TEST_F(SealedOpen, SealedKeyForAnotherRecipientDoesNotOpen) {
    auto other = generate_recipient_key();
    ASSERT_TRUE(other.ok());
    auto k = read_sealed_key(sealed(), *other);
    ASSERT_FALSE(k.ok());
    EXPECT_EQ(k.err().code, errc::signature);
    EXPECT_NE(k.err().message.find("key.sealed does not open with this recipient key"), std::string::npos) << k.err().message;
    const bytes junk(20, 0);
    auto j = open_sealed_key(junk, key_);
    ASSERT_FALSE(j.ok());
    EXPECT_EQ(j.err().code, errc::parse);
}

TEST_F(SealedOpen, UnsealStillAgreesWithTheMemfds) {
    // The refactored checks serve both paths: unseal's output equals what the memfds hold.
    ASSERT_TRUE(unseal_model(sealed(), key_, dir_ / "plain", 2).ok());
    auto m = open();
    ASSERT_TRUE(m.ok()) << m.err().message;
    for (const auto& [rel, data] : files_) {
        auto fd = decrypt_to_sealed_memfd(*m, rel);
        ASSERT_TRUE(fd.ok()) << fd.err().message;
        EXPECT_EQ(fd_content((*fd)->fd), slurp(dir_ / "plain" / rel)) << rel;
    }
}

}  // namespace
}  // namespace custos::weights
