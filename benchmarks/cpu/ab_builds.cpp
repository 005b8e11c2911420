// Two builds of libpolicyloss side by side in one process: the CPU kernel on the same bf16 rows, calls alternating
// between the builds, so that the noise of a shared machine falls on both alike.  Prints, per kind of logits and
// clamp mode, each build's fastest and median call and the ratio of the fastest, in a Markdown table.  One mode
// is the loss without dlogits (phase A alone: the statistics and the loss); the others write dlogits too.
//
//   ab_builds LIB_A LIB_B ROWS REPS VOCAB [SOFTCAP]   (ab_builds.sh builds the two libraries and runs this)
//
// SOFTCAP: the logits' softcap c of SPEC (y = c tanh(z / c)); 0, the default, for none.  With one, every mode also
// takes tanh and its slope, the code a softcapped model (Gemma 2: 30) runs.
#include <dlfcn.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <random>
#include <vector>

#include "policyloss.h"

namespace {

struct Library {
    void (*params_init)(pl_loss_params *);
    void (*args_init)(pl_loss_args *);
    pl_status (*fused_loss)(const pl_loss_params *, const pl_loss_args *);
    const char *(*last_error)();

    explicit Library(const char *path) {
        void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);  // local: the two builds' symbols never meet
        if (!h) {
            std::fprintf(stderr, "%s\n", dlerror());
            std::exit(2);
        }
        params_init = (decltype(params_init))dlsym(h, "pl_loss_params_init");
        args_init = (decltype(args_init))dlsym(h, "pl_loss_args_init");
        fused_loss = (decltype(fused_loss))dlsym(h, "pl_fused_loss");
        last_error = (decltype(last_error))dlsym(h, "pl_last_error");
    }
};

uint16_t to_bf16(float f) {
    uint32_t u;
    std::memcpy(&u, &f, 4);
    return (uint16_t)((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}

// Kinds of rows: spread as real logits are, a few far above the rest, a fresh model's near-uniform ones, and the
// crowded rows of ties where a radix select meets runs of equal keys.
struct Kind {
    const char *name;
    std::function<float(std::mt19937 &, int64_t column)> logit;
};

std::vector<Kind> kinds() {
    auto normal = [](std::mt19937 &g) { return std::normal_distribution<float>(0.0f, 1.0f)(g); };
    return {
        {"normal N(0, 4)", [=](std::mt19937 &g, int64_t) { return 2.0f * normal(g); }},
        {"peaked: 100 at +20", [=](std::mt19937 &g, int64_t j) { return 2.0f * normal(g) + (j < 100 ? 20.0f : 0.0f); }},
        {"fresh N(0, 0.02^2)", [=](std::mt19937 &g, int64_t) { return 0.02f * normal(g); }},
        {"ties: 8 integers", [](std::mt19937 &g, int64_t) {
             const float v = (float)((int)(g() % 8) - 4);
             return v == 0.0f && (g() & 1) ? -0.0f : v;
         }},
        {"ties: 99% zeros", [=](std::mt19937 &g, int64_t j) { return j % 97 == 0 ? normal(g) : 0.0f; }},
    };
}

}  // namespace

int main(int argc, char **argv) {
    if (argc != 6 && argc != 7) {
        std::fprintf(stderr, "usage: ab_builds LIB_A LIB_B ROWS REPS VOCAB [SOFTCAP]\n");
        return 2;
    }
    Library lib[2] = {Library(argv[1]), Library(argv[2])};
    const int64_t n = std::atoll(argv[3]);
    const int reps = std::atoi(argv[4]);
    const int64_t vocab = std::atoll(argv[5]);
    const float softcap = argc == 7 ? std::strtof(argv[6], nullptr) : 0.0f;
    std::mt19937 g(1);
    std::vector<uint16_t> logits((size_t)(n * vocab)), dlogits(logits.size());
    std::vector<int32_t> target(n);
    std::vector<float> old_logp(n, -3.0f), advantage(n), weight(n, 1.0f);
    for (int64_t i = 0; i < n; ++i) {
        target[i] = (int32_t)(g() % vocab);
        advantage[i] = std::normal_distribution<float>(0.0f, 1.0f)(g);
    }
    // The first mode is the others' base: their time over its time is the last two columns.
    const char *mode_names[] = {"entropy", "entropy, no dlogits", "TOKEN_FRACTION", "PROBABILITY_MASS"};
    std::printf("| logits | mode | A fastest (ms) | B fastest (ms) | A median | B median | B / A | A / A entropy | "
                "B / B entropy |\n| --- | --- | --- | --- | --- | --- | --- | --- | --- |\n");
    for (const Kind &kind : kinds()) {
        for (int64_t i = 0; i < n; ++i)
            for (int64_t j = 0; j < vocab; ++j) logits[(size_t)(i * vocab + j)] = to_bf16(kind.logit(g, j));
        double entropy_fastest[2] = {0, 0};
        for (int mode = 0; mode < 4; ++mode) {
            std::vector<double> ms[2];
            for (int r = 0; r < 2 * reps; ++r) {
                const int b = (r + r / 2) % 2;  // A B B A A B ...: neither build always goes first
                pl_loss_params p;
                lib[b].params_init(&p);
                p.num_threads = 1;
                p.entropy_coef = 0.001f;
                p.softcap = softcap;
                if (mode > 1) {
                    p.clamp_p = 0.33f;
                    p.clamp_mode = mode == 2 ? PL_CLAMP_TOKEN_FRACTION : PL_CLAMP_PROBABILITY_MASS;
                    p.clamped_entropy_coef = 0.01f;
                }
                pl_loss_args a;
                lib[b].args_init(&a);
                a.n_rows = n;
                a.vocab = a.ld = a.ld_dlogits = vocab;
                a.logits_dtype = a.dlogits_dtype = PL_BF16;
                a.logits = logits.data();
                a.dlogits = mode != 1 ? dlogits.data() : nullptr;
                a.target_dtype = PL_I32;
                a.target = target.data();
                a.old_logp = old_logp.data();
                a.advantage = advantage.data();
                a.weight = weight.data();
                a.device = -1;
                const auto start = std::chrono::steady_clock::now();
                if (lib[b].fused_loss(&p, &a) != PL_OK) {
                    std::fprintf(stderr, "build %c: %s\n", 'A' + b, lib[b].last_error());
                    return 1;
                }
                const std::chrono::duration<double, std::milli> took = std::chrono::steady_clock::now() - start;
                ms[b].push_back(took.count());
            }
            for (auto &v : ms) std::sort(v.begin(), v.end());
            if (mode == 0) entropy_fastest[0] = ms[0][0], entropy_fastest[1] = ms[1][0];
            std::printf("| %s | %s | %.1f | %.1f | %.1f | %.1f | %.2f | %.2f | %.2f |\n", kind.name, mode_names[mode],
                        ms[0][0], ms[1][0], ms[0][reps / 2], ms[1][reps / 2], ms[1][0] / ms[0][0],
                        ms[0][0] / entropy_fastest[0], ms[1][0] / entropy_fastest[1]);
            std::fflush(stdout);
        }
    }
    return 0;
}
