// timeloop-mapper's random-pruned search, one thread after another: how random_pruned.py is made fast.
//
// What a thread does (which IDs it draws, how Timeloop's counters, "is better" and its stop rules work) is
// documented in random_pruned.py and timeloop_mapspace.py; this file walks the same IDs in the same order
// with the same counters, one mapping ID at a time. The speed comes from three things the reference cannot
// do cheaply in NumPy:
//   * decoding an IndexFactorization, a permutation and a split costs a few dozen integer operations, and
//     IDs that fail construction or a capacity check are counted without building a loop nest;
//   * each distinct loop nest of the layer is evaluated once (all threads share the memo) and every keep
//     choice is priced from the same access counts;
//   * a group (IF, permutation, split) is not evaluated at all when no keep choice can beat the thread's
//     best: with delay the first metric, a mapping whose compute cycles alone are more than Timeloop's
//     0.1 % tolerance above the best's cycles is "worse" whatever its energy (stretched cycles are never
//     below compute cycles, and the relative gain only falls as cycles grow, in floating point too).
//     The logging mode evaluates everything, since the log prints every valid mapping's energy.
// Several price variants (accelerators with this mapspace but other per-action energies or bandwidth) walk
// together: shared IDs, validity and access counts; each variant has its own best, counters and stop.
#pragma once

#include <algorithm>
#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "nest.hpp"
#include "rng.hpp"

namespace codesign {

constexpr int MAXL = 8;  // tiling levels
constexpr double TOLERANCE = 0.001;
enum Part { CANONICAL = 0, UNIT = 1, PREFIX = 2, FREE = 3, SUFFIX = 4 };
enum Metric { DELAY = 0, ENERGY = 1, EDP = 2 };
enum Stop { RUNNING = 0, TIMEOUT = 1, VICTORY = 2, EXHAUSTED = 3 };

// Timeloop's mapspace of one layer (timeloop_mapspace.Mapspace), in the mapspace's own dimension order.
struct Space {
    int ndims = 0, nlevels = 0;
    std::vector<int64_t> table[NDIM];  // per dimension: options x nlevels factors
    int64_t options[NDIM] = {};
    bool prune[MAXL] = {};
    int part[MAXL][NDIM] = {};
    int rank[MAXL][NDIM] = {};
    int spatial_level = -1;
    int fixed_split = -1;
    int64_t fanout_x = 1, fanout_y = 1;
    int nstorage = 0;
    int temporal_of[MAXS] = {};
    int64_t capacity[MAXS] = {};  // -1: none
    int our_dim[NDIM] = {};       // mapspace dimension -> nest.py's dimension
    int level_nest[MAXL] = {};    // tiling level -> nest level
    bool level_spatial[MAXL] = {};
    int64_t if_size = 0;
    u128 lp_size_full = 1;

    // Derived once (prepare): each level's constrained dimensions in pattern order, and the projections as
    // sparse integer terms for the capacity checks.
    bool canonical[MAXL] = {};
    int nprefix[MAXL] = {}, prefix[MAXL][NDIM] = {}, nsuffix[MAXL] = {}, suffix[MAXL][NDIM] = {};
    struct Term {
        int dim;
        int64_t coef;
    };
    int nterms[NT][MAXC] = {};
    Term terms[NT][MAXC][NDIM];
    unsigned free_mask[MAXL] = {};  // dimensions the level's permutation moves (before pruning unit factors)
    // One cache line per factorization row of a dimension: what decoding an IF reads.
    struct alignas(64) Row {
        uint64_t unit_word;             // bit 8 lv + d: the factor at level lv is 1
        int32_t inner[MAXS - 2];        // product of the factors at or inside each storage level
        int32_t factor[MAXL];
    };
    std::vector<Row> rows[NDIM];
    Divider by_options[NDIM];

    void prepare(const Problem& pb) {
        for (int d = 0; d < ndims; ++d) {
            const int64_t n = options[d];
            by_options[d] = Divider(static_cast<u64>(n));
            rows[d].assign(n, Row{});
            for (int64_t r = 0; r < n; ++r) {
                const int64_t* row = table[d].data() + r * nlevels;
                Row& out = rows[d][r];
                for (int lv = 0; lv < nlevels; ++lv) {
                    out.factor[lv] = static_cast<int32_t>(row[lv]);
                    if (row[lv] == 1) out.unit_word |= uint64_t(1) << (8 * lv + d);
                }
                int64_t running = 1;
                int lv = 0;
                for (int st = 0; st < nstorage; ++st) {
                    while (lv <= temporal_of[st]) running *= row[lv++];
                    out.inner[st] = static_cast<int32_t>(running);
                }
            }
        }
        for (int lv = 0; lv < nlevels; ++lv)
            for (int d = 0; d < ndims; ++d)
                if (part[lv][d] == FREE) free_mask[lv] |= 1u << d;
        for (int lv = 0; lv < nlevels; ++lv) {
            canonical[lv] = true;
            for (int d = 0; d < ndims; ++d) canonical[lv] &= part[lv][d] == CANONICAL;
            for (int which : {PREFIX, SUFFIX}) {  // the constraint's dimensions by their rank
                int* out = which == PREFIX ? prefix[lv] : suffix[lv];
                int& n = which == PREFIX ? nprefix[lv] : nsuffix[lv];
                for (int d = 0; d < ndims; ++d)
                    if (part[lv][d] == which) out[n++] = d;
                std::sort(out, out + n, [&](int x, int y) { return rank[lv][x] < rank[lv][y]; });
            }
        }
        for (int t = 0; t < NT; ++t)
            for (int c = 0; c < pb.ncoord[t]; ++c)
                for (int d = 0; d < NDIM; ++d)
                    if (pb.a[t][c][d] != 0)
                        terms[t][c][nterms[t][c]++] = Term{d, static_cast<int64_t>(pb.a[t][c][d])};
    }
};

struct Settings {
    int threads = 1;
    int64_t timeout = 0, victory = 0, max_permutations = 1;
    int nmetrics = 0;
    int metrics[4] = {};
};

// The k-th lexicographic permutations of range(n) for n <= 7 (Factoradic::Permute), built once.
struct Permutations {
    std::vector<int8_t> table[NDIM + 1];
    Permutations() {
        for (int n = 0; n <= NDIM; ++n) {
            std::vector<int8_t> p(n);
            for (int i = 0; i < n; ++i) p[i] = static_cast<int8_t>(i);
            do table[n].insert(table[n].end(), p.begin(), p.end());
            while (std::next_permutation(p.begin(), p.end()));
        }
    }
    const int8_t* get(int n, int64_t k) const { return table[n].data() + k * n; }
};

inline const Permutations& permutations() {
    static const Permutations perms;
    return perms;
}

// One decoded IndexFactorization: its factorization rows, unit factors, permutation radices, splits and
// capacity checks. Factors are read from the tables when a permutation or a nest needs them.
struct IfDecoded {
    const Space* sp = nullptr;
    int64_t rows[NDIM];
    const Space::Row* row[NDIM];
    unsigned unit[MAXL];  // dimensions whose factor at the level is 1 and that the level prunes
    int64_t radix[MAXL];
    u128 lp_size;
    bool lp64;  // permutation IDs fit 64 bits (always, short of huge unconstrained mapspaces)
    int split_base, nsplits;
    uint64_t ok;  // bit k: keep choice k fits every buffer
    bool hopeless;
    int nvalid;              // keep choices that fit
    bool valid_after_first;  // some keep choice but the first fits

    int64_t factor(int lv, int d) const { return row[d]->factor[lv]; }

    // Multiply-accumulate steps one PE runs (the product of the temporal factors): a floor on cycles.
    mutable double cc = 0;
    double compute_cycles() const {
        if (cc == 0) {
            int64_t product = 1;
            for (int lv = 0; lv < sp->nlevels; ++lv)
                if (!sp->level_spatial[lv])
                    for (int d = 0; d < sp->ndims; ++d) product *= factor(lv, d);
            cc = static_cast<double>(product);
        }
        return cc;
    }
};

inline int bits8(unsigned x) {  // set bits of a byte (no popcount instruction assumed)
    x = x - ((x >> 1) & 0x55u);
    x = (x & 0x33u) + ((x >> 2) & 0x33u);
    return static_cast<int>((x + (x >> 4)) & 0x0Fu);
}

inline int64_t factorial(int k) {
    static const int64_t table[] = {1, 1, 2, 6, 24, 120, 720, 5040};
    return table[k];
}

inline void decode_if(const Space& sp, const Keeps& keeps, int64_t if_id, IfDecoded& out) {
    out.sp = &sp;
    out.cc = 0;
    u64 ids = static_cast<u64>(if_id);
    uint64_t units = 0;
    for (int d = 0; d < sp.ndims; ++d) {
        const u64 next = sp.by_options[d].div(ids);
        const int64_t row = static_cast<int64_t>(ids - next * static_cast<u64>(sp.options[d]));
        ids = next;
        out.rows[d] = row;
        out.row[d] = &sp.rows[d][row];
        units |= out.row[d]->unit_word;
    }
    u128 lp_size = 1;
    for (int lv = 0; lv < sp.nlevels; ++lv) {
        const unsigned unit_here = static_cast<unsigned>(units >> (8 * lv)) & 0xFFu;
        out.unit[lv] = sp.prune[lv] ? unit_here : 0u;
        out.radix[lv] = factorial(bits8(sp.free_mask[lv] & ~out.unit[lv] & 0xFFu));
        lp_size *= static_cast<u128>(out.radix[lv]);
    }
    out.lp_size = lp_size;
    out.lp64 = lp_size <= static_cast<u128>(~u64(0));
    if (sp.spatial_level < 0) {
        out.split_base = 0;
        out.nsplits = 1;
    } else if (sp.fixed_split >= 0) {
        out.split_base = sp.fixed_split;
        out.nsplits = 1;
    } else {
        const int ones = bits8(static_cast<unsigned>(units >> (8 * sp.spatial_level)) & 0xFFu);
        out.split_base = ones;
        out.nsplits = sp.ndims + 1 - ones;
    }
    // Capacity: the tiles each buffer keeps, from the loops at or inside it (Mapspace.capacity_ok), once
    // per distinct set of tensors the level keeps over the keep choices.
    uint64_t ok = keeps.all();
    for (int s = 0; s < sp.nstorage && ok; ++s) {
        if (sp.capacity[s] < 0) continue;
        int64_t running[NDIM];
        for (int d = 0; d < NDIM; ++d) running[d] = 1;
        for (int d = 0; d < sp.ndims; ++d) running[sp.our_dim[d]] = out.row[d]->inner[s];
        int64_t ws[NT] = {};
        for (int t = 0; t < NT; ++t) {
            if (!keeps.ever[t][s]) continue;
            int64_t p = 1;
            for (int c = 0; c < MAXC; ++c) {
                if (sp.nterms[t][c] == 0) continue;
                int64_t e = 1;
                for (int i = 0; i < sp.nterms[t][c]; ++i)
                    e += (running[sp.terms[t][c][i].dim] - 1) * sp.terms[t][c][i].coef;
                p *= e;
            }
            ws[t] = p;
        }
        for (int m = 0; m < keeps.nsets[s]; ++m) {
            int64_t need = 0;
            for (int t = 0; t < NT; ++t)
                if (keeps.sets[s][m] >> t & 1) need += ws[t];
            if (need > sp.capacity[s]) ok &= ~keeps.set_keeps[s][m];
        }
    }
    out.ok = ok;
    out.hopeless = ok == 0;
    out.nvalid = 0;
    for (uint64_t x = ok; x; x &= x - 1) ++out.nvalid;
    out.valid_after_first = (ok >> 1) != 0;
}

// Level lv's dimensions, innermost first, for the level's permutation digit (Mapspace.orders): unit-factor
// dimensions in index order, then the constraint's prefix, the free ones permuted, the constraint's suffix.
inline void level_order(const Space& sp, const IfDecoded& f, int lv, int64_t digit, int* order) {
    if (sp.canonical[lv]) {
        for (int d = 0; d < sp.ndims; ++d) order[d] = d;
        return;
    }
    const unsigned unit = f.unit[lv], free = sp.free_mask[lv] & ~unit;
    int n = 0, nfree = 0, free_dims[NDIM];
    for (int d = 0; d < sp.ndims; ++d) {
        if (unit >> d & 1) order[n++] = d;
        else if (free >> d & 1) free_dims[nfree++] = d;
    }
    for (int i = 0; i < sp.nprefix[lv]; ++i)
        if (!(unit >> sp.prefix[lv][i] & 1)) order[n++] = sp.prefix[lv][i];
    const int8_t* perm = permutations().get(nfree, digit);
    for (int i = 0; i < nfree; ++i) order[n++] = free_dims[perm[i]];
    for (int i = 0; i < sp.nsuffix[lv]; ++i)
        if (!(unit >> sp.suffix[lv][i] & 1)) order[n++] = sp.suffix[lv][i];
}

// The permutation digit of level lv within permutation ID lp (levels innermost first, mixed radix).
inline const Divider& by_factorial(int64_t radix) {
    static const Divider table[] = {Divider(1), Divider(2), Divider(6), Divider(24), Divider(120), Divider(720),
                                    Divider(5040)};
    switch (radix) {
        case 1: return table[0];
        case 2: return table[1];
        case 6: return table[2];
        case 24: return table[3];
        case 120: return table[4];
        case 720: return table[5];
        default: return table[6];
    }
}

inline int64_t level_digit(const IfDecoded& f, u128 lp, int lv) {
    if (f.lp64) {
        u64 x = static_cast<u64>(lp);
        for (int i = 0; i < lv; ++i) x = by_factorial(f.radix[i]).div(x);
        const u64 r = static_cast<u64>(f.radix[lv]);
        return static_cast<int64_t>(x - by_factorial(f.radix[lv]).div(x) * r);
    }
    for (int i = 0; i < lv; ++i) lp /= static_cast<u128>(f.radix[i]);
    return static_cast<int64_t>(lp % static_cast<u128>(f.radix[lv]));
}

inline void decode_orders(const Space& sp, const IfDecoded& f, u128 lp, int orders[MAXL][NDIM]) {
    for (int lv = 0; lv < sp.nlevels; ++lv) level_order(sp, f, lv, level_digit(f, lp, lv), orders[lv]);
}

// The array's X and Y loops fit its columns and rows for each split (else construction fails).
struct Fanout {
    int64_t inner[NDIM + 1];  // products of the spatial level's first i factors (innermost first): on X
    int64_t outer[NDIM + 1];  // and of the others: on Y
    bool ok(const Space& sp, int split) const { return inner[split] <= sp.fanout_x && outer[split] <= sp.fanout_y; }
};

inline void fanout_of(const Space& sp, const IfDecoded& f, u128 lp, Fanout& out) {
    out.inner[0] = 1;
    out.outer[sp.ndims] = 1;
    if (sp.spatial_level < 0) {
        for (int i = 0; i < sp.ndims; ++i) out.inner[i + 1] = out.outer[i] = 1;
        return;
    }
    int order[NDIM];
    const int sl = sp.spatial_level;
    level_order(sp, f, sl, level_digit(f, lp, sl), order);
    int64_t factors[NDIM];
    for (int i = 0; i < sp.ndims; ++i) factors[i] = f.factor(sl, order[i]);
    for (int i = 0; i < sp.ndims; ++i) out.inner[i + 1] = out.inner[i] * factors[i];
    for (int i = sp.ndims - 1; i >= 0; --i) out.outer[i] = out.outer[i + 1] * factors[i];
}

// The loop nest (outer to inner) of a decoded mapping (Mapspace.nest), and a key naming it.
// `split` loops (innermost first) of the spatial level go on the array's X axis: their group is 1, Y's 2.
inline void build_nest(const Space& sp, const IfDecoded& f, const int orders[MAXL][NDIM], Nest& nest,
                       std::string& key, int split = 0) {
    nest.n = 0;
    key.clear();
    for (int lv = sp.nlevels - 1; lv >= 0; --lv)
        for (int i = sp.ndims - 1; i >= 0; --i) {
            const int d = orders[lv][i];
            const int64_t b = f.factor(lv, d);
            if (b <= 1) continue;
            const bool spatial = sp.level_spatial[lv];
            nest.add(sp.level_nest[lv], sp.our_dim[d], static_cast<double>(b), spatial, spatial ? (i < split ? 1 : 2) : 0);
            const int64_t packed = (static_cast<int64_t>(lv) << 56) | (static_cast<int64_t>(d) << 48) | b;
            key.append(reinterpret_cast<const char*>(&packed), sizeof(packed));
        }
}

// Timeloop's IsBetterRecursive_: 2 better, 1 slightly better, -1 slightly worse, -2 worse.
inline double metric_of(double cycles, double energy, int m) {
    return m == DELAY ? cycles : m == ENERGY ? energy : cycles * energy;
}

inline int betterness(double c_cycles, double c_energy, double b_cycles, double b_energy, const Settings& st) {
    int inner = 0;  // the verdict of the metrics after metric i (the recursion, unrolled from the last metric)
    for (int i = st.nmetrics - 1; i >= 0; --i) {
        const double c = metric_of(c_cycles, c_energy, st.metrics[i]);
        const double b = metric_of(b_cycles, b_energy, st.metrics[i]);
        const double gain = b - c;
        double relative;
        if (b == 0) relative = c == 0 ? 0.0 : gain / c;
        else relative = gain / b;
        int slight = relative > 0 ? 1 : -1;  // equality counts as slightly worse: the incumbent stays
        if (i + 1 < st.nmetrics && (inner == 2 || inner == -2)) slight = inner;
        inner = std::fabs(relative) > TOLERANCE ? (relative > 0 ? 2 : -2) : slight;
    }
    return inner;
}

struct ThreadBest {
    bool has = false;
    double cycles = 0, energy = 0;
    int64_t if_id = 0;
    u128 lp = 0;
    int split = 0, keep = 0;
};

// One variant's view of one thread: Timeloop's MapperThread counters.
struct VariantState {
    int64_t total = 0, valid = 0, invalid_run = 0, since = 0;
    int stop = RUNNING;
    ThreadBest best;
};

struct Event {
    int32_t thread, kind;  // kind 0: valid mapping, 1: update of the best
    int64_t total, valid, count;
    int64_t if_id;
    uint64_t lp_low, lp_high;
    int32_t split, keep;
    double cycles, energy;
};

// The loop nest of one mapping of the walk (a thread's best), its X/Y axes in the loops' groups.
inline Nest nest_of(const Space& sp, const Keeps& keeps, int64_t if_id, u128 lp, int split) {
    IfDecoded f;
    decode_if(sp, keeps, if_id, f);
    int orders[MAXL][NDIM];
    decode_orders(sp, f, lp, orders);
    Nest nest;
    std::string key;
    build_nest(sp, f, orders, nest, key, f.split_base + split);
    return nest;
}

struct Walker {
    const Space& sp;
    const Problem& pb;
    const Template& tp;
    const Keeps& keeps;
    const std::vector<Prices>& variants;
    const Settings& st;
    bool log;
    // Every distinct nest's compute cycles and, per variant and keep choice, (cycles, energy).
    std::unordered_map<std::string, size_t> memo;
    std::vector<double> costs;
    OffsetMemo offsets;
    std::vector<Event> events;
    // What the walk did (for the benchmark): IFs decoded, permutations drawn, groups, distinct nests evaluated.
    int64_t ifs = 0, perms = 0, groups = 0, evaluated = 0;

    Walker(const Space& s, const Problem& p, const Template& t, const Keeps& k, const std::vector<Prices>& v,
           const Settings& settings, bool lg)
        : sp(s), pb(p), tp(t), keeps(k), variants(v), st(settings), log(lg) {}

    size_t stride() const { return variants.size() * keeps.n * 2; }

    const double* cost_of(const IfDecoded& f, u128 lp) {
        int orders[MAXL][NDIM];
        decode_orders(sp, f, lp, orders);
        Nest nest;
        std::string key;
        build_nest(sp, f, orders, nest, key);
        auto hit = memo.find(key);
        if (hit != memo.end()) return &costs[hit->second];
        const size_t at = costs.size();
        costs.resize(at + stride());
        Analysis an(pb, tp, nest);
        NestCounts nc;
        count_nest(an, keeps, offsets, nc);
        for (size_t v = 0; v < variants.size(); ++v) {
            double cyc[MAXKEEP], en[MAXKEEP];
            keep_costs(tp, keeps, variants[v], nc, cyc, en);
            for (int k = 0; k < keeps.n; ++k) {
                costs[at + (v * keeps.n + k) * 2] = cyc[k];
                costs[at + (v * keeps.n + k) * 2 + 1] = en[k];
            }
        }
        ++evaluated;
        memo.emplace(std::move(key), at);
        return &costs[at];
    }

    // Whether no keep choice of a mapping with these compute cycles can beat the variant's best.
    bool hopeless_against(const VariantState& vs, double compute_cycles) const {
        if (log || !vs.best.has || st.metrics[0] != DELAY) return false;
        const double b = vs.best.cycles;
        return (b - compute_cycles) / b < -TOLERANCE;
    }

    // Run thread `thread` until every variant has stopped; states has one entry per variant.
    void run(int thread, std::vector<VariantState>& states) {
        const int64_t threads = st.threads;
        const int64_t per_split = (sp.if_size + threads - 1) / threads;
        const int64_t residue = per_split * threads - sp.if_size;
        const int64_t size = thread < threads - residue ? per_split : per_split - 1;
        if (size == 0) {
            for (auto& vs : states) vs.stop = EXHAUSTED;
            return;
        }
        RandomGenerator128 if_gen(static_cast<u128>(std::max<int64_t>(size, 1)));
        RandomGenerator128 lp_gen(sp.lp_size_full);
        const size_t nv = states.size();
        int active = static_cast<int>(nv);
        bool has_prev = false;
        int64_t prev_local = 0;
        u128 prev_lp = 0;
        int prev_split = 0;
        IfDecoded f;
        Fanout fan;
        while (active > 0) {
            const int64_t local = static_cast<int64_t>(if_gen.next());
            const int64_t if_id = local * threads + thread;
            decode_if(sp, keeps, if_id, f);
            ++ifs;
            const u128 nperm = std::min<u128>(static_cast<u128>(st.max_permutations), f.lp_size);
            bool next_if = false;
            for (u128 p = 0; p < nperm && !next_if && active > 0; ++p) {
                const u128 draw = lp_gen.next();
                u128 lp;
                if (draw < (u128(1) << 32) && f.lp_size < (u128(1) << 32))
                    lp = static_cast<uint32_t>(draw) % static_cast<uint32_t>(f.lp_size);
                else if (f.lp64 && !lp_gen.two)
                    lp = static_cast<u64>(draw) % static_cast<u64>(f.lp_size);
                else
                    lp = draw % f.lp_size;
                fanout_of(sp, f, lp, fan);
                ++perms;
                const double* cost = nullptr;  // this permutation's nest costs, once needed
                for (int s = 0; s < f.nsplits && active > 0; ++s) {
                    const bool built = fan.ok(sp, f.split_base + s);
                    ++groups;
                    const bool same_group = has_prev && prev_local == local && prev_lp == lp && prev_split == s;
                    has_prev = true;
                    prev_local = local;
                    prev_lp = lp;
                    prev_split = s;
                    if (built && !f.hopeless && !cost) {
                        bool needed = false;
                        const double cc = f.compute_cycles();
                        for (size_t v = 0; v < nv && !needed; ++v)
                            needed = states[v].stop == RUNNING && !hopeless_against(states[v], cc);
                        if (needed) cost = cost_of(f, lp);
                    }
                    const int nids = built ? keeps.n : 1;
                    for (size_t v = 0; v < nv; ++v) {
                        VariantState& vs = states[v];
                        if (vs.stop != RUNNING) continue;
                        // Without a cost, nothing in the group beats the best; away from the stop counts,
                        // Timeloop's per-ID counters then move by at most one step in the whole group.
                        if (!log && vs.total > 1 && (!built || f.hopeless || !cost) &&
                            (st.timeout <= 0 || vs.invalid_run + 1 < st.timeout) &&
                            (st.victory <= 0 || vs.since + 1 < st.victory)) {
                            if (!built) {
                                ++vs.invalid_run;
                                ++vs.total;
                                continue;
                            }
                            if (f.ok & 1) {
                                vs.invalid_run = 0;
                                vs.since += !same_group;
                            } else {
                                vs.invalid_run += !same_group;
                            }
                            if (f.valid_after_first) vs.invalid_run = 0;  // later keep choices: valid, not counted
                            vs.valid += f.nvalid;
                            vs.total += keeps.n;
                            continue;
                        }
                        for (int k = 0; k < nids; ++k) {
                            if (st.timeout > 0 && vs.invalid_run == st.timeout) vs.stop = TIMEOUT;
                            else if (st.victory > 0 && vs.since == st.victory) vs.stop = VICTORY;
                            if (vs.stop != RUNNING) {
                                --active;
                                break;
                            }
                            const bool bypass_only = vs.total > 1 && (k > 0 || same_group);
                            const bool valid = built && (f.ok >> k & 1);
                            if (valid) {
                                ++vs.valid;
                                const int64_t invalid_before = vs.invalid_run;
                                vs.invalid_run = 0;
                                bool better = !vs.best.has;
                                double cc = 0, ce = 0;
                                if (cost) {
                                    cc = cost[(v * keeps.n + k) * 2];
                                    ce = cost[(v * keeps.n + k) * 2 + 1];
                                    if (!better) better = betterness(cc, ce, vs.best.cycles, vs.best.energy, st) > 0;
                                }
                                if (log && v == 0)
                                    events.push_back(Event{thread, 0, vs.total + 1, vs.valid, invalid_before, if_id,
                                                           static_cast<uint64_t>(lp), static_cast<uint64_t>(lp >> 64),
                                                           s, k, cc, ce});
                                if (better) {
                                    if (log && v == 0)
                                        events.push_back(Event{thread, 1, vs.total + 1, vs.valid, vs.since, if_id,
                                                               static_cast<uint64_t>(lp),
                                                               static_cast<uint64_t>(lp >> 64), s, k,
                                                               cc, ce});
                                    vs.best = ThreadBest{true, cc, ce, if_id, lp, s, k};
                                    vs.since = 0;
                                } else if (!bypass_only) {
                                    ++vs.since;
                                }
                            } else if (!built || !bypass_only) {
                                ++vs.invalid_run;
                            }
                            ++vs.total;
                        }
                    }
                    if (built && f.hopeless) {  // every keep choice failed: this IF is bad
                        next_if = true;
                        break;
                    }
                }
            }
        }
    }
};

}  // namespace codesign
