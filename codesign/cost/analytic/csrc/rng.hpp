// timeloop_random.py in C++: libstdc++'s minstd_rand0 through uniform_int_distribution<uint64_t>, bit for bit.
//
// Written out rather than taken from <random> so that the draws do not depend on which standard library
// builds this file (libc++ scales ranges differently); the Python module documents the algorithm.
#pragma once

#include <cstdint>

namespace codesign {

using u64 = std::uint64_t;
using u128 = unsigned __int128;

constexpr u64 MODULUS = 2147483647;  // minstd_rand0: x <- 16807 x mod (2^31 - 1)
constexpr u64 MULTIPLIER = 16807;
constexpr u64 ENGINE_MIN = 1;
constexpr u64 ENGINE_RANGE = MODULUS - 2;  // max - min

// Division by an invariant divisor without a divide instruction where possible: a shift for powers of two,
// else one multiplication (Lemire, Kaser & Kurz 2019: exact for numerators and divisors below 2^32).
struct Divider {
    u64 d = 1, m = 0;
    int shift = 0;
    bool pow2 = true;
    Divider() = default;
    explicit Divider(u64 divisor) : d(divisor) {
        pow2 = divisor != 0 && (divisor & (divisor - 1)) == 0;
        while (pow2 && (u64(1) << shift) < divisor) ++shift;
        if (!pow2 && divisor < (u64(1) << 32)) m = ~u64(0) / divisor + 1;
    }
    u64 div(u64 n) const {
        if (pow2) return n >> shift;
        if (m && n < (u64(1) << 32)) return static_cast<u64>((static_cast<u128>(m) * n) >> 64);
        return n / d;
    }
};

struct MinStdRand0 {
    u64 state = 1;
    u64 operator()() { return state = state * MULTIPLIER % MODULUS; }
};

// libstdc++'s uniform_int_distribution<uint64_t>(low, high)(engine), in its unsigned 64-bit arithmetic.
inline u64 uniform_int(MinStdRand0& engine, u64 low, u64 high) {
    const u64 span = high - low;
    if (span < ENGINE_RANGE) {
        const u64 buckets = span + 1;
        const u64 scaling = ENGINE_RANGE / buckets;
        const u64 past = buckets * scaling;
        u64 value;
        do value = engine() - ENGINE_MIN;
        while (value >= past);
        return low + value / scaling;
    }
    if (span == ENGINE_RANGE) return low + (engine() - ENGINE_MIN);
    const u64 step = ENGINE_RANGE + 1;
    while (true) {
        const u64 base = step * uniform_int(engine, 0, span / step);  // the high part is drawn first
        const u64 value = base + (engine() - ENGINE_MIN);
        if (value <= span && value >= base) return low + value;
    }
}

// Timeloop's RandomGenerator128(bound): uniform integers in [0, bound), its own engine.
struct RandomGenerator128 {
    MinStdRand0 engine;
    bool two;
    u64 low_high, high_high;
    // Ranges below the engine's (the usual case): uniform_int's scaling, worked out once.
    bool down = false;
    u64 past = 0;
    Divider scaling;

    explicit RandomGenerator128(u128 bound) {
        const u128 u64max = ~u64(0);
        two = bound > u64max;
        low_high = two ? ~u64(0) : static_cast<u64>(bound - 1);
        high_high = static_cast<u64>(bound / u64max - 1);
        if (!two && low_high < ENGINE_RANGE) {
            const u64 buckets = low_high + 1;
            down = true;
            scaling = Divider(ENGINE_RANGE / buckets);
            past = buckets * scaling.d;
        }
    }

    u128 next() {
        if (down) {
            u64 value;
            do value = engine() - ENGINE_MIN;
            while (value >= past);
            return scaling.div(value);
        }
        const u64 low = uniform_int(engine, 0, low_high);
        if (!two) return low;
        return static_cast<u128>(low) + static_cast<u128>(uniform_int(engine, 0, high_high)) * (~u64(0));
    }
};

}  // namespace codesign
