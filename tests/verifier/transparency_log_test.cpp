// The transparency log in the store, on both backends: entries queued in their event's transaction (a
// rollback takes them back), numbered once by the sequencer even when two race, findings logged by the
// store itself, checkpoints whose root and proofs verify, and the log switched off.
#include "verifier/transparency_log.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <set>
#include <thread>

#include "tests/support/postgres.hpp"
#include "tests/support/process.hpp"
#include "tlog/entry.hpp"
#include "verifier/log_events.hpp"
#include "verifier/store.hpp"

namespace custos::verifier {
namespace {

using test::temp_dir;

class TransparencyLog : public ::testing::TestWithParam<std::string> {
protected:
    void SetUp() override {
        if (GetParam() == "postgresql") cluster_ = test::postgres_cluster::start();
        db_ = open_again();
        ASSERT_TRUE(db_);
        auto k = tlog::note_signer::generate("test.example/custos-log");
        ASSERT_TRUE(k);
        key_.emplace(std::move(k->second));
    }
    std::unique_ptr<store> open_again() {
        auto s = cluster_ ? open_postgres_store({cluster_->dsn(), "", 8}) : open_sqlite_store(dir_.path() / "v.db");
        EXPECT_TRUE(s.ok()) << (s.ok() ? "" : s.err().message);
        return s.ok() ? std::move(s).value() : nullptr;
    }
    static log_entry entry(const std::string& what, std::int64_t time = 100) {
        tlog::entry_writer w("test", time);
        w.str("what", what);
        return log_entry{"test", "h1", what, time, w.finish()};
    }
    void append(const log_entry& e, bool commit = true) {
        auto tx = db_->begin();
        ASSERT_TRUE(tx);
        ASSERT_TRUE((*tx)->append_log(e));
        if (commit) {
            ASSERT_TRUE((*tx)->commit());
        }
    }
    std::vector<sequenced_log_entry> all() {
        auto tx = db_->begin_read();
        EXPECT_TRUE(tx);
        auto n = (*tx)->log_size();
        auto es = (*tx)->log_entries(0, *n);
        EXPECT_TRUE(es);
        return *es;
    }
    temp_dir dir_{"custos-tlog"};
    std::unique_ptr<test::postgres_cluster> cluster_;
    std::unique_ptr<store> db_;
    std::optional<tlog::note_signer> key_;
};

INSTANTIATE_TEST_SUITE_P(Backends, TransparencyLog, ::testing::Values("sqlite", "postgresql"),
                         [](const auto& info) { return info.param; });

TEST_P(TransparencyLog, EntriesAreNumberedInOrderAndARolledBackOneNeverAppears) {
    append(entry("a"));
    append(entry("rolled-back"), false);
    append(entry("b"));
    auto n = sequence_log(*db_);
    ASSERT_TRUE(n) << n.err().message;
    EXPECT_EQ(*n, 2u);
    EXPECT_EQ(*sequence_log(*db_), 0u) << "nothing is numbered twice";
    const auto es = all();
    ASSERT_EQ(es.size(), 2u);
    EXPECT_EQ(es[0].index, 0);
    EXPECT_EQ(es[0].entry.subject, "a");
    EXPECT_EQ(es[1].entry.subject, "b");
    EXPECT_EQ(es[1].entry.body, entry("b").body);
    auto check = check_log(*db_, key_->verifier());
    ASSERT_TRUE(check) << check.err().message;
    EXPECT_EQ(check->size, 2);
}

TEST_P(TransparencyLog, ACheckpointSignsTheRootAndProofsFromTheStoreVerifyAgainstIt) {
    for (int i = 0; i < 37; ++i) append(entry("e" + std::to_string(i)));
    ASSERT_TRUE(sequence_log(*db_, 10));  // in batches: each builds on the hashes the last one stored
    ASSERT_TRUE(sequence_log(*db_, 10));
    auto c1 = sign_checkpoint(*db_, *key_, 1000);
    ASSERT_TRUE(c1 && *c1) << (c1 ? "nothing signed" : c1.err().message);
    EXPECT_EQ((*c1)->size, 20);
    EXPECT_FALSE(*sign_checkpoint(*db_, *key_, 1001)) << "no new checkpoint without new entries";
    while (*sequence_log(*db_, 10) > 0) {
    }
    auto c2 = sign_checkpoint(*db_, *key_, 1002);
    ASSERT_TRUE(c2 && *c2);
    EXPECT_EQ((*c2)->size, 37);
    auto t1 = tlog::parse_checkpoint(*tlog::open_note((*c1)->note, key_->verifier()));
    auto t2 = tlog::parse_checkpoint(*tlog::open_note((*c2)->note, key_->verifier()));
    ASSERT_TRUE(t1 && t2);
    const auto es = all();
    std::vector<tlog::hash> leaves;
    for (const auto& e : es) leaves.push_back(tlog::leaf_hash(as_bytes(e.entry.body)));
    EXPECT_EQ(t2->root, tlog::merkle_root(leaves));
    auto tx = db_->begin_read();
    ASSERT_TRUE(tx);
    for (std::int64_t i = 0; i < 37; i += 5) {
        auto p = tlog::prove_record(37, i, log_hash_reader(**tx));
        ASSERT_TRUE(p);
        EXPECT_TRUE(tlog::check_record(*p, 37, t2->root, i, leaves[static_cast<std::size_t>(i)])) << i;
    }
    auto con = tlog::prove_tree(37, 20, log_hash_reader(**tx));
    ASSERT_TRUE(con);
    EXPECT_TRUE(tlog::check_tree(*con, 37, t2->root, 20, t1->root));
    auto latest = (*tx)->latest_checkpoint();
    ASSERT_TRUE(latest && *latest);
    EXPECT_EQ((*latest)->size, 37);
}

TEST_P(TransparencyLog, FindingsAndGpuPlacementsAreLoggedByTheStoreItself) {
    {
        auto tx = db_->begin();
        ASSERT_TRUE(tx);
        finding_record f;
        f.rule = "pcr-mismatch";
        f.severity = "violation";
        f.subject_kind = "host";
        f.subject = "h1";
        f.host = "h1";
        f.time = 500;
        f.detail = "PCR 0 differs";
        ASSERT_TRUE((*tx)->insert_finding(f));
        ASSERT_TRUE((*tx)->insert_gpu_event({"GPU-1", "h1", "moved-in", 501, "from h2"}));
        ASSERT_TRUE((*tx)->commit());
    }
    {
        auto tx = db_->begin();
        auto n = (*tx)->resolve_findings("h1", std::string("pcr-mismatch"), 600);
        ASSERT_TRUE(n);
        EXPECT_EQ(*n, 1u);
        ASSERT_TRUE((*tx)->commit());
    }
    ASSERT_TRUE(sequence_log(*db_));
    const auto es = all();
    ASSERT_EQ(es.size(), 3u);
    auto raised = tlog::parse_entry(es[0].entry.body);
    auto moved = tlog::parse_entry(es[1].entry.body);
    auto resolved = tlog::parse_entry(es[2].entry.body);
    ASSERT_TRUE(raised && moved && resolved);
    EXPECT_EQ(raised->type, "finding.raised");
    EXPECT_EQ(raised->text("rule"), "pcr-mismatch");
    EXPECT_EQ(raised->text("detail"), "PCR 0 differs");
    EXPECT_EQ(moved->type, "gpu.moved-in");
    EXPECT_EQ(moved->text("serial"), "GPU-1");
    EXPECT_EQ(es[1].entry.subject, "GPU-1");
    EXPECT_EQ(resolved->type, "finding.resolved");
    EXPECT_EQ(resolved->time, 600);
    EXPECT_EQ(resolved->members.at("id"), raised->members.at("id"));
    auto tx = db_->begin_read();
    auto about = (*tx)->log_entries_about("", "GPU-1", "", 0, 10);
    ASSERT_TRUE(about);
    ASSERT_EQ(about->size(), 1u);
    EXPECT_EQ((*about)[0].index, 1);
}

// Two verifier processes sequencing at once (a lead changing hands) number every entry exactly once.
TEST_P(TransparencyLog, TwoSequencersAtOnceNumberEveryEntryOnce) {
    auto other = open_again();
    ASSERT_TRUE(other);
    std::atomic<bool> done{false};
    std::thread writer([&] {
        for (int i = 0; i < 300; ++i) append(entry("w" + std::to_string(i)));
        done = true;
    });
    std::vector<std::thread> sequencers;
    std::atomic<int> errors{0};
    for (store* s : {db_.get(), other.get()})
        sequencers.emplace_back([&, s] {
            while (!done.load()) {
                if (!sequence_log(*s, 7)) ++errors;
            }
        });
    writer.join();
    for (auto& t : sequencers) t.join();
    while (*sequence_log(*db_) > 0) {
    }
    EXPECT_EQ(errors.load(), 0);
    const auto es = all();
    ASSERT_EQ(es.size(), 300u);
    std::set<std::string> subjects;
    for (std::size_t i = 0; i < es.size(); ++i) {
        EXPECT_EQ(es[i].index, static_cast<std::int64_t>(i));
        subjects.insert(es[i].entry.subject);
    }
    EXPECT_EQ(subjects.size(), 300u);
    auto check = check_log(*db_, key_->verifier());
    EXPECT_TRUE(check) << check.err().message;
}

TEST_P(TransparencyLog, OffQueuesNothing) {
    db_->set_log_enabled(false);
    append(entry("x"));
    EXPECT_EQ(*sequence_log(*db_), 0u);
    EXPECT_TRUE(all().empty());
}

TEST(TransparencyLogKey, ReplicasCreatingTheKeyAtOnceKeepOneAndAMismatchedPubIsRefused) {
    temp_dir d{"custos-logkey"};
    std::vector<std::string> pubs(4);
    std::vector<std::thread> ts;
    for (int i = 0; i < 4; ++i)
        ts.emplace_back([&, i] {
            auto k = load_or_create_log_key(d.path() / "log.key", d.path() / "log.pub", "v.example/custos-log");
            if (k) pubs[static_cast<std::size_t>(i)] = k->verifier().to_string();
        });
    for (auto& t : ts) t.join();
    for (const auto& p : pubs) EXPECT_EQ(p, pubs[0]);
    EXPECT_FALSE(pubs[0].empty());
    auto other = tlog::note_signer::generate("v.example/custos-log");
    std::ofstream(d.path() / "log.pub") << other->second.verifier().to_string() << "\n";
    auto k = load_or_create_log_key(d.path() / "log.key", d.path() / "log.pub", "v.example/custos-log");
    ASSERT_FALSE(k);
    EXPECT_NE(k.err().message.find("is not the public half"), std::string::npos) << k.err().message;
}

}  // namespace
}  // namespace custos::verifier
