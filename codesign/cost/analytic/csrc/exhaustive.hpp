// The exhaustive mapper's enumeration and choice: how mapspace.py + exhaustive.py are made fast.
//
// mapspace.py documents the constrained mapspace (tilings, the PE-array assignments, the loop orders worth
// evaluating) and exhaustive.py the choice (fewest cycles, then least energy). The choice is an exact
// minimum, so the order of evaluation only matters for ties: the reference keeps the first of equal
// (cycles, energy) in the order (product group, chunk of 20,000 rows, keep choice, row), and so does this
// file, which enumerates the rows in the reference's order to know each one's chunk and row.
//
// The speed comes from branch and bound. Nests of one tiling share their tiles, steps and multicast counts;
// only the loop orders differ, and the fills that depend on an order still open can only be bounded from
// below (Exhaustive::bound). Counts bounded from below give cycles and energy bounded from below, computed by
// the very operations that cost a mapping (each rounds monotonically), so a tiling, a tiling with its DRAM
// order, or one with its buffer order too, whose bound is above the best so far (ties excluded) holds no
// winner. Bounds are taken best first; few mappings are evaluated in full.
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <memory>
#include <queue>
#include <vector>

#include "nest.hpp"

namespace codesign {

constexpr int64_t CHUNK_ROWS = 20000;  // exhaustive._CHUNK_ROWS: ties are broken by chunk, then keep choice
enum { DN = 0, DC = 1, DM = 2, DR = 3, DS = 4, DP = 5, DQ = 6 };
enum { NEST_DRAM = 0, NEST_GLB = 1, NEST_SPATIAL = 2, NEST_SPAD = 3 };
enum { BUFFER = 1, SPAD_CM = 2, DRAM_ORDER = 3 };  // groups of loops whose order a bound leaves open

struct ExLayer {
    int64_t size[NDIM];  // M is 1 for depthwise layers
    bool depthwise = false;
    bool sliding = false;  // input windows overlap: every DRAM loop order is evaluated
    int64_t spad_depth = 0;
    double macs = 0;
};

// One PE-array assignment: the factor of each dimension spread over the array.
struct SpatialChoice {
    int64_t factor[NDIM];
};

inline std::vector<int64_t> divisors_of(int64_t n) {
    std::vector<int64_t> out;
    for (int64_t d = 1; d <= n; ++d)
        if (n % d == 0) out.push_back(d);
    return out;
}

// mapspace.ordered_splits(n, 3): (DRAM, buffer, scratchpad) factors, in the reference's order.
inline std::vector<std::array<int64_t, 3>> ordered_splits3(int64_t n) {
    std::vector<std::array<int64_t, 3>> out;
    for (int64_t a : divisors_of(n))
        for (int64_t b : divisors_of(n / a)) out.push_back({a, b, n / a / b});
    return out;
}

// mapspace._orders: loop orders (outer to inner, positions into dims) worth evaluating for one level.
inline std::vector<std::vector<int>> level_orders(const std::vector<int>& dims, unsigned nontrivial, bool depthwise,
                                                  bool every) {
    const int k = static_cast<int>(dims.size());
    std::vector<int> active, idle;
    for (int i = 0; i < k; ++i) (nontrivial >> i & 1 ? active : idle).push_back(i);
    // Dimensions indexing Weights, Inputs, Outputs (mapspace._indexing).
    auto indexes = [&](int t, int d) {
        if (t == 0) return depthwise ? d == DC : (d == DC || d == DM);
        if (t == 1) return d == DN || d == DC || d == DP || d == DQ;
        return depthwise ? (d == DN || d == DC || d == DP || d == DQ) : (d == DN || d == DM || d == DP || d == DQ);
    };
    std::vector<std::vector<int>> out;
    std::vector<std::array<unsigned, 3>> seen;
    std::vector<int> order = active;  // itertools.permutations: lexicographic in the positions' order
    do {
        if (!every) {
            std::array<unsigned, 3> signature{};
            for (int t = 0; t < 3; ++t)
                for (int i = static_cast<int>(order.size()) - 1; i >= 0; --i) {
                    if (indexes(t, dims[order[i]])) break;
                    signature[t] |= 1u << dims[order[i]];
                }
            if (std::find(seen.begin(), seen.end(), signature) != seen.end()) continue;
            seen.push_back(signature);
        }
        std::vector<int> full = idle;
        full.insert(full.end(), order.begin(), order.end());
        out.push_back(full);
    } while (std::next_permutation(order.begin(), order.end()));
    return out;
}

// mapspace._permuted over `rows` (each with per-dim bounds `bounds[row]`): the expanded rows in the
// reference's order (mask keys ascending, then orders, then rows), as (source row, order id).
inline void permute_rows(const std::vector<int>& dims, const std::vector<std::array<int64_t, 4>>& bounds,
                         bool depthwise, bool every, std::vector<int32_t>& src, std::vector<int32_t>& order_id,
                         std::vector<std::vector<int>>& orders) {
    const int k = static_cast<int>(dims.size());
    const unsigned nkeys = 1u << k;
    std::vector<unsigned> keys(bounds.size());
    std::vector<int32_t> start(nkeys + 1, 0);
    for (size_t r = 0; r < bounds.size(); ++r) {
        unsigned key = 0;
        for (int i = 0; i < k; ++i) key |= static_cast<unsigned>(bounds[r][i] > 1) << i;
        keys[r] = key;
        ++start[key + 1];
    }
    for (unsigned key = 0; key < nkeys; ++key) start[key + 1] += start[key];
    std::vector<int32_t> rows(bounds.size()), fill(start.begin(), start.end() - 1);  // rows by key, in order
    for (size_t r = 0; r < bounds.size(); ++r) rows[fill[keys[r]]++] = static_cast<int32_t>(r);
    src.clear();
    order_id.clear();
    for (unsigned key = 0; key < nkeys; ++key) {  // mask keys ascending, as np.unique returns them
        if (start[key] == start[key + 1]) continue;
        for (auto& o : level_orders(dims, key, depthwise, every)) {
            const int32_t id = static_cast<int32_t>(orders.size());
            orders.push_back(o);
            for (int32_t j = start[key]; j < start[key + 1]; ++j) {
                src.push_back(rows[j]);
                order_id.push_back(id);
            }
        }
    }
}

// The best mapping found so far for one price variant, with the reference's tie-break key.
struct ExBest {
    bool has = false;
    bool closed = false;  // the reference stopped enumerating for this variant
    double cycles = 0, energy = 0;
    int64_t group = 0, chunk = 0, keep = 0, row = 0;
    int choice = 0;  // which spatial choice of the group
    Nest nest;

    bool beaten_by(double c, double e, int64_t g, int64_t ch, int64_t k, int64_t r) const {
        if (!has) return true;
        if (c != cycles) return c < cycles;
        if (e != energy) return e < energy;
        if (g != group) return g < group;
        if (ch != chunk) return ch < chunk;
        if (k != keep) return k < keep;
        return r < row;
    }

    // Whether a mapping whose cost is at least (c, e) cannot win, ties included (they may win on the key).
    bool excludes(double c, double e) const { return has && (c > cycles || (c == cycles && e > energy)); }
};

// The mapspace of one spatial choice (mapspace.candidates): tilings, then the DRAM, buffer and scratchpad
// loop orders expanded in the reference's order. Rows of stage 3 are the mappings; stage 2 rows (a tiling
// with its DRAM and buffer orders) are what the bound is computed for.
struct ChoiceSpace {
    SpatialChoice sc;
    int64_t row0 = 0;  // the first row's number in its product group
    int64_t rest[NDIM];
    std::vector<int> outer, cm, sp_order;
    std::vector<std::array<int64_t, 4>> dram, glb, spad;  // per tiling, per outer dimension
    std::vector<std::vector<int>> orders;
    std::vector<int32_t> src1, ord1, src2, ord2, src3, ord3;
    std::vector<int32_t> child_start, children;   // stage 2 row -> its stage 3 rows
    std::vector<int32_t> stage2_start, stage2;     // stage 1 row -> its stage 2 rows
    std::vector<int32_t> stage1_start, stage1;     // tiling -> its stage 1 rows

    int64_t first_row(int32_t i2) const { return children[child_start[i2]]; }

    Nest nest(const ExLayer& ly, int64_t r) const {
        const int32_t i2 = src3[r], i1 = src2[i2], t = src1[i1];
        const bool dw = ly.depthwise;
        Nest n;
        n.add(NEST_DRAM, DN, static_cast<double>(ly.size[DN]), false);
        for (int p : orders[ord1[i1]]) n.add(NEST_DRAM, outer[p], static_cast<double>(dram[t][p]), false, DRAM_ORDER);
        for (int p : orders[ord2[i2]]) n.add(NEST_GLB, outer[p], static_cast<double>(glb[t][p]), false, BUFFER);
        for (int d : sp_order) n.add(NEST_SPATIAL, d, static_cast<double>(sc.factor[d]), true);
        for (int p : orders[ord3[r]]) n.add(NEST_SPAD, cm[p], static_cast<double>(spad[t][p]), false, SPAD_CM);
        const int pi = dw ? 1 : 2, qi = dw ? 2 : 3;
        n.add(NEST_SPAD, DS, static_cast<double>(rest[DS]), false);
        n.add(NEST_SPAD, DR, static_cast<double>(rest[DR]), false);
        n.add(NEST_SPAD, DQ, static_cast<double>(spad[t][qi]), false);
        n.add(NEST_SPAD, DP, static_cast<double>(spad[t][pi]), false);
        return n;
    }
};

inline void csr(const std::vector<int32_t>& parent, size_t nparents, std::vector<int32_t>& start,
                std::vector<int32_t>& items) {
    start.assign(nparents + 1, 0);
    for (int32_t p : parent) ++start[p + 1];
    for (size_t i = 0; i < nparents; ++i) start[i + 1] += start[i];
    items.assign(parent.size(), 0);
    std::vector<int32_t> fill(start.begin(), start.end() - 1);
    for (size_t r = 0; r < parent.size(); ++r) items[fill[parent[r]]++] = static_cast<int32_t>(r);
}

inline bool build_space(const ExLayer& ly, const SpatialChoice& sc, int64_t row0, ChoiceSpace& cs) {
    const bool dw = ly.depthwise;
    cs.sc = sc;
    cs.row0 = row0;
    cs.outer = dw ? std::vector<int>{DC, DP, DQ} : std::vector<int>{DC, DM, DP, DQ};
    cs.cm = dw ? std::vector<int>{DC} : std::vector<int>{DC, DM};
    cs.sp_order = dw ? std::vector<int>{DC, DP, DQ, DR, DS} : std::vector<int>{DM, DC};
    const int k = static_cast<int>(cs.outer.size());
    for (int d = 0; d < NDIM; ++d) cs.rest[d] = ly.size[d] / sc.factor[d];
    // Tilings (mapspace._tilings): the cartesian product of each outer dimension's splits.
    std::vector<std::vector<std::array<int64_t, 3>>> splits;
    for (int d : cs.outer) splits.push_back(ordered_splits3(cs.rest[d]));
    std::vector<int> pick(k, 0);
    while (true) {
        std::array<int64_t, 4> a{1, 1, 1, 1}, b{1, 1, 1, 1}, c{1, 1, 1, 1};
        for (int i = 0; i < k; ++i) {
            a[i] = splits[i][pick[i]][0];
            b[i] = splits[i][pick[i]][1];
            c[i] = splits[i][pick[i]][2];
        }
        if (cs.rest[DR] * cs.rest[DS] * c[0] * (dw ? 1 : c[1]) <= ly.spad_depth) {
            cs.dram.push_back(a);
            cs.glb.push_back(b);
            cs.spad.push_back(c);
        }
        int i = k - 1;
        while (i >= 0 && ++pick[i] >= static_cast<int>(splits[i].size())) pick[i--] = 0;
        if (i < 0) break;
    }
    if (cs.dram.empty()) return false;
    // Loop orders: DRAM, then the buffer, then the scratchpad's C/M loops (mapspace.candidates).
    permute_rows(cs.outer, cs.dram, dw, ly.sliding, cs.src1, cs.ord1, cs.orders);
    std::vector<std::array<int64_t, 4>> glb1(cs.src1.size());
    for (size_t i = 0; i < cs.src1.size(); ++i) glb1[i] = cs.glb[cs.src1[i]];
    permute_rows(cs.outer, glb1, dw, false, cs.src2, cs.ord2, cs.orders);
    std::vector<std::array<int64_t, 4>> cm2(cs.src2.size());
    for (size_t i = 0; i < cs.src2.size(); ++i) {
        const auto& t = cs.spad[cs.src1[cs.src2[i]]];
        cm2[i] = {t[0], dw ? 1 : t[1], 1, 1};
    }
    permute_rows(cs.cm, cm2, dw, false, cs.src3, cs.ord3, cs.orders);
    csr(cs.src3, cs.src2.size(), cs.child_start, cs.children);
    return true;
}

// A row of stage 1 or 2 and the least (cycles, energy) any of its mappings can have, per price variant.
struct Bound {
    int choice;
    int stage;  // 0: a tiling; 1: with its DRAM order; 2: and its buffer order
    int32_t row;
    size_t at;  // its bounds, one per variant, in the bound store
};

// The analysis of one tiling, shown one loop order after another, and which keep choices fit it.
struct TilingView {
    std::unique_ptr<Analysis> an;
    uint64_t fit = 0;
    bool fit_known = false;

    void show(const Problem& pb, const Template& tp, const Nest& nest) {
        if (!an) an.reset(new Analysis(pb, tp, nest));
        else an->reorder(nest);
    }
};

struct Exhaustive {
    const ExLayer& ly;
    const Problem& pb;
    const Template& tp;
    const Keeps& keeps;
    const std::vector<Prices>& variants;
    std::vector<ExBest> best;
    OffsetMemo offsets;
    int64_t evaluated = 0, bounded = 0;
    std::vector<double> bound_c, bound_e;  // the bound store

    Exhaustive(const ExLayer& l, const Problem& p, const Template& t, const Keeps& k, const std::vector<Prices>& v)
        : ly(l), pb(p), tp(t), keeps(k), variants(v), best(v.size()) {}

    // Product groups in decreasing parallelism (exhaustive.best_mapping): a variant stops before the first
    // group whose compute cycles alone exceed its best cycles, as no later group can be faster.
    void run(const std::vector<std::pair<int64_t, std::vector<SpatialChoice>>>& groups) {
        for (size_t g = 0; g < groups.size(); ++g) {
            bool open = false;
            for (ExBest& b : best) {
                if (b.has && ly.macs / static_cast<double>(groups[g].first) > b.cycles) b.closed = true;
                open |= !b.closed;
            }
            if (!open) break;
            group(static_cast<int64_t>(g), groups[g].second);
        }
    }

    // Lower bounds on (cycles, energy) of every mapping that differs from the nest `view` holds only in the
    // order of the loops within the groups `free`, per variant (least over the keep choices that fit):
    // fills that depend on those orders are replaced by the fewest they can be (run_fills_bound; for a
    // sliding window, Analysis::one_word_fills where it applies, else its first tile), every count can only
    // grow from there, and so can cycles and energy, computed by the same operations (rounding is monotonic).
    // Returns false when no keep choice fits (true of the whole tiling).
    bool bound(TilingView& view, unsigned free, Bound& out) {
        const Analysis& an = *view.an;
        for (int s = 0; s + 1 < tp.ns; ++s) {
            if (!an.free_above(s, free)) continue;
            for (int t = 0; t < NT; ++t) {
                if (!keeps.ever[t][s]) continue;  // no chain of this tensor has this level
                double fewest;
                if (!pb.sliding[t]) fewest = an.run_fills_bound(s, t, free);
                else if (an.tile(s, t) != 1.0 || (fewest = an.one_word_fills(s, t, free)) < 0) fewest = an.tile(s, t);
                an.set_fills(s, t, fewest);
            }
        }
        NestCounts nc;
        count_nest(an, keeps, offsets, nc);
        ++bounded;
        if (!view.fit_known) {  // tiles and PE count do not depend on loop orders
            view.fit = fitting(tp, keeps, nc);
            view.fit_known = true;
        }
        if (!view.fit) return false;
        out.at = bound_c.size();
        for (size_t v = 0; v < variants.size(); ++v) {
            double cyc[MAXKEEP], en[MAXKEEP], bc = INFINITY, be = INFINITY;
            keep_costs(tp, keeps, variants[v], nc, cyc, en);
            for (int k = 0; k < keeps.n; ++k)
                if ((view.fit >> k & 1) && (cyc[k] < bc || (cyc[k] == bc && en[k] < be))) {
                    bc = cyc[k];
                    be = en[k];
                }
            bound_c.push_back(bc);
            bound_e.push_back(be);
        }
        return true;
    }

    // Whether a bounded row can still hold a winner for some open variant.
    bool wanted(const Bound& b) const {
        for (size_t v = 0; v < variants.size(); ++v)
            if (!best[v].closed && !best[v].excludes(bound_c[b.at + v], bound_e[b.at + v])) return true;
        return false;
    }

    // Every mapping of the product group `g`, best bound first: a tiling is bounded over all its loop
    // orders; taking one expands it into its stage 1 rows (DRAM orders) bounded over their buffer and
    // scratchpad orders, then into stage 2 rows (buffer orders) bounded over their scratchpad orders, and
    // taking a stage 2 row evaluates its mappings. With one variant the search stops at the first bound its
    // best excludes (every bound after it is higher).
    void group(int64_t g, const std::vector<SpatialChoice>& choices) {
        std::vector<ChoiceSpace> spaces(choices.size());
        std::vector<Bound> items;
        auto later = [&](int32_t a, int32_t b) {  // the priority queue's order: the first variant's bound
            const Bound &x = items[a], &y = items[b];
            if (bound_c[x.at] != bound_c[y.at]) return bound_c[x.at] > bound_c[y.at];
            if (bound_e[x.at] != bound_e[y.at]) return bound_e[x.at] > bound_e[y.at];
            return a > b;
        };
        std::priority_queue<int32_t, std::vector<int32_t>, decltype(later)> queue(later);
        auto push = [&](const Bound& b) {
            items.push_back(b);
            queue.push(static_cast<int32_t>(items.size() - 1));
        };
        int64_t row0 = 0;
        for (size_t ci = 0; ci < choices.size(); ++ci) {
            ChoiceSpace& cs = spaces[ci];
            if (!build_space(ly, choices[ci], row0, cs)) continue;
            row0 += static_cast<int64_t>(cs.src3.size());
            csr(cs.src2, cs.src1.size(), cs.stage2_start, cs.stage2);
            csr(cs.src1, cs.dram.size(), cs.stage1_start, cs.stage1);
            for (size_t t = 0; t + 1 < cs.stage1_start.size(); ++t) {
                if (cs.stage1_start[t] == cs.stage1_start[t + 1]) continue;
                TilingView view;
                view.show(pb, tp, cs.nest(ly, cs.first_row(cs.stage2[cs.stage2_start[cs.stage1[cs.stage1_start[t]]]])));
                Bound b{static_cast<int>(ci), 0, static_cast<int32_t>(t), 0};
                if (bound(view, 1u << DRAM_ORDER | 1u << BUFFER | 1u << SPAD_CM, b)) push(b);
            }
        }
        while (!queue.empty()) {
            const Bound b = items[queue.top()];
            queue.pop();
            if (!wanted(b)) {
                if (variants.size() == 1) break;
                continue;
            }
            const ChoiceSpace& cs = spaces[b.choice];
            if (b.stage < 2) {
                const std::vector<int32_t>& start = b.stage == 0 ? cs.stage1_start : cs.stage2_start;
                const std::vector<int32_t>& rows = b.stage == 0 ? cs.stage1 : cs.stage2;
                const unsigned free = b.stage == 0 ? (1u << BUFFER | 1u << SPAD_CM) : 1u << SPAD_CM;
                TilingView view;
                for (int32_t j = start[b.row]; j < start[b.row + 1]; ++j) {
                    const int32_t child = rows[j];
                    const int32_t i2 = b.stage == 0 ? cs.stage2[cs.stage2_start[child]] : child;
                    view.show(pb, tp, cs.nest(ly, cs.first_row(i2)));
                    Bound next{b.choice, b.stage + 1, child, 0};
                    if (bound(view, free, next)) push(next);
                }
                continue;
            }
            for (int32_t c = cs.child_start[b.row]; c < cs.child_start[b.row + 1]; ++c) {
                const int64_t r = cs.children[c];
                const int64_t row = cs.row0 + r;
                consider(cs.nest(ly, r), g, row / CHUNK_ROWS, row % CHUNK_ROWS, b.choice);
            }
        }
    }

    // The exact cost of one mapping (a fresh analysis, as every other caller of nest.hpp computes it).
    void consider(const Nest& nest, int64_t g, int64_t chunk, int64_t row, int choice) {
        Analysis an(pb, tp, nest);
        NestCounts nc;
        count_nest(an, keeps, offsets, nc);
        ++evaluated;
        const uint64_t ok = fitting(tp, keeps, nc);
        if (!ok) return;
        for (size_t v = 0; v < variants.size(); ++v) {
            if (best[v].closed) continue;
            double cyc[MAXKEEP], en[MAXKEEP];
            keep_costs(tp, keeps, variants[v], nc, cyc, en);
            for (int k = 0; k < keeps.n; ++k) {
                if (!(ok >> k & 1) || !best[v].beaten_by(cyc[k], en[k], g, chunk, k, row)) continue;
                ExBest& b = best[v];
                b.has = true;
                b.cycles = cyc[k];
                b.energy = en[k];
                b.group = g;
                b.chunk = chunk;
                b.keep = k;
                b.row = row;
                b.choice = choice;
                b.nest = nest;
            }
        }
    }
};

}  // namespace codesign
