// A hand-made sysfs tree for the agent's PCI view: <root>/bus/pci/devices/<bus>/{vendor,device,class,
// subsystem_vendor,subsystem_device,numa_node}, written as the kernel writes them ("0x10de\n").
#pragma once

#include <filesystem>
#include <fstream>
#include <string>

namespace custos::test {

class fake_sysfs {
public:
    explicit fake_sysfs(std::filesystem::path root) : root_(std::move(root)) {
        std::filesystem::create_directories(devices());
    }
    const std::filesystem::path& root() const { return root_; }
    std::filesystem::path devices() const { return root_ / "bus" / "pci" / "devices"; }

    // One function. `cls` is six hex digits ("030200": a 3D controller); numa -1 is "no NUMA node".
    fake_sysfs& add(const std::string& bus, const std::string& vendor, const std::string& device, const std::string& cls,
                    int numa = 0, const std::string& sub_vendor = "", const std::string& sub_device = "") {
        const std::filesystem::path d = devices() / bus;
        std::filesystem::create_directories(d);
        put(d / "vendor", "0x" + vendor);
        put(d / "device", "0x" + device);
        put(d / "class", "0x" + cls);
        put(d / "subsystem_vendor", "0x" + (sub_vendor.empty() ? vendor : sub_vendor));
        put(d / "subsystem_device", "0x" + (sub_device.empty() ? "16c1" : sub_device));
        put(d / "numa_node", std::to_string(numa));
        return *this;
    }
    void remove(const std::string& bus) { std::filesystem::remove_all(devices() / bus); }

    // Common cards.
    fake_sysfs& h100(const std::string& bus, int numa = 0) { return add(bus, "10de", "2330", "030200", numa, "10de", "16c1"); }
    fake_sysfs& ascend_910b(const std::string& bus, int numa = 1) { return add(bus, "19e5", "d802", "120000", numa, "19e5", "0100"); }
    fake_sysfs& mi300x(const std::string& bus, int numa = 1) { return add(bus, "1002", "74a1", "120000", numa, "1002", "74a1"); }
    fake_sysfs& bmc_vga(const std::string& bus = "0000:03:00.0") { return add(bus, "1a03", "2000", "030000", -1, "15d9", "1d50"); }
    fake_sysfs& bridge(const std::string& bus = "0000:00:1f.0") { return add(bus, "8086", "7a84", "060100", -1); }

private:
    static void put(const std::filesystem::path& p, const std::string& v) { std::ofstream(p) << v << "\n"; }
    std::filesystem::path root_;
};

}  // namespace custos::test
