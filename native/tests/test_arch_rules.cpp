// CUDA's compatibility rules as archs_run_on reads them (src/cuda_arch_rules.hpp), on the GPUs users bring, and
// on the architecture list this build reports, which a device call checks before it launches anything.
#include <cstdio>
#include <string>

#include "cuda_arch_rules.hpp"
#include "policyloss.h"

static int g_passed = 0, g_failed = 0;

static void expect(const char *archs, int major, int minor, bool runs) {
    if (pl::archs_run_on(archs, major, minor) == runs) {
        ++g_passed;
    } else {
        ++g_failed;
        std::printf("FAIL: \"%s\" on compute capability %d.%d: expected %s\n", archs, major, minor,
                    runs ? "runs" : "does not run");
    }
}

// The default build: cubins for sm_80 and sm_90, PTX for compute_90.
static void test_default_architectures() {
    const char *archs = "80-real, 90-real, 90-virtual";
    expect(archs, 7, 0, false);  // V100
    expect(archs, 7, 5, false);  // T4, RTX 20xx
    expect(archs, 8, 0, true);   // A100
    expect(archs, 8, 6, true);   // A10, RTX 30xx: the sm_80 cubin
    expect(archs, 8, 9, true);   // L4, L40S, RTX 40xx
    expect(archs, 9, 0, true);   // H100, H200
    expect(archs, 10, 0, true);  // B200: the compute_90 PTX
    expect(archs, 12, 0, true);  // RTX 50xx
}

static void test_cubins_and_ptx() {
    expect("80-real, 90-real", 10, 0, false);  // no PTX: nothing for a later major version
    expect("80-real, 90-real", 8, 6, true);
    expect("90-real", 8, 6, false);            // a cubin never runs on an earlier compute capability
    expect("86-real", 8, 0, false);
    expect("86-real", 8, 9, true);
    expect("80", 12, 0, true);                 // "80" is the cubin and the PTX
    expect("80-virtual", 8, 0, true);
    expect("80-virtual", 7, 5, false);
    expect("75-real,80-real", 7, 5, true);     // with or without spaces
    expect("", 9, 0, false);                   // nothing built
}

static void test_specific_targets() {
    expect("90a-real", 9, 0, true);
    expect("90a-real", 10, 0, false);  // architecture-specific: that compute capability alone
    expect("90a-virtual", 10, 0, false);
    expect("100f-real", 10, 3, true);  // family-specific: the same major version, later minor
    expect("100f-real", 12, 0, false);
    expect("120-real", 12, 1, true);
}

// Entries the rules do not cover leave the launch to say what is missing, instead of refusing a device.
static void test_unknown_entries_run() {
    expect("native", 7, 5, true);
    expect("all-major", 7, 5, true);
    expect("80-real, 90-bogus", 7, 5, true);
    expect("1000-real", 7, 5, true);
}

// The list in pl_build_info ("cuda (80-real, 90-real, 90-virtual)") is what device calls check: in the default
// build it must run on the GPUs this project measures on and refuse a T4.
static void test_this_build() {
    const std::string info = pl_build_info();
    const size_t at = info.find("cuda (");
    if (at == std::string::npos) {
        std::printf("this build has no CUDA backend: no architecture list to check\n");
        return;
    }
    const std::string archs = info.substr(at + 6, info.find(')', at) - at - 6);
    std::printf("this build: %s\n", archs.c_str());
    if (archs != "80-real, 90-real, 90-virtual") return;  // a configured PL_CUDA_ARCHITECTURES: its own business
    expect(archs.c_str(), 9, 0, true);
    expect(archs.c_str(), 8, 0, true);
    expect(archs.c_str(), 7, 5, false);
}

int main() {
    test_default_architectures();
    test_cubins_and_ptx();
    test_specific_targets();
    test_unknown_entries_run();
    test_this_build();
    std::printf("%d passed, %d failed\n", g_passed, g_failed);
    return g_failed == 0 ? 0 : 1;
}
