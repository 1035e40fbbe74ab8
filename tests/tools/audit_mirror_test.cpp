// The monitor (`custos audit fetch`) against a log it cannot trust, played in memory: a log that grows
// honestly, one that serves an altered entry, one that rewrites its history under a validly signed
// checkpoint, one signed by another key, one that shrinks. The mirror is never changed by a lie.
#include "tools/custos/audit_mirror.hpp"

#include <gtest/gtest.h>

#include <fstream>

#include "tests/support/files.hpp"
#include "tests/support/process.hpp"

namespace custos::cli {
namespace {

// A log kept in memory, with the hooks a hostile one needs.
struct memory_log {
    tlog::note_signer key;
    std::vector<std::string> entries;
    std::vector<tlog::hash> stored;
    std::function<void(std::vector<std::string>&)> serve_altered;  // changes what is served, not what is hashed

    explicit memory_log(tlog::note_signer k) : key(std::move(k)) {}
    tlog::hash_reader reader() const {
        return [this](std::span<const std::int64_t> idx) -> result<std::vector<tlog::hash>> {
            std::vector<tlog::hash> out;
            for (auto i : idx) out.push_back(stored.at(static_cast<std::size_t>(i)));
            return out;
        };
    }
    void append(const std::string& e) {
        auto hs = tlog::stored_hashes_for(static_cast<std::int64_t>(entries.size()), tlog::leaf_hash(as_bytes(e)), reader());
        stored.insert(stored.end(), hs->begin(), hs->end());
        entries.push_back(e);
    }
    std::string checkpoint() const {
        const auto n = static_cast<std::int64_t>(entries.size());
        return *key.sign(tlog::format_checkpoint({key.verifier().name, n, *tlog::tree_hash(n, reader()), {}}));
    }
    log_reader as_reader() {
        log_reader r;
        r.checkpoint = [this]() -> result<std::string> { return checkpoint(); };
        r.entries = [this](std::int64_t start, std::int64_t end) -> result<std::vector<std::string>> {
            std::vector<std::string> out(entries.begin() + start, entries.begin() + std::min<std::int64_t>(end, start + 3));
            if (serve_altered) serve_altered(out);
            return out;
        };
        r.consistency = [this](std::int64_t from, std::int64_t size) { return tlog::prove_tree(size, from, reader()); };
        return r;
    }
};

tlog::note_signer make_key(const char* name = "test.example/custos-log") { return std::move(tlog::note_signer::generate(name)->second); }

std::string entry(int i) { return R"({"v":1,"type":"test","time":)" + std::to_string(1000 + i) + "}"; }

class AuditMirror : public ::testing::Test {
protected:
    test::temp_dir dir_{"custos-mirror"};
    std::filesystem::path state_ = dir_.path() / "mirror";
    memory_log log_{make_key()};
    std::string pub_ = log_.key.verifier().to_string();
    std::vector<std::string> mirrored() {
        std::vector<std::string> out;
        auto r = for_each_entry(state_, [&](std::int64_t, const std::string& b) {
            out.push_back(b);
            return true;
        });
        EXPECT_TRUE(r) << r.err().message;
        return out;
    }
};

TEST_F(AuditMirror, FollowsAnHonestLogAndNeedsTheKeyOnlyOnce) {
    for (int i = 0; i < 5; ++i) log_.append(entry(i));
    EXPECT_FALSE(fetch_log(state_, log_.as_reader(), "")) << "the first fetch needs the key";
    auto f = fetch_log(state_, log_.as_reader(), pub_);
    ASSERT_TRUE(f) << f.err().message;
    EXPECT_TRUE(f->problem.empty()) << f->problem;
    EXPECT_EQ(f->new_size, 5);
    for (int i = 5; i < 23; ++i) log_.append(entry(i));
    f = fetch_log(state_, log_.as_reader(), "");
    ASSERT_TRUE(f && f->problem.empty());
    EXPECT_EQ(f->old_size, 5);
    EXPECT_EQ(f->new_size, 23);
    EXPECT_EQ(mirrored(), log_.entries);
    auto other = make_key();
    EXPECT_FALSE(fetch_log(state_, log_.as_reader(), other.verifier().to_string())) << "a log's key never changes";
}

TEST_F(AuditMirror, AnEntryServedAlteredIsAForkAndTheMirrorStaysAsItWas) {
    for (int i = 0; i < 4; ++i) log_.append(entry(i));
    ASSERT_TRUE(fetch_log(state_, log_.as_reader(), pub_)->problem.empty());
    for (int i = 4; i < 9; ++i) log_.append(entry(i));
    log_.serve_altered = [](std::vector<std::string>& es) {
        for (auto& e : es)
            if (e == entry(6)) e = entry(66);
    };
    auto f = fetch_log(state_, log_.as_reader(), "");
    ASSERT_TRUE(f);
    EXPECT_NE(f->problem.find("do not hash to the checkpoint's root"), std::string::npos) << f->problem;
    EXPECT_TRUE(std::filesystem::exists(f->evidence / "entries.jsonl"));
    EXPECT_EQ(mirrored().size(), 4u);
    log_.serve_altered = nullptr;
    f = fetch_log(state_, log_.as_reader(), "");
    ASSERT_TRUE(f && f->problem.empty()) << "the honest log is taken once it is served honestly";
    EXPECT_EQ(mirrored(), log_.entries);
}

TEST_F(AuditMirror, ARewrittenHistoryUnderAValidSignatureIsAFork) {
    for (int i = 0; i < 6; ++i) log_.append(entry(i));
    ASSERT_TRUE(fetch_log(state_, log_.as_reader(), pub_)->problem.empty());
    memory_log rewritten{std::move(log_.key)};
    for (int i = 0; i < 9; ++i)
        if (i != 2) rewritten.append(entry(i));  // entry 2 quietly dropped, signed with the real key
    auto f = fetch_log(state_, rewritten.as_reader(), "");
    ASSERT_TRUE(f);
    EXPECT_NE(f->problem.find("consistency proof from size 6 to 8 does not verify"), std::string::npos) << f->problem;
    EXPECT_TRUE(std::filesystem::exists(f->evidence / "checkpoint.saved"));
    EXPECT_TRUE(std::filesystem::exists(f->evidence / "consistency.json"));
    EXPECT_EQ(mirrored().size(), 6u);
    // Cut back instead: the log shrank.
    memory_log shorter{std::move(rewritten.key)};
    for (int i = 0; i < 5; ++i) shorter.append(entry(i));
    f = fetch_log(state_, shorter.as_reader(), "");
    ASSERT_TRUE(f);
    EXPECT_NE(f->problem.find("the log shrank"), std::string::npos) << f->problem;
}

TEST_F(AuditMirror, ACheckpointSignedByAnotherKeyOrForAnotherLogIsAFork) {
    log_.append(entry(0));
    ASSERT_TRUE(fetch_log(state_, log_.as_reader(), pub_)->problem.empty());
    memory_log impostor{make_key()};
    impostor.append(entry(0));
    impostor.append(entry(1));
    auto f = fetch_log(state_, impostor.as_reader(), "");
    ASSERT_TRUE(f);
    EXPECT_NE(f->problem.find("not signed by the log key"), std::string::npos) << f->problem;
}

TEST_F(AuditMirror, AFetchCutShortIsUndoneAtTheNextRun) {
    for (int i = 0; i < 3; ++i) log_.append(entry(i));
    ASSERT_TRUE(fetch_log(state_, log_.as_reader(), pub_)->problem.empty());
    // A crash after the entries were appended and before state.json moved on.
    std::ofstream(state_ / "entries.jsonl", std::ios::app) << entry(99) << "\n";
    std::ofstream(state_ / "hashes.bin", std::ios::app) << std::string(64, 'x');
    EXPECT_EQ(mirrored().size(), 3u);
    for (int i = 3; i < 7; ++i) log_.append(entry(i));
    auto f = fetch_log(state_, log_.as_reader(), "");
    ASSERT_TRUE(f && f->problem.empty()) << (f ? f->problem : f.err().message);
    EXPECT_EQ(mirrored(), log_.entries);
    // An entry changed in the mirror on disk is not searched as if it were verified.
    {
        auto lines = test::read_text(state_ / "entries.jsonl");
        lines.replace(lines.find(entry(4)), entry(4).size(), entry(44));
        std::ofstream(state_ / "entries.jsonl") << lines;
        auto r = for_each_entry(state_, [](std::int64_t, const std::string&) { return true; });
        ASSERT_FALSE(r);
        EXPECT_NE(r.err().message.find("entry 4 is not the one verified"), std::string::npos) << r.err().message;
        lines.replace(lines.find(entry(44)), entry(44).size(), entry(4));
        std::ofstream(state_ / "entries.jsonl") << lines;
    }
    // A state.json edited by hand is not believed either.
    auto text = test::read_text(state_ / "state.json");
    text.replace(text.find("\"size\":7"), 8, "\"size\":6");
    std::ofstream(state_ / "state.json") << text;
    EXPECT_FALSE(open_mirror(state_));
}

}  // namespace
}  // namespace custos::cli
