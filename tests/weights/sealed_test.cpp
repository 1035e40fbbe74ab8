// Sealed models: round trips, every tamper case with its own error, hostile paths, atomic output.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <sodium.h>
#include <unistd.h>

#include <fstream>
#include <random>
#include <sstream>

#include "crypto/file_io.hpp"
#include "tests/support/files.hpp"
#include "weights/sealed.hpp"

namespace custos::weights {
namespace {

namespace fs = std::filesystem;
constexpr std::uint64_t cs = 64u << 10;

constexpr auto slurp = &custos::test::read_text;
constexpr auto spit = &custos::test::write_text;
using custos::test::random_bytes;

void expect_same_tree(const fs::path& a, const fs::path& b) {
    std::vector<std::string> la, lb;
    for (auto& e : fs::recursive_directory_iterator(a)) la.push_back(fs::relative(e.path(), a).string());
    for (auto& e : fs::recursive_directory_iterator(b)) lb.push_back(fs::relative(e.path(), b).string());
    std::sort(la.begin(), la.end());
    std::sort(lb.begin(), lb.end());
    ASSERT_EQ(la, lb);
    for (auto& r : la)
        if (fs::is_regular_file(a / r)) {
            EXPECT_EQ(slurp(a / r), slurp(b / r)) << r;
        }
}

class Sealed : public ::testing::Test {
protected:
    void SetUp() override {
        std::string t = (fs::temp_directory_path() / "custos-sealed-XXXXXX").string();
        dir_ = ::mkdtemp(t.data());
        auto k = generate_recipient_key();
        ASSERT_TRUE(k.ok());
        key_ = std::move(*k);
    }
    void TearDown() override {
        std::error_code ec;
        fs::remove_all(dir_, ec);
    }

    // A model with two files of three full-size chunks each (so chunks can be swapped and moved) and one small.
    fs::path make_model() {
        const auto m = dir_ / "model";
        spit(m / "a.bin", random_bytes(3 * cs, 1));
        spit(m / "sub" / "b.bin", random_bytes(3 * cs, 2));
        spit(m / "sub" / "c.txt", "hello");
        return m;
    }
    fs::path seal(const fs::path& model, const std::string& id = "org/model@1", const char* name = "sealed") {
        auto r = seal_model(model, id, key_.pub, dir_ / name, {cs, 2});
        EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.err().message);
        return dir_ / name;
    }
    // Unseal must fail with a message containing `want`, leaving nothing at the output nor beside it.
    void expect_unseal_fails(const fs::path& sealed, const std::string& want) {
        const auto out = dir_ / "out";
        auto r = unseal_model(sealed, key_, out, 2);
        ASSERT_FALSE(r.ok()) << "unseal succeeded; wanted: " << want;
        EXPECT_NE(r.err().message.find(want), std::string::npos) << r.err().message;
        EXPECT_FALSE(fs::exists(fs::symlink_status(out)));
        for (auto& e : fs::directory_iterator(dir_))
            EXPECT_EQ(e.path().filename().string().find(".out.unsealing"), std::string::npos) << e.path();
    }
    static void flip(const fs::path& p, std::uint64_t off) {
        std::string s = slurp(p);
        ASSERT_LT(off, s.size());
        s[off] = static_cast<char>(s[off] ^ 0x01);
        spit(p, s);
    }
    static void edit_index(const fs::path& sealed, const std::string& from, const std::string& to) {
        std::string s = slurp(sealed / "index.json");
        auto pos = s.find(from);
        ASSERT_NE(pos, std::string::npos) << from;
        s.replace(pos, from.size(), to);
        spit(sealed / "index.json", s);
    }

    fs::path dir_;
    recipient_private_key key_;
};

class SealedSizes : public Sealed, public ::testing::WithParamInterface<std::uint64_t> {};

TEST_P(SealedSizes, RoundTripSingleFile) {
    const std::string data = random_bytes(GetParam(), static_cast<unsigned>(GetParam()));
    spit(dir_ / "w.bin", data);
    const auto sealed = seal(dir_ / "w.bin");
    auto idx = inspect_sealed(sealed);
    ASSERT_TRUE(idx.ok());
    EXPECT_TRUE(idx->single_file);
    ASSERT_EQ(idx->files.size(), 1u);
    EXPECT_EQ(idx->files[0].path, "w.bin");
    EXPECT_EQ(idx->files[0].chunks, GetParam() == 0 ? 1 : (GetParam() + cs - 1) / cs);
    EXPECT_EQ(fs::file_size(sealed / "data" / "000000.enc"), GetParam() + 16 * idx->files[0].chunks);
    auto r = unseal_model(sealed, key_, dir_ / "out", 2);
    ASSERT_TRUE(r.ok()) << r.err().message;
    ASSERT_TRUE(fs::is_regular_file(dir_ / "out"));
    EXPECT_EQ(slurp(dir_ / "out"), data);
}
INSTANTIATE_TEST_SUITE_P(ChunkBoundaries, SealedSizes,
                         ::testing::Values(0, 1, cs - 1, cs, cs + 1, 2 * cs - 1, 2 * cs, 2 * cs + 1, 5 * cs + 7));

TEST_F(Sealed, RoundTripNestedAndManySmallFiles) {
    const auto m = dir_ / "model";
    for (int i = 0; i < 150; ++i)
        spit(m / ("d" + std::to_string(i % 7)) / ("e" + std::to_string(i % 3)) / ("f" + std::to_string(i)),
             random_bytes(static_cast<std::size_t>(i * 37), static_cast<unsigned>(i)));
    spit(m / "top.bin", random_bytes(cs + 3, 99));
    spit(m / "empty", "");
    const auto sealed = seal(m);
    auto r = unseal_model(sealed, key_, dir_ / "out", 2);
    ASSERT_TRUE(r.ok()) << r.err().message;
    expect_same_tree(m, dir_ / "out");
    auto idx = inspect_sealed(sealed);
    ASSERT_TRUE(idx.ok());
    EXPECT_EQ(idx->files.size(), 152u);
    EXPECT_FALSE(idx->single_file);
}

TEST_F(Sealed, ReturnsManifestAndWritesNoPlaintextHash) {
    const auto m = make_model();
    auto man = seal_model(m, "org/model@1", key_.pub, dir_ / "sealed", {cs, 2});
    ASSERT_TRUE(man.ok());
    std::string all;
    for (auto& e : fs::recursive_directory_iterator(dir_ / "sealed"))
        if (e.is_regular_file()) all += slurp(e.path());
    EXPECT_EQ(fs::directory_iterator(dir_ / "sealed")->path().parent_path(), dir_ / "sealed");
    for (const auto& f : man->files) {
        for (const auto& d : f.chunks) {
            EXPECT_EQ(all.find(to_hex(d)), std::string::npos) << f.path;
            EXPECT_EQ(all.find(std::string(d.begin(), d.end())), std::string::npos) << f.path;
        }
        EXPECT_EQ(all.find(to_hex(f.root)), std::string::npos) << f.path;
    }
    EXPECT_EQ(all.find("hello"), std::string::npos);
    auto idx = inspect_sealed(dir_ / "sealed");
    ASSERT_TRUE(idx.ok());
    EXPECT_EQ(idx->model_root, man->model_root);
    EXPECT_FALSE(fs::exists(dir_ / "sealed" / "manifest.json"));
}

TEST_F(Sealed, FreshKeyAndCiphertextEachSeal) {
    const auto m = make_model();
    const auto s1 = seal(m, "org/model@1", "s1");
    const auto s2 = seal(m, "org/model@1", "s2");
    EXPECT_NE(slurp(s1 / "data" / "000000.enc"), slurp(s2 / "data" / "000000.enc"));
    EXPECT_NE(slurp(s1 / "key.sealed"), slurp(s2 / "key.sealed"));
}

TEST_F(Sealed, FlippedByteInChunk) {
    const auto sealed = seal(make_model());
    flip(sealed / "data" / "000000.enc", (cs + 16) + 100);  // chunk 1 of a.bin
    expect_unseal_fails(sealed, "\"a.bin\" chunk 1 of 3 (data/000000.enc) does not authenticate (ciphertext or tag altered)");
}

TEST_F(Sealed, FlippedByteInTag) {
    const auto sealed = seal(make_model());
    flip(sealed / "data" / "000001.enc", 3 * (cs + 16) - 1);  // last tag of sub/b.bin
    expect_unseal_fails(sealed, "\"sub/b.bin\" chunk 2 of 3 (data/000001.enc) does not authenticate");
}

TEST_F(Sealed, FlippedByteInSmallFile) {
    const auto sealed = seal(make_model());
    flip(sealed / "data" / "000002.enc", 0);
    expect_unseal_fails(sealed, "\"sub/c.txt\" chunk 0 of 1 (data/000002.enc) does not authenticate");
}

TEST_F(Sealed, SwappedChunks) {
    const auto sealed = seal(make_model());
    std::string s = slurp(sealed / "data" / "000000.enc");
    const std::size_t n = cs + 16;
    std::string c0 = s.substr(0, n), c1 = s.substr(n, n);
    s.replace(0, n, c1);
    s.replace(n, n, c0);
    spit(sealed / "data" / "000000.enc", s);
    expect_unseal_fails(sealed, "\"a.bin\" chunk 0 of 3 (data/000000.enc) holds the ciphertext of chunk 1 of the same file (chunks swapped or reordered)");
}

TEST_F(Sealed, ChunkMovedToAnotherFile) {
    const auto sealed = seal(make_model());
    std::string a = slurp(sealed / "data" / "000000.enc");
    std::string b = slurp(sealed / "data" / "000001.enc");
    const std::size_t n = cs + 16;
    b.replace(n, n, a.substr(n, n));
    spit(sealed / "data" / "000001.enc", b);
    expect_unseal_fails(sealed, "\"sub/b.bin\" chunk 1 of 3 (data/000001.enc) holds the ciphertext of chunk 1 of \"a.bin\" (chunk moved between files)");
}

TEST_F(Sealed, TruncatedFile) {
    const auto sealed = seal(make_model());
    fs::resize_file(sealed / "data" / "000001.enc", 2 * (cs + 16));
    expect_unseal_fails(sealed, "data/000001.enc (\"sub/b.bin\") is " + std::to_string(2 * (cs + 16)) + " bytes, expected " +
                                    std::to_string(3 * (cs + 16)) + " (truncated)");
}

TEST_F(Sealed, AppendedBytes) {
    const auto sealed = seal(make_model());
    std::ofstream(sealed / "data" / "000002.enc", std::ios::binary | std::ios::app) << "x";
    expect_unseal_fails(sealed, "(extra bytes appended)");
}

TEST_F(Sealed, ExtraDataFile) {
    const auto sealed = seal(make_model());
    spit(sealed / "data" / "000003.enc", "x");
    expect_unseal_fails(sealed, "unexpected file \"data/000003.enc\"");
}

TEST_F(Sealed, ExtraTopLevelFile) {
    const auto sealed = seal(make_model());
    spit(sealed / "manifest.json", "{}");
    expect_unseal_fails(sealed, "unexpected entry \"manifest.json\"");
}

TEST_F(Sealed, MissingDataFile) {
    const auto sealed = seal(make_model());
    fs::remove(sealed / "data" / "000001.enc");
    expect_unseal_fails(sealed, "is missing data/000001.enc (the data of \"sub/b.bin\")");
}

TEST_F(Sealed, MissingKeyAndIndex) {
    const auto sealed = seal(make_model());
    fs::rename(sealed / "key.sealed", dir_ / "key.sealed");
    expect_unseal_fails(sealed, "has no key.sealed");
    fs::remove(sealed / "index.json");
    expect_unseal_fails(sealed, "has no index.json");
}

TEST_F(Sealed, EditedIndexKeyedRoot) {
    const auto sealed = seal(make_model());
    auto idx = inspect_sealed(sealed);
    ASSERT_TRUE(idx.ok());
    std::string kr = to_hex(idx->files[0].keyed_root);
    std::string kr2 = kr;
    kr2[0] = kr2[0] == '0' ? '1' : '0';
    edit_index(sealed, kr, kr2);
    expect_unseal_fails(sealed, "index.json was altered: its MAC does not verify");
}

TEST_F(Sealed, EditedIndexPathSwap) {
    // Renaming a file in the index (keeping it sorted and valid) is caught by the MAC.
    const auto sealed = seal(make_model());
    edit_index(sealed, "\"sub/c.txt\"", "\"sub/d.txt\"");
    expect_unseal_fails(sealed, "index.json was altered");
}

TEST_F(Sealed, EditedIndexInconsistent) {
    const auto sealed = seal(make_model());
    edit_index(sealed, "\"size\":5,", "\"size\":70000,");
    expect_unseal_fails(sealed, "index.json: files[2].chunks: 1 does not match size 70000");
}

TEST_F(Sealed, EditedIndexModelId) {
    const auto sealed = seal(make_model());
    edit_index(sealed, "\"org/model@1\"", "\"org/model@2\"");
    expect_unseal_fails(sealed, "key.sealed is the key of model \"org/model@1\"");
}

TEST_F(Sealed, EditedIndexNotJson) {
    const auto sealed = seal(make_model());
    edit_index(sealed, "{", "[");
    expect_unseal_fails(sealed, "index.json: not JSON");
}

TEST_F(Sealed, WrongRecipientKey) {
    const auto sealed = seal(make_model());
    auto other = generate_recipient_key();
    ASSERT_TRUE(other.ok());
    key_ = std::move(*other);
    expect_unseal_fails(sealed, "key.sealed does not open with this recipient key");
}

TEST_F(Sealed, AnotherModelsKeySealed) {
    const auto m = make_model();
    const auto s1 = seal(m, "org/model@1", "s1");
    spit(m / "sub" / "c.txt", "hellO");
    const auto s2 = seal(m, "org/model@1", "s2");
    fs::copy_file(s2 / "key.sealed", s1 / "key.sealed", fs::copy_options::overwrite_existing);
    expect_unseal_fails(s1, "key.sealed is the key of model \"org/model@1\" (root ");
    const auto s3 = seal(m, "org/other", "s3");
    fs::copy_file(s3 / "key.sealed", s2 / "key.sealed", fs::copy_options::overwrite_existing);
    expect_unseal_fails(s2, "key.sealed is the key of model \"org/other\"");
}

TEST_F(Sealed, CorruptKeySealed) {
    const auto sealed = seal(make_model());
    flip(sealed / "key.sealed", 60);
    expect_unseal_fails(sealed, "key.sealed does not open");
}

TEST_F(Sealed, SealRefusesSymlinks) {
    const auto m = make_model();
    fs::create_symlink("/etc/passwd", m / "link");
    auto r = seal_model(m, "org/m", key_.pub, dir_ / "sealed", {cs, 2});
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.err().message.find("link"), std::string::npos) << r.err().message;
    fs::remove(m / "link");
    fs::create_directory_symlink(m, dir_ / "modellink");
    r = seal_model(dir_ / "modellink", "org/m", key_.pub, dir_ / "sealed", {cs, 2});
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.err().message.find("symlink"), std::string::npos) << r.err().message;
    EXPECT_FALSE(fs::exists(dir_ / "sealed"));
    for (auto& e : fs::directory_iterator(dir_))
        EXPECT_EQ(e.path().filename().string().find(".sealing"), std::string::npos) << e.path();
}

TEST_F(Sealed, SealRefusesExistingOutputAndBadArguments) {
    const auto m = make_model();
    fs::create_directory(dir_ / "sealed");
    auto r = seal_model(m, "org/m", key_.pub, dir_ / "sealed", {cs, 2});
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.err().message.find("already exists"), std::string::npos);
    EXPECT_FALSE(seal_model(m, "bad id", key_.pub, dir_ / "s2", {cs, 2}).ok());
    EXPECT_FALSE(seal_model(m, "org/m", key_.pub, dir_ / "s2", {cs + 1, 2}).ok());
    EXPECT_FALSE(seal_model(dir_ / "nope", "org/m", key_.pub, dir_ / "s2", {cs, 2}).ok());
    EXPECT_FALSE(fs::exists(dir_ / "s2"));
}

TEST_F(Sealed, UnsealRefusesHostileIndexPaths) {
    const auto sealed = seal(make_model());
    for (const char* bad : {"../evil", "/etc/evil", "sub/../../evil", "./a.bin", "sub//c.txt"}) {
        const std::string before = slurp(sealed / "index.json");
        edit_index(sealed, "\"a.bin\"", std::string("\"") + bad + "\"");
        expect_unseal_fails(sealed, "index.json: files[0].path");
        spit(sealed / "index.json", before);
    }
    EXPECT_FALSE(fs::exists(dir_ / "evil"));
}

TEST_F(Sealed, UnsealRefusesSymlinksInSealedDir) {
    const auto sealed = seal(make_model());
    fs::rename(sealed / "data" / "000002.enc", dir_ / "moved.enc");
    fs::create_symlink(dir_ / "moved.enc", sealed / "data" / "000002.enc");
    expect_unseal_fails(sealed, "is not a regular file (symlinks are refused)");
    fs::remove(sealed / "data" / "000002.enc");
    fs::rename(dir_ / "moved.enc", sealed / "data" / "000002.enc");
    fs::rename(sealed / "index.json", dir_ / "index.json");
    fs::create_symlink(dir_ / "index.json", sealed / "index.json");
    expect_unseal_fails(sealed, "index.json is not a regular file (symlinks are refused)");
    fs::remove(sealed / "index.json");
    fs::rename(dir_ / "index.json", sealed / "index.json");
    fs::create_directory_symlink(sealed, dir_ / "sealedlink");
    expect_unseal_fails(dir_ / "sealedlink", "is a symlink");
}

TEST_F(Sealed, UnsealRefusesExistingOutput) {
    const auto sealed = seal(make_model());
    spit(dir_ / "out", "keep me");
    auto r = unseal_model(sealed, key_, dir_ / "out", 2);
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.err().message.find("already exists"), std::string::npos);
    EXPECT_EQ(slurp(dir_ / "out"), "keep me");
}

TEST(SealedIndex, ParsesWhatItWritesAndRejectsUnknownFields) {
    sealed_index idx;
    idx.model_id = "m";
    idx.chunk_size = cs;
    idx.files.push_back({"a", cs + 1, 2, sealed_data_name(0), {}});
    idx.files.push_back({"b/c", 0, 1, sealed_data_name(1), {}});
    const auto text = sealed_index_to_json(idx);
    auto p = parse_sealed_index(text);
    ASSERT_TRUE(p.ok()) << p.err().message;
    EXPECT_EQ(sealed_index_to_json(*p), text);
    std::string extra = text;
    extra.insert(1, "\"x\":1,");
    auto e = parse_sealed_index(extra);
    ASSERT_FALSE(e.ok());
    EXPECT_NE(e.err().message.find("x: unknown field"), std::string::npos) << e.err().message;
    idx.files[1].path = "a/c";  // "a" would be both a file and a directory
    auto n = parse_sealed_index(sealed_index_to_json(idx));
    ASSERT_FALSE(n.ok());
    EXPECT_NE(n.err().message.find("both a file and a directory"), std::string::npos) << n.err().message;
    idx.files[1].path = "0";  // unsorted
    EXPECT_FALSE(parse_sealed_index(sealed_index_to_json(idx)).ok());
    idx.files[1].path = "b";
    idx.files[1].data = "data/000000.enc";  // wrong data name for position 1
    EXPECT_FALSE(parse_sealed_index(sealed_index_to_json(idx)).ok());
}

}  // namespace
}  // namespace custos::weights
