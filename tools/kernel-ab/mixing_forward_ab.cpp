// Two builds of libCircuitsNative.so timed on the scaled-linear mixing forward kernel (circuits_mixing_scaled_forward)
// in one process: both libraries loaded side by side (dlopen, RTLD_LOCAL), called alternately on the same inputs — a
// mixing layer of a PD-CP K=16 step's shape, batch 256, its slots' (B, K + 1) rows spread over a source three times
// the layer's size in shuffled order, as the layer reads them in place — with the caches flushed before every call
// (the layer's inputs come from memory in a training step too). Prints the median time of each, their ratio, and
// whether the two outputs are the same bits. docs/benchmarks.md records its results.
//
//   g++ -O2 -std=c++17 tools/kernel-ab/mixing_forward_ab.cpp -ldl -o /tmp/mixing-ab
//   /tmp/mixing-ab A/libCircuitsNative.so B/libCircuitsNative.so [folds arity]   (default 115 4)
#include <dlfcn.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <vector>

namespace {

typedef int32_t (*MixingForward)(const float* const* rows, int64_t batch, int64_t k, const uint8_t* mask, const float* w,
                                 int64_t folds, int64_t arity, float* y, float* factors, float* maxima, int64_t foldBegin,
                                 int64_t foldEnd);

MixingForward Load(const char* path) {
    void* library = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (library == nullptr) {
        std::fprintf(stderr, "cannot load %s: %s\n", path, dlerror());
        std::exit(2);
    }
    auto kernel = reinterpret_cast<MixingForward>(dlsym(library, "circuits_mixing_scaled_forward"));
    if (kernel == nullptr) {
        std::fprintf(stderr, "%s has no circuits_mixing_scaled_forward\n", path);
        std::exit(2);
    }
    return kernel;
}

double Median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 3 && argc != 5) {
        std::fprintf(stderr, "usage: %s A.so B.so [folds arity]\n", argv[0]);
        return 2;
    }
    MixingForward a = Load(argv[1]), b = Load(argv[2]);
    const int64_t folds = argc == 5 ? std::atoll(argv[3]) : 115, arity = argc == 5 ? std::atoll(argv[4]) : 4;
    const int64_t batch = 256, k = 16, width = k + 1, sourceRows = 3 * folds * arity;
    if (folds <= 0 || arity <= 0) return 2;

    // Scaled-linear rows: linear values with a maximum of 1, log-scales in (−5, 0].
    std::mt19937 rng(1);
    std::uniform_real_distribution<float> uniform(0.0f, 1.0f);
    std::vector<float> source(sourceRows * batch * width);
    for (int64_t r = 0; r < sourceRows * batch; r++) {
        float* row = &source[r * width];
        float largest = 0.0f;
        for (int64_t i = 0; i < k; i++) largest = std::max(largest, row[i] = uniform(rng));
        for (int64_t i = 0; i < k; i++) row[i] /= largest;
        row[k] = -5.0f * uniform(rng);
    }
    std::vector<int64_t> order(sourceRows);
    for (int64_t i = 0; i < sourceRows; i++) order[i] = i;
    std::shuffle(order.begin(), order.end(), rng);
    std::vector<const float*> rows(folds * arity);
    for (int64_t s = 0; s < folds * arity; s++) rows[s] = &source[order[s] * batch * width];
    std::vector<float> w(folds * arity * k);
    for (float& v : w) v = uniform(rng);

    std::vector<float> ya(folds * batch * width), yb(ya.size()), fa(folds * arity * batch), fb(fa.size()),
        ma(folds * batch), mb(ma.size());
    std::vector<double> ta, tb;
    std::vector<char> flush(64 << 20);
    for (int round = 0; round < 40; round++)
        for (int turn = 0; turn < 2; turn++) {
            for (size_t i = 0; i < flush.size(); i += 64) flush[i]++;
            bool first = (turn ^ (round & 1)) == 0;   // alternate which goes first
            auto start = std::chrono::steady_clock::now();
            if (first) a(rows.data(), batch, k, nullptr, w.data(), folds, arity, ya.data(), fa.data(), ma.data(), 0, folds);
            else b(rows.data(), batch, k, nullptr, w.data(), folds, arity, yb.data(), fb.data(), mb.data(), 0, folds);
            double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
            (first ? ta : tb).push_back(ms);
        }
    bool same = std::memcmp(ya.data(), yb.data(), ya.size() * sizeof(float)) == 0 &&
                std::memcmp(fa.data(), fb.data(), fa.size() * sizeof(float)) == 0 &&
                std::memcmp(ma.data(), mb.data(), ma.size() * sizeof(float)) == 0;
    double mediaA = Median(ta), mediaB = Median(tb);
    std::printf("folds %ld arity %ld batch %ld K %ld: A %.3f ms, B %.3f ms, B / A %.3f, same bits: %s\n", (long)folds,
                (long)arity, (long)batch, (long)k, mediaA, mediaB, mediaB / mediaA, same ? "yes" : "NO");
    return same ? 0 : 1;
}
