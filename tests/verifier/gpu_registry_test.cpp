// verifier/gpu_registry: each GPU finding fires when it must and not otherwise, on a real SQLite store;
// compute deltas, attribution to models, rollback and thresholds.
#include <gtest/gtest.h>

#include <algorithm>

#include "policy/profile.hpp"
#include "tests/support/pci_view.hpp"
#include "tests/support/process.hpp"
#include "verifier/policy_appraisal.hpp"
#include "verifier/findings.hpp"
#include "verifier/gpu_registry.hpp"
#include "verifier/store.hpp"

namespace custos::verifier {
namespace {

using custos::test::temp_dir;

constexpr const char* h100 = "NVIDIA H100 80GB HBM3";

attest::gpu_report gpu(const std::string& serial, const std::string& name = h100, double ops = 0) {
    attest::gpu_report g;
    g.serial = serial;
    g.uuid = serial.empty() ? "" : "GPU-" + serial;
    g.name = name;
    g.chip = "H100-SXM";
    g.pci_bus_id = "00000000:18:00.0";
    g.ops = ops;
    g.busy_s = ops / 1e15;
    g.tpp_s = g.busy_s * 15832;
    return g;
}

attest::report_ext inventory(std::vector<attest::gpu_report> gpus, std::string source = "nvml") {
    attest::report_ext e;
    e.inventory_source = std::move(source);
    e.driver_version = "550.54.15";
    e.gpus = std::move(gpus);
    return test::with_pci_view(std::move(e));  // each GPU at its own address, as the bus shows it
}

class GpuRegistry : public ::testing::Test {
protected:
    void SetUp() override {
        auto s = open_sqlite_store(dir_.path() / "v.db");
        ASSERT_TRUE(s.ok()) << s.err().message;
        db_ = std::move(s).value();
        auto tx = begin();
        ASSERT_TRUE(tx->put_entity({"acme", "US", "uveu"}).ok());
        ASSERT_TRUE(tx->put_site({"seoul-1", "acme", "KR", 37.5, 127.0, 50}).ok());
        for (const char* id : {"a", "b"}) {
            host_record h;
            h.id = id;
            h.state = "approved";
            h.site = "seoul-1";
            ASSERT_TRUE(tx->put_host(h).ok());
        }
        ASSERT_TRUE(tx->commit().ok());
    }
    std::unique_ptr<store_tx> begin() {
        auto t = db_->begin();
        EXPECT_TRUE(t.ok());
        return std::move(t).value();
    }
    // Applies one report from `host` at time `now_` and returns the findings it raised.
    std::vector<finding_record> report(const std::string& host, const attest::report_ext& ext) {
        auto tx = begin();
        auto h = tx->get_host(host);
        EXPECT_TRUE(h.ok() && h->has_value());
        gpu_context ctx{policy::chip_table::builtin(), now_, 20, thresholds_};
        gpu_outcome out;
        auto r = apply_report_ext(*tx, **h, ++seq_, ext, ctx, out);
        EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.err().message);
        if (out.compute_added) {
            EXPECT_TRUE(check_compute_thresholds(*tx, ctx.thresholds, now_, out.raised).ok());
        }
        EXPECT_TRUE(tx->commit().ok());
        now_ += 5;
        return out.raised;
    }
    std::vector<finding_record> open_findings(const std::string& rule) {
        auto tx = begin();
        finding_filter f;
        f.rule = rule;
        f.open_only = true;
        auto all = tx->list_findings(f);
        EXPECT_TRUE(all.ok());
        return *all;
    }
    std::vector<std::string> rules(const std::vector<finding_record>& fs) {
        std::vector<std::string> out;
        for (const auto& f : fs) out.push_back(f.rule + "@" + f.host + ":" + f.subject);
        std::sort(out.begin(), out.end());
        return out;
    }
    std::vector<std::string> approvals(const std::string& host) {
        auto tx = begin();
        auto a = tx->gpu_approvals(host);
        EXPECT_TRUE(a.ok());
        return *a;
    }

    temp_dir dir_{"custos-gpu"};
    std::unique_ptr<store> db_;
    std::int64_t now_ = 1'000'000;
    std::uint64_t seq_ = 0;
    compute_thresholds thresholds_{0, 0, 0, 0};
};

TEST_F(GpuRegistry, FirstInventoryAfterApprovalBecomesTheApprovedSetWithoutFindings) {
    EXPECT_TRUE(report("a", inventory({gpu("s1"), gpu("s2")})).empty());
    EXPECT_EQ(approvals("a"), (std::vector<std::string>{"s1", "s2"}));
    EXPECT_TRUE(report("a", inventory({gpu("s1"), gpu("s2")})).empty());
}

TEST_F(GpuRegistry, GpuAddedFiresForANewSerialOnlyOnce) {
    report("a", inventory({gpu("s1")}));
    EXPECT_EQ(rules(report("a", inventory({gpu("s1"), gpu("s3")}))), (std::vector<std::string>{"gpu-added@a:s3"}));
    EXPECT_TRUE(report("a", inventory({gpu("s1"), gpu("s3")})).empty());  // still open, not raised twice
    {  // The operator approves it: the finding closes.
        auto tx = begin();
        ASSERT_TRUE(approve_host_gpu(*tx, "a", "s3", now_).ok());
        ASSERT_TRUE(tx->commit().ok());
    }
    EXPECT_TRUE(open_findings("gpu-added").empty());
}

TEST_F(GpuRegistry, GpuMissingFiresWhenAnApprovedSerialDisappearsAndClosesWhenItReturns) {
    report("a", inventory({gpu("s1"), gpu("s2")}));
    EXPECT_EQ(rules(report("a", inventory({gpu("s1")}))), (std::vector<std::string>{"gpu-missing@a:s2"}));
    EXPECT_EQ(open_findings("gpu-missing").size(), 1u);
    EXPECT_TRUE(report("a", inventory({gpu("s1"), gpu("s2")})).empty());
    EXPECT_TRUE(open_findings("gpu-missing").empty());
}

TEST_F(GpuRegistry, ReleasedSerialMayLeaveWithoutGpuMissing) {
    report("a", inventory({gpu("s1"), gpu("s2")}));
    {
        auto tx = begin();
        auto was = release_host_gpu(*tx, "a", "s2", now_);
        ASSERT_TRUE(was.ok() && *was);
        ASSERT_TRUE(tx->commit().ok());
    }
    EXPECT_TRUE(report("a", inventory({gpu("s1")})).empty());
}

TEST_F(GpuRegistry, CarriedGpuRaisesExactlyMissingOnTheOldHostAndMovedOnTheNew) {
    report("a", inventory({gpu("s1"), gpu("s2")}));
    report("b", inventory({gpu("s3")}));
    std::vector<finding_record> all = report("a", inventory({gpu("s1")}));
    auto more = report("b", inventory({gpu("s3"), gpu("s2")}));
    all.insert(all.end(), more.begin(), more.end());
    more = report("a", inventory({gpu("s1")}));
    all.insert(all.end(), more.begin(), more.end());
    EXPECT_EQ(rules(all), (std::vector<std::string>{"gpu-missing@a:s2", "gpu-moved@b:s2"}));
    auto tx = begin();
    auto g = tx->get_gpu("s2");
    ASSERT_TRUE(g.ok() && g->has_value());
    EXPECT_EQ((*g)->host_id, "b");
    EXPECT_EQ((*g)->prev_host, "a");
    auto hist = tx->list_gpu_events("s2", std::nullopt, 100);
    ASSERT_TRUE(hist.ok());
    EXPECT_TRUE(std::any_of(hist->begin(), hist->end(), [](const gpu_event_record& e) { return e.event == "moved-in" && e.host_id == "b"; }));
}

TEST_F(GpuRegistry, ACarriedGpuIsMissingOnTheOldHostByItsOwnReportAndMovedOnTheNew) {
    report("a", inventory({gpu("s1"), gpu("s2")}));
    report("b", inventory({gpu("s3")}));
    std::vector<finding_record> all = report("a", inventory({gpu("s1")}));
    auto more = report("b", inventory({gpu("s3"), gpu("s2")}));
    all.insert(all.end(), more.begin(), more.end());
    EXPECT_EQ(rules(all), (std::vector<std::string>{"gpu-missing@a:s2", "gpu-moved@b:s2"}));
}

// Before, b's claim raised gpu-missing on a at once (and revoked a's leases): one host could frame another.
TEST_F(GpuRegistry, ClaimingASerialItsHostStillReportsIsTheClaimantsDuplicateAlone) {
    report("a", inventory({gpu("s1"), gpu("s2")}));
    report("b", inventory({gpu("s3")}));
    EXPECT_EQ(rules(report("b", inventory({gpu("s3"), gpu("s2")}))), (std::vector<std::string>{"gpu-duplicated@b:s2"}));
    EXPECT_TRUE(open_findings("gpu-missing").empty());
    {
        auto tx = begin();
        auto g = tx->get_gpu("s2");
        ASSERT_TRUE(g.ok() && g->has_value());
        EXPECT_EQ((*g)->host_id, "a");
    }
    // a keeps reporting it: nothing against a.
    EXPECT_TRUE(report("a", inventory({gpu("s1"), gpu("s2")})).empty());
}

TEST_F(GpuRegistry, PreApprovedMoveRaisesNothing) {
    report("a", inventory({gpu("s1"), gpu("s2")}));
    report("b", inventory({gpu("s3")}));
    {
        auto tx = begin();
        ASSERT_TRUE(release_host_gpu(*tx, "a", "s2", now_).ok());
        ASSERT_TRUE(approve_host_gpu(*tx, "b", "s2", now_).ok());
        ASSERT_TRUE(tx->commit().ok());
    }
    EXPECT_TRUE(report("a", inventory({gpu("s1")})).empty());
    EXPECT_TRUE(report("b", inventory({gpu("s3"), gpu("s2")})).empty());
}

TEST_F(GpuRegistry, OneSerialFromTwoHostsWithinTheWindowIsDuplicated) {
    report("a", inventory({gpu("s1")}));
    report("b", inventory({gpu("s3")}));
    // a reported it 5 s ago: b's claim is the clone, and only b answers for it.
    EXPECT_EQ(rules(report("b", inventory({gpu("s3"), gpu("s1")}))), (std::vector<std::string>{"gpu-duplicated@b:s1"}));
    EXPECT_TRUE(report("a", inventory({gpu("s1")})).empty());
}

TEST_F(GpuRegistry, OldHostReportingAfterTheWindowIsAMoveBackNotADuplicate) {
    report("a", inventory({gpu("s1")}));
    report("b", inventory({gpu("s3")}));
    report("b", inventory({gpu("s3"), gpu("s1")}));
    now_ += 60;  // b has been silent longer than the window
    const auto fs = report("a", inventory({gpu("s1")}));
    EXPECT_TRUE(std::none_of(fs.begin(), fs.end(), [](const finding_record& f) { return f.rule == "gpu-duplicated"; }));
    {
        auto tx = begin();
        auto g = tx->get_gpu("s1");
        ASSERT_TRUE(g.ok() && g->has_value());
        EXPECT_EQ((*g)->host_id, "a");
    }
    EXPECT_TRUE(open_findings("gpu-missing").empty());  // it came back to a
}

TEST_F(GpuRegistry, SameSerialTwiceInOneInventoryIsDuplicated) {
    EXPECT_EQ(rules(report("a", inventory({gpu("s1"), gpu("s1")}))), (std::vector<std::string>{"gpu-duplicated@a:s1"}));
}

TEST_F(GpuRegistry, GpuUnknownFiresForNamesNotInTheChipTableOnly) {
    EXPECT_TRUE(report("a", inventory({gpu("s1")})).empty());
    EXPECT_EQ(rules(report("a", inventory({gpu("s1"), gpu("s9", "Mystery Accelerator 9000")}))),
              (std::vector<std::string>{"gpu-added@a:s9", "gpu-unknown@a:s9"}));
}

TEST_F(GpuRegistry, InventoryUnverifiedForSysfsMissingSerialsAndReadErrorsResolvedByAGoodInventory) {
    auto fs = report("a", inventory({gpu("")}, "sysfs"));
    ASSERT_EQ(rules(fs), (std::vector<std::string>{"inventory-unverified@a:a"}));
    EXPECT_NE(fs[0].detail.find("sysfs"), std::string::npos);
    EXPECT_TRUE(approvals("a").empty());  // no serials: no baseline yet
    report("a", inventory({gpu("s1")}));
    EXPECT_TRUE(open_findings("inventory-unverified").empty());
    EXPECT_EQ(approvals("a"), (std::vector<std::string>{"s1"}));
    EXPECT_EQ(rules(report("a", inventory({gpu("s1"), gpu("")}))), (std::vector<std::string>{"inventory-unverified@a:a"}));
    attest::report_ext err;
    err.inventory_error = "NVML: nvmlDeviceGetCount_v2 failed";
    report("a", inventory({gpu("s1")}));
    fs = report("a", err);
    ASSERT_EQ(rules(fs), (std::vector<std::string>{"inventory-unverified@a:a"}));
    EXPECT_NE(fs[0].detail.find("could not read"), std::string::npos);
    EXPECT_TRUE(open_findings("gpu-missing").empty());  // an unreadable inventory proves no GPU missing
}

TEST_F(GpuRegistry, ComputeDeltasAddUpPerHostAndPerModel) {
    auto e = inventory({gpu("s1", h100, 1e15), gpu("s2", h100, 2e15)});
    report("a", e);
    e.gpus[0].ops = 4e15;
    e.models = {"llm-1"};
    report("a", e);
    auto tx = begin();
    auto by_host = compute_totals(*tx, "host");
    ASSERT_TRUE(by_host.ok());
    ASSERT_EQ(by_host->size(), 1u);
    EXPECT_DOUBLE_EQ((*by_host)[0].total.ops, 6e15);  // 1e15 + 2e15 first, then +3e15
    auto by_model = compute_totals(*tx, "model");
    ASSERT_TRUE(by_model.ok());
    ASSERT_EQ(by_model->size(), 1u);
    EXPECT_EQ((*by_model)[0].key, "llm-1");
    EXPECT_DOUBLE_EQ((*by_model)[0].total.ops, 3e15);  // only the interval in which llm-1 was handed out
    auto by_country = compute_totals(*tx, "country");
    ASSERT_TRUE(by_country.ok());
    ASSERT_EQ(by_country->size(), 1u);
    EXPECT_EQ((*by_country)[0].key, "KR");
}

TEST_F(GpuRegistry, CountersGoingBackwardsRaiseCounterRollbackAndAddNothing) {
    auto e = inventory({gpu("s1", h100, 5e15)});
    EXPECT_TRUE(report("a", e).empty());
    e.gpus[0].ops = 1e15;
    EXPECT_EQ(rules(report("a", e)), (std::vector<std::string>{"counter-rollback@a:s1"}));
    auto tx = begin();
    auto t = compute_totals(*tx, "host");
    ASSERT_TRUE(t.ok());
    EXPECT_DOUBLE_EQ((*t)[0].total.ops, 5e15);
}

TEST_F(GpuRegistry, ComputeThresholdFiresWhenAModelsTrainingPlusAttributedOpsReachIt) {
    thresholds_.model_ops = 1e26;
    {
        auto tx = begin();
        model_record m;
        m.id = "frontier";
        m.training_ops = 1e26 - 5e15;
        ASSERT_TRUE(tx->put_model(m).ok());
        ASSERT_TRUE(tx->commit().ok());
    }
    auto e = inventory({gpu("s1", h100, 1e15)});
    e.models = {"frontier"};
    EXPECT_TRUE(report("a", e).empty());  // 1e26 - 4e15: below
    e.gpus[0].ops = 7e15;
    const auto fs = report("a", e);  // 1e26 + 2e15
    ASSERT_EQ(rules(fs), (std::vector<std::string>{"compute-threshold@:frontier"}));
    EXPECT_EQ(fs[0].subject_kind, "model");
    EXPECT_TRUE(report("a", e).empty());  // open already
}

TEST_F(GpuRegistry, HostThresholdOffByDefaultAndFiresWhenSet) {
    auto e = inventory({gpu("s1", h100, 1e18)});
    EXPECT_TRUE(report("a", e).empty());
    thresholds_.host_ops = 1e18;
    e.gpus[0].ops = 2e18;
    EXPECT_EQ(rules(report("a", e)), (std::vector<std::string>{"compute-threshold@a:a"}));
}

TEST_F(GpuRegistry, FailingHostWithALeaseLosesItAndRaisesKeyHeldByFailingHost) {
    auto tx = begin();
    ASSERT_TRUE(tx->insert_lease({"l1", "a", "llm-1", "000b00", now_, now_ + 300, 0, ""}).ok());
    ASSERT_TRUE(tx->insert_finding(host_finding("pcr-changed", "a", "PCR 7 changed", now_)).ok());
    auto h = tx->get_host("a");
    host_record rec = **h;
    std::vector<finding_record> raised;
    auto open = refresh_status(*tx, rec, now_, raised);
    ASSERT_TRUE(open.ok());
    EXPECT_EQ(rec.status, "contraindicated");
    ASSERT_EQ(raised.size(), 1u);
    EXPECT_EQ(raised[0].rule, "key-held-by-failing-host");
    EXPECT_NE(raised[0].detail.find("pcr-changed"), std::string::npos);
    auto active = tx->active_leases(std::string("a"), now_);
    ASSERT_TRUE(active.ok());
    EXPECT_TRUE(active->empty());
    auto l = tx->get_lease("l1");
    ASSERT_TRUE(l.ok() && l->has_value());
    EXPECT_NE((*l)->revoked_at, 0);
}

TEST_F(GpuRegistry, AffirmingHostKeepsItsLease) {
    auto tx = begin();
    ASSERT_TRUE(tx->insert_lease({"l1", "a", "llm-1", "000b00", now_, now_ + 300, 0, ""}).ok());
    auto h = tx->get_host("a");
    host_record rec = **h;
    std::vector<finding_record> raised;
    ASSERT_TRUE(refresh_status(*tx, rec, now_, raised).ok());
    EXPECT_TRUE(raised.empty());
    auto active = tx->active_leases(std::string("a"), now_);
    ASSERT_TRUE(active.ok());
    EXPECT_EQ(active->size(), 1u);
}

}  // namespace
}  // namespace custos::verifier

namespace custos::verifier {
namespace {

attest::report_ext hand_out(const std::string& model, std::int64_t time) {
    attest::report_ext e;
    e.events.push_back({"weights-handout", model, "layers/0.bin (3000000 bytes) to uid 1000 pid 42", time});
    return e;
}

TEST_F(GpuRegistry, HandOutsInsideALeaseAreFineOutsideAnyLeaseAViolation) {
    {
        auto tx = begin();
        ASSERT_TRUE(tx->insert_lease({"l1", "a", "llm-1", "000b00", now_, now_ + 300, 0, ""}).ok());
        ASSERT_TRUE(tx->insert_lease({"l2", "a", "llm-2", "000b00", now_ - 1000, now_ - 700, 0, ""}).ok());  // lapsed
        ASSERT_TRUE(tx->commit().ok());
    }
    EXPECT_TRUE(report("a", hand_out("llm-1", now_ + 10)).empty());
    EXPECT_TRUE(report("a", hand_out("llm-2", now_ - 800)).empty());  // while l2 ran
    EXPECT_EQ(rules(report("a", hand_out("llm-2", now_))), (std::vector<std::string>{"weights-handout-unleased@a:llm-2"}));
    EXPECT_EQ(rules(report("a", hand_out("llm-9", now_))), (std::vector<std::string>{"weights-handout-unleased@a:llm-9"}));
    EXPECT_FALSE(report("b", hand_out("llm-1", now_)).empty());  // host b holds no lease for llm-1
}

// ---- The PCI view beside NVML (issue 20)

attest::pci_function pci_fn(const std::string& bus, const std::string& ids, const std::string& cls = "120000") {
    return {bus, ids.substr(0, 4), ids.substr(5), ids.substr(0, 4), "0100", cls, 1};
}

class GpuRegistryPci : public GpuRegistry {
protected:
    // The fleet the policy engine would see now, under bis-guidance-2025-05.
    std::vector<std::string> policy_rules_now() {
        auto tx = begin();
        auto f = snapshot_fleet(*tx, now_);
        EXPECT_TRUE(f.ok()) << (f.ok() ? "" : f.err().message);
        auto p = policy::load_profile("bis-guidance-2025-05");
        EXPECT_TRUE(p.ok());
        const auto e = evaluate_profiles({*p}, *f, policy::chip_table::builtin());
        std::vector<std::string> out;
        for (const auto& x : e.findings) out.push_back(x.rule + "@" + x.subject);
        std::sort(out.begin(), out.end());
        return out;
    }
    std::vector<std::string> fleet_gpus(const std::string& host) {
        auto tx = begin();
        auto f = snapshot_fleet(*tx, now_);
        EXPECT_TRUE(f.ok());
        std::vector<std::string> out;
        for (const auto& h : f->hosts)
            if (h.id == host)
                for (const auto& g : h.gpus) out.push_back(g.serial + "=" + g.chip);
        std::sort(out.begin(), out.end());
        return out;
    }
};

TEST_F(GpuRegistryPci, AscendOnlyOnThePciBusBesideH100sIsAProhibitedChipInTheFleet) {
    auto e = inventory({gpu("s1"), gpu("s2")});
    EXPECT_TRUE(report("a", e).empty());
    EXPECT_TRUE(policy_rules_now().empty());
    // NVML never lists a Huawei card: only the PCI bus shows it.
    e.pci->push_back(pci_fn("0000:c1:00.0", "19e5:d802"));
    auto fs = report("a", e);
    ASSERT_EQ(rules(fs), (std::vector<std::string>{"inventory-unverified@a:a"}));
    EXPECT_NE(fs[0].detail.find("0000:c1:00.0 Ascend-910B"), std::string::npos) << fs[0].detail;
    EXPECT_EQ(fleet_gpus("a"), (std::vector<std::string>{"pci:a/0000:c1:00.0=Ascend-910B", "s1=H100-SXM", "s2=H100-SXM"}));
    EXPECT_EQ(policy_rules_now(), (std::vector<std::string>{"prohibited-chip@a"}));
    // Taken out again: the fleet no longer holds it and the inventory is verified again.
    e.pci->pop_back();
    report("a", e);
    EXPECT_TRUE(open_findings("inventory-unverified").empty());
    EXPECT_TRUE(policy_rules_now().empty());
}

TEST_F(GpuRegistryPci, AHiddenNvidiaCardIsAcceleratorUnreportedUntilNvmlListsIt) {
    auto all = inventory({gpu("s1"), gpu("s2"), gpu("s3")});
    report("a", all);
    // The agent (or a patched driver) leaves s3 out of NVML's list; the bus still has the card.
    auto hidden = all;
    hidden.gpus.pop_back();
    auto fs = report("a", hidden);
    EXPECT_EQ(rules(fs), (std::vector<std::string>{"accelerator-unreported@a:pci:0000:1a:00.0", "gpu-missing@a:s3",
                                                   "inventory-unverified@a:a"}));
    const auto unreported = open_findings("accelerator-unreported");
    ASSERT_EQ(unreported.size(), 1u);
    EXPECT_EQ(unreported[0].severity, "violation");
    EXPECT_NE(unreported[0].detail.find("10de:2330"), std::string::npos) << unreported[0].detail;
    EXPECT_NE(unreported[0].detail.find("H100-SXM"), std::string::npos) << unreported[0].detail;
    // It still counts in the fleet by its PCI chip.
    EXPECT_EQ(fleet_gpus("a"), (std::vector<std::string>{"pci:a/0000:1a:00.0=H100-SXM", "s1=H100-SXM", "s2=H100-SXM",
                                                          "s3=H100-SXM"}));
    report("a", all);
    EXPECT_TRUE(open_findings("accelerator-unreported").empty());
}

TEST_F(GpuRegistryPci, AGpuNvmlListsTwiceAtOneAddressIsAMismatch) {
    auto e = inventory({gpu("s1"), gpu("s2")});
    report("a", e);
    // A fake NVML reports a second serial at the first card's address: the bus holds one card there.
    e.gpus[1].pci_bus_id = e.gpus[0].pci_bus_id;
    e.pci->pop_back();
    auto fs = report("a", e);
    ASSERT_EQ(rules(fs), (std::vector<std::string>{"accelerator-mismatch@a:pci:0000:18:00.0"}));
    EXPECT_NE(fs[0].detail.find("s1, s2"), std::string::npos) << fs[0].detail;
}

TEST_F(GpuRegistryPci, AGpuTheBusDoesNotHaveIsAMismatch) {
    auto e = inventory({gpu("s1"), gpu("s2")});
    report("a", e);
    e.pci->pop_back();  // s2's address is empty on the bus
    EXPECT_EQ(rules(report("a", e)), (std::vector<std::string>{"accelerator-mismatch@a:s2"}));
}

TEST_F(GpuRegistryPci, PciIdsNotTheNameNameTheChip) {
    // NVML calls it an H100; the card answers with an H20's ids.
    auto e = inventory({gpu("s1"), gpu("s2")});
    report("a", e);
    (*e.pci)[1] = pci_fn((*e.pci)[1].bus, "10de:2329", "030200");
    auto fs = report("a", e);
    ASSERT_EQ(rules(fs), (std::vector<std::string>{"accelerator-mismatch@a:s2"}));
    EXPECT_NE(fs[0].detail.find("counts it as H20"), std::string::npos) << fs[0].detail;
    EXPECT_EQ(fleet_gpus("a"), (std::vector<std::string>{"s1=H100-SXM", "s2=H20"}));
}

TEST_F(GpuRegistryPci, NvmlClaimingAnotherVendorsCardLeavesItCountedByItsIds) {
    // A fake NVML lists an "H100" at the Ascend's address, to claim the card away from the PCI view.
    auto e = inventory({gpu("s1"), gpu("s2")});
    report("a", e);
    (*e.pci)[1] = pci_fn((*e.pci)[1].bus, "19e5:d802");
    auto fs = report("a", e);
    ASSERT_EQ(rules(fs), (std::vector<std::string>{"accelerator-mismatch@a:s2", "inventory-unverified@a:a"}));
    EXPECT_NE(fs[0].detail.find("never lists another vendor's card"), std::string::npos) << fs[0].detail;
    EXPECT_EQ(fleet_gpus("a"), (std::vector<std::string>{"pci:a/0000:19:00.0=Ascend-910B", "s1=H100-SXM", "s2=H100-SXM"}));
    EXPECT_EQ(policy_rules_now(), (std::vector<std::string>{"prohibited-chip@a"}));
}

TEST_F(GpuRegistryPci, AnNvmlGpuWithoutASerialDoesNotHideTheCardAtItsAddress) {
    auto e = inventory({gpu("s1")});
    report("a", e);
    // The Ascend's address, listed by NVML as a serial-less GPU of no known name.
    e.pci->push_back(pci_fn("0000:c1:00.0", "19e5:d802"));
    attest::gpu_report ghost = gpu("", "x");
    ghost.pci_bus_id = "00000000:C1:00.0";
    e.gpus.push_back(ghost);
    report("a", e);
    EXPECT_EQ(policy_rules_now(), (std::vector<std::string>{"prohibited-chip@a"}));
    EXPECT_FALSE(open_findings("accelerator-mismatch").empty());
}

TEST_F(GpuRegistryPci, AnAmdCardCountsByItsIdsAndAnUnknownOneIsNamedByThem) {
    auto e = inventory({gpu("s1")});
    report("a", e);
    e.pci->push_back(pci_fn("0000:c1:00.0", "1002:74a1"));  // MI300X
    e.pci->push_back(pci_fn("0000:c2:00.0", "1e52:0a01"));  // an accelerator the table does not know
    e.pci->push_back(pci_fn("0000:03:00.0", "1a03:2000", "030000"));  // the BMC's VGA: set aside
    auto fs = report("a", e);
    EXPECT_EQ(rules(fs), (std::vector<std::string>{"gpu-unknown@a:pci:0000:c2:00.0", "inventory-unverified@a:a"}));
    const auto unknown = open_findings("gpu-unknown");
    ASSERT_EQ(unknown.size(), 1u);
    EXPECT_NE(unknown[0].detail.find("1e52:0a01"), std::string::npos) << unknown[0].detail;
    EXPECT_EQ(fleet_gpus("a"), (std::vector<std::string>{"pci:a/0000:c1:00.0=MI300X", "pci:a/0000:c2:00.0=unknown",
                                                          "s1=H100-SXM"}));
}

TEST_F(GpuRegistryPci, NoPciViewLeavesTheInventoryUnverified) {
    // An Ascend is on the bus; then the agent stops sending the view.
    auto e = inventory({gpu("s1")});
    e.pci->push_back(pci_fn("0000:c1:00.0", "19e5:d802"));
    report("a", e);
    EXPECT_EQ(policy_rules_now(), (std::vector<std::string>{"prohibited-chip@a"}));
    e.pci.reset();
    auto fs = report("a", e);
    ASSERT_EQ(rules(fs), (std::vector<std::string>{"accelerator-unreported@a:pci", "inventory-unverified@a:a"}));
    EXPECT_NE(fs[1].detail.find("no PCI view"), std::string::npos) << fs[1].detail;
    // What the last view showed stands: the Ascend is still counted.
    EXPECT_EQ(policy_rules_now(), (std::vector<std::string>{"prohibited-chip@a"}));
    e.pci_error = "PCI sysfs /sys/bus/pci/devices: Permission denied";
    fs = report("a", e);
    ASSERT_EQ(rules(fs), (std::vector<std::string>{"inventory-unverified@a:a"}));  // accelerator-unreported stays open
    EXPECT_NE(fs[0].detail.find("Permission denied"), std::string::npos) << fs[0].detail;
    EXPECT_EQ(open_findings("accelerator-unreported").size(), 1u);
}

}  // namespace
}  // namespace custos::verifier
