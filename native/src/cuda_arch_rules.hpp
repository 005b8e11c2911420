// Whether a build's CUDA code runs on a device, by CUDA's compatibility rules, so that a device the build has no
// kernels for (a T4 or a V100 next to the default sm_80 / sm_90 build) is named as such before a launch, rather
// than left to CUDA's "no kernel image is available for execution on the device".  Plain C++: the rules are tested
// without a GPU (native/tests/test_arch_rules.cpp).
#pragma once
#include <string_view>

namespace pl {

// Whether code built for the CMake CUDA architectures `archs` (comma-separated, as cuda_archs() gives them:
// "80-real, 90-real, 90-virtual") runs on a device of compute capability major.minor:
//  - a cubin for sm_XY ("XY-real") runs on X.Z for Z >= Y, the same major version only;
//  - PTX for compute_XY ("XY-virtual") is compiled by the driver for X.Y and every later compute capability;
//  - "XY" alone is both;
//  - an architecture-specific target ("90a") runs on X.Y alone, a family-specific one ("100f") on X.Z for Z >= Y.
// A list holding an entry these rules do not cover ("native", "all", "all-major") is taken to run: CUDA says at
// launch what is missing.
inline bool archs_run_on(std::string_view archs, int major, int minor) {
    const int device = major * 10 + minor;
    bool runs = false;
    while (!archs.empty()) {
        const size_t comma = archs.find(',');
        std::string_view entry = archs.substr(0, comma);
        archs = comma == std::string_view::npos ? std::string_view() : archs.substr(comma + 1);
        while (!entry.empty() && entry.front() == ' ') entry.remove_prefix(1);
        while (!entry.empty() && entry.back() == ' ') entry.remove_suffix(1);
        int arch = 0;
        size_t digits = 0;
        for (; digits < entry.size() && entry[digits] >= '0' && entry[digits] <= '9'; ++digits)
            arch = arch * 10 + (entry[digits] - '0');
        if (digits == 0 || digits > 3) return true;
        entry.remove_prefix(digits);
        char variant = 0;
        if (!entry.empty() && (entry.front() == 'a' || entry.front() == 'f')) {
            variant = entry.front();
            entry.remove_prefix(1);
        }
        bool cubin = true, ptx = true;
        if (entry == "-real") ptx = false;
        else if (entry == "-virtual") cubin = false;
        else if (!entry.empty()) return true;
        const bool same_major = arch / 10 == major && device >= arch;
        if (variant == 'a') runs |= device == arch;
        else if (variant == 'f') runs |= same_major;
        else runs |= (cubin && same_major) || (ptx && device >= arch);
    }
    return runs;
}

}  // namespace pl
