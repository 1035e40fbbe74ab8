// X25519 recipient keys: PEM that openssl reads, libsodium interoperability, errors that name the problem.
#include <gtest/gtest.h>

#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "tests/support/files.hpp"
#include "crypto/file_io.hpp"
#include "weights/recipient_key.hpp"

namespace custos::weights {
namespace {

namespace fs = std::filesystem;

using test::read_text;

int sh(const std::string& cmd) {
    const int rc = std::system(cmd.c_str());
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

class RecipientKey : public ::testing::Test {
protected:
    void SetUp() override {
        std::string t = (fs::temp_directory_path() / "custos-rkey-XXXXXX").string();
        dir_ = ::mkdtemp(t.data());
    }
    void TearDown() override {
        std::error_code ec;
        fs::remove_all(dir_, ec);
    }
    fs::path dir_;
};

TEST_F(RecipientKey, KeygenWritesPemThatOpensslReads) {
    ASSERT_TRUE(write_recipient_keypair(dir_ / "k").ok());
    const auto key = dir_ / "k" / "recipient.key";
    const auto pub = dir_ / "k" / "recipient.pub";
    struct stat st{};
    ASSERT_EQ(::stat(key.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u);
    EXPECT_EQ(sh("openssl pkey -in " + key.string() + " -noout"), 0);
    EXPECT_EQ(sh("openssl pkey -pubin -in " + pub.string() + " -noout"), 0);
    // openssl derives the same public key from the private one, and reports X25519.
    ASSERT_EQ(sh("openssl pkey -in " + key.string() + " -pubout -out " + (dir_ / "derived.pub").string()), 0);
    EXPECT_EQ(read_text(dir_ / "derived.pub"), read_text(pub));
    ASSERT_EQ(sh("openssl pkey -in " + key.string() + " -noout -text > " + (dir_ / "text").string()), 0);
    EXPECT_NE(read_text(dir_ / "text").find("X25519"), std::string::npos);
    EXPECT_NE(read_text(key).find("-----BEGIN PRIVATE KEY-----"), std::string::npos);
    EXPECT_NE(read_text(pub).find("-----BEGIN PUBLIC KEY-----"), std::string::npos);

    auto priv = load_recipient_private(key);
    ASSERT_TRUE(priv.ok()) << priv.err().message;
    auto p = load_recipient_public(pub);
    ASSERT_TRUE(p.ok()) << p.err().message;
    EXPECT_EQ(priv->pub, *p);
    EXPECT_EQ(priv->secret.size(), 32u);
}

TEST_F(RecipientKey, ReadsKeysMadeByOpenssl) {
    const auto key = dir_ / "o.key";
    ASSERT_EQ(sh("openssl genpkey -algorithm X25519 -out " + key.string()), 0);
    ASSERT_EQ(sh("openssl pkey -in " + key.string() + " -pubout -out " + (dir_ / "o.pub").string()), 0);
    auto priv = load_recipient_private(key);
    ASSERT_TRUE(priv.ok()) << priv.err().message;
    auto pub = load_recipient_public(dir_ / "o.pub");
    ASSERT_TRUE(pub.ok()) << pub.err().message;
    EXPECT_EQ(priv->pub, *pub);
}

TEST_F(RecipientKey, InteroperatesWithLibsodiumSealedBoxes) {
    ASSERT_GE(sodium_init(), 0);
    auto k = generate_recipient_key();
    ASSERT_TRUE(k.ok());
    auto pem = recipient_public_pem(k->pub);
    ASSERT_TRUE(pem.ok());
    auto pub = parse_recipient_public(as_bytes(*pem), "mem");
    ASSERT_TRUE(pub.ok());
    const std::string msg = "data key";
    bytes box(msg.size() + crypto_box_SEALBYTES);
    ASSERT_EQ(crypto_box_seal(box.data(), reinterpret_cast<const unsigned char*>(msg.data()), msg.size(), pub->data()), 0);
    auto priv_pem = recipient_private_pem(*k);
    ASSERT_TRUE(priv_pem.ok());
    auto priv = parse_recipient_private(priv_pem->view(), "mem");
    ASSERT_TRUE(priv.ok());
    std::string out(msg.size(), '\0');
    ASSERT_EQ(crypto_box_seal_open(reinterpret_cast<unsigned char*>(out.data()), box.data(), box.size(), priv->pub.data(),
                                   priv->secret.data()),
              0);
    EXPECT_EQ(out, msg);
}

TEST_F(RecipientKey, KeygenRefusesToOverwrite) {
    ASSERT_TRUE(write_recipient_keypair(dir_).ok());
    const std::string before = read_text(dir_ / "recipient.key");
    auto r = write_recipient_keypair(dir_);
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.err().message.find("already exists; refusing to overwrite"), std::string::npos) << r.err().message;
    EXPECT_EQ(read_text(dir_ / "recipient.key"), before);
    fs::remove(dir_ / "recipient.key");
    r = write_recipient_keypair(dir_);  // recipient.pub alone is enough to refuse
    ASSERT_FALSE(r.ok());
    EXPECT_FALSE(fs::exists(dir_ / "recipient.key"));
}

TEST_F(RecipientKey, ErrorsNameFileAndProblem) {
    const auto junk = dir_ / "junk.pem";
    ASSERT_TRUE(write_file_atomic(junk, std::string_view("hello")).ok());
    auto a = load_recipient_public(junk);
    ASSERT_FALSE(a.ok());
    EXPECT_NE(a.err().message.find(junk.string() + ": not a PEM file"), std::string::npos) << a.err().message;
    auto b = load_recipient_private(junk);
    ASSERT_FALSE(b.ok());
    EXPECT_NE(b.err().message.find(junk.string() + ": not a PEM file"), std::string::npos) << b.err().message;

    const auto ec_key = dir_ / "ec.key";
    ASSERT_EQ(sh("openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out " + ec_key.string()), 0);
    ASSERT_EQ(sh("openssl pkey -in " + ec_key.string() + " -pubout -out " + (dir_ / "ec.pub").string()), 0);
    auto c = load_recipient_private(ec_key);
    ASSERT_FALSE(c.ok());
    EXPECT_NE(c.err().message.find(ec_key.string() + ": holds a EC key, not an X25519 recipient key"), std::string::npos)
        << c.err().message;
    auto d = load_recipient_public(dir_ / "ec.pub");
    ASSERT_FALSE(d.ok());
    EXPECT_NE(d.err().message.find("not an X25519 recipient key"), std::string::npos) << d.err().message;

    // A public key where a private one is expected, and the other way round.
    ASSERT_TRUE(write_recipient_keypair(dir_ / "k").ok());
    auto e = load_recipient_private(dir_ / "k" / "recipient.pub");
    ASSERT_FALSE(e.ok());
    EXPECT_NE(e.err().message.find("not a PEM private key"), std::string::npos) << e.err().message;
    auto f = load_recipient_public(dir_ / "k" / "recipient.key");
    ASSERT_FALSE(f.ok());
    EXPECT_NE(f.err().message.find("not a PEM public key"), std::string::npos) << f.err().message;

    auto g = load_recipient_public(dir_ / "missing.pub");
    ASSERT_FALSE(g.ok());
    EXPECT_NE(g.err().message.find("missing.pub"), std::string::npos);
}

TEST_F(RecipientKey, RefusesPassphraseProtectedKeyWithoutPrompting) {
    const auto key = dir_ / "enc.key";
    ASSERT_EQ(sh("openssl genpkey -algorithm X25519 -aes-256-cbc -pass pass:secret -out " + key.string()), 0);
    auto r = load_recipient_private(key);
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.err().message.find("not a PEM private key (unencrypted PKCS#8)"), std::string::npos) << r.err().message;
}

}  // namespace
}  // namespace custos::weights
