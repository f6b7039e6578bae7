// Timeloop's access counting and energy for one loop nest: how nest.py is made fast.
//
// What is counted, and why, is documented in nest.py (the reference): tiles, fills with Timeloop's
// sliding-window extrapolation, multicast over the PE array, first-read elision of outputs, block-rounded
// energy per action and the global buffer's bandwidth. This file repeats those formulas for one nest at a
// time, in the reference's floating-point operation order wherever rounding can differ (energy sums,
// per-level sums, the bandwidth slowdown); counts are integers held exactly in doubles, so their order is free.
//
// Unlike nest.py, no storage level is named here: each tensor's chain of buffers (innermost first) comes
// from a keep mask (which storage level keeps which tensor), and the spatial fan-out sits where the
// template says. On the lab's weight-stationary template this gives nest.py's hard-coded chains exactly.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <unordered_map>
#include <vector>

namespace codesign {

constexpr int NDIM = 7;     // N C M R S P Q (nest.py's DIMS)
constexpr int NT = 3;       // Weights, Inputs, Outputs
constexpr int MAXC = 4;     // coordinates of a tensor
constexpr int MAXS = 8;     // storage levels
constexpr int MAXLOOPS = 64;
constexpr int MAXKEEP = 64; // keep/bypass choices
constexpr int MAXLEVELS = 16; // nest levels
constexpr int MAXCHAIN = 8;   // distinct chains of buffers one tensor takes over the keep choices

// One loop of a nest, outer to inner; only loops with a bound above 1 are kept (others count nothing).
struct Loop {
    int level;  // nest level: larger is further inside (DRAM 0 ... registers)
    int dim;
    double bound;
    bool spatial;
    int group;  // for bounds over many orders: consecutive loops of one nonzero group may come in any order
};

struct Nest {
    int n = 0;
    Loop loops[MAXLOOPS];
    void add(int level, int dim, double bound, bool spatial, int group = 0) {
        if (bound > 1 && n < MAXLOOPS) loops[n++] = Loop{level, dim, bound, spatial, group};
    }
};

// The layer as Timeloop sees it: tensor coordinate = projection x loop indices.
struct Problem {
    double a[NT][MAXC][NDIM] = {};
    int ncoord[NT] = {};
    bool sliding[NT] = {};       // some coordinate follows two dimensions (input windows)
    bool indexes[NT][NDIM] = {}; // the dimension moves the tensor
    bool read_write[NT] = {};    // outputs: read-modify-write with first-read elision
    // The projections' nonzero entries, per tensor and coordinate (what extents multiply out).
    int nterm[NT][MAXC] = {};
    int term_dim[NT][MAXC][NDIM] = {};
    double term_coef[NT][MAXC][NDIM] = {};

    void index() {
        for (int t = 0; t < NT; ++t)
            for (int c = 0; c < ncoord[t]; ++c) {
                nterm[t][c] = 0;
                for (int d = 0; d < NDIM; ++d)
                    if (a[t][c][d] != 0) {
                        term_dim[t][c][nterm[t][c]] = d;
                        term_coef[t][c][nterm[t][c]++] = a[t][c][d];
                    }
            }
    }
};

// The accelerator's storage levels, innermost first, as far as the mapspace is concerned.
struct Template {
    int ns = 0;
    int nest_level[MAXS] = {};  // where each storage level's loops sit in a nest
    bool per_pe[MAXS] = {};     // inside the spatial fan-out: one instance per PE
    int64_t capacity[MAXS] = {};// words; -1: unbounded (DRAM)
    int spatial_level = -1;     // nest level of the fan-out's loops
    int64_t pe_count = 1;
    int bandwidth_level = -1;   // storage level whose read/write bandwidth stretches cycles
    int nsum = 0;
    int sum_order[MAXS] = {};   // per-level energies are summed in this order (nest.py's dict order)
};

// What one accelerator charges: the only thing that differs between price variants of one mapspace.
struct Prices {
    double block[MAXS] = {};
    double read[MAXS] = {}, fill[MAXS] = {}, update[MAXS] = {};
    double mac = 0;
    double read_bw = 0, write_bw = 0;
};

// Keep masks: which storage level keeps which tensor, per keep/bypass choice.
struct Keeps {
    int n = 0;
    bool keep[MAXKEEP][NT][MAXS] = {};
    // Distinct chains per tensor: under choice k, tensor t takes chain[t][chain_of[k][t]].
    int nchain[NT] = {};
    int chain_of[MAXKEEP][NT] = {};
    bool chain[NT][MAXCHAIN][MAXS] = {};
    bool ever[NT][MAXS] = {};  // some choice keeps the tensor at the level
    int nsets[MAXS] = {};
    unsigned sets[MAXS][MAXKEEP] = {};       // distinct sets of tensors (bit t) a level keeps
    uint64_t set_keeps[MAXS][MAXKEEP] = {};  // the choices (bit k) under which it keeps each set
    uint64_t all() const { return n == 64 ? ~uint64_t(0) : (uint64_t(1) << n) - 1; }

    // False when some tensor takes more than MAXCHAIN distinct chains.
    bool index() {
        for (int t = 0; t < NT; ++t)
            for (int s = 0; s < MAXS; ++s) {
                ever[t][s] = false;
                for (int k = 0; k < n; ++k) ever[t][s] |= keep[k][t][s];
            }
        for (int s = 0; s < MAXS; ++s) {
            nsets[s] = 0;
            for (int k = 0; k < n; ++k) {
                unsigned set = 0;
                for (int t = 0; t < NT; ++t) set |= static_cast<unsigned>(keep[k][t][s]) << t;
                int m = 0;
                while (m < nsets[s] && sets[s][m] != set) ++m;
                if (m == nsets[s]) {
                    sets[s][m] = set;
                    set_keeps[s][m] = 0;
                    ++nsets[s];
                }
                set_keeps[s][m] |= uint64_t(1) << k;
            }
        }
        for (int t = 0; t < NT; ++t) {
            nchain[t] = 0;
            for (int k = 0; k < n; ++k) {
                int found = -1;
                for (int c = 0; c < nchain[t] && found < 0; ++c)
                    if (std::memcmp(chain[t][c], keep[k][t], sizeof(chain[t][c])) == 0) found = c;
                if (found < 0) {
                    if (nchain[t] == MAXCHAIN) return false;
                    found = nchain[t]++;
                    std::memcpy(chain[t][found], keep[k][t], sizeof(chain[t][found]));
                }
                chain_of[k][t] = found;
            }
        }
        return true;
    }
};

// One (level, tensor) of a chain: per-instance accesses.
struct Access {
    int level;
    double reads, fills, updates;
};

struct Chain {
    int n = 0;
    Access acc[MAXS];
};

// The child tiles over the PE array of one spatial layout (nest.py's _count_offsets): how many distinct
// offsets, and per multicast factor (ascending; over the loops that move the tensor) how many offsets have it.
struct Offsets {
    double distinct = 1;
    std::vector<std::pair<double, double>> groups;  // empty: every offset distinct (one factor)
};

// Offsets remembered across nests by layout (nest.py's _OFFSET_COUNTS).
using OffsetMemo = std::unordered_map<std::string, Offsets>;

inline double ceil_blocks(double count, double block) {
    return block > 1 ? std::ceil(std::max(count, 0.0) / block - 1e-9) : count;
}

// A nest's loop-nest analysis (nest.py's Prepared): steps, per-level suffix products, tiles, fills.
class Analysis {
  public:
    const Problem& pb;
    const Template& tp;
    Nest nest;
    double step[MAXLOOPS];
    double totals[NDIM], temporal_totals[NDIM];
    int start[MAXS];
    double suffix[MAXS][NDIM];
    double cyc = 1, inst = 1;
    // Each loop's step depends only on its level and dimension (a level holds a dimension once), so nests
    // that only reorder loops within levels share everything here but the fills (see reorder).
    double step_of[MAXLEVELS][NDIM];
    mutable double fills_memo[MAXS][NT];
    mutable double tile_memo[MAXS][NT];
    mutable double distinct_memo[NT];
    mutable const Offsets* offsets_memo[NT];  // into the OffsetMemo (nodes stay put); null: one factor
    mutable double elided_memo[MAXS][NT];

    Analysis(const Problem& p, const Template& t, const Nest& n) : pb(p), tp(t), nest(n) {
        for (int s = 0; s < MAXS; ++s)
            for (int k = 0; k < NT; ++k) fills_memo[s][k] = tile_memo[s][k] = elided_memo[s][k] = -1;
        for (int k = 0; k < NT; ++k) {
            distinct_memo[k] = -1;
            offsets_memo[k] = nullptr;
        }
        // A storage level's loops start at the first loop at or inside its nest level.
        for (int s = 0; s < tp.ns; ++s) {
            start[s] = nest.n;
            for (int i = 0; i < nest.n; ++i)
                if (nest.loops[i].level >= tp.nest_level[s]) {
                    start[s] = i;
                    break;
                }
        }
        double running[NDIM];
        for (int d = 0; d < NDIM; ++d) running[d] = temporal_totals[d] = 1;
        for (int s = 0; s < tp.ns; ++s)
            if (start[s] == nest.n) std::memcpy(suffix[s], running, sizeof(running));
        // Inner to outer: a loop's step is the product of the inner loops over its dimension.
        for (int i = nest.n - 1; i >= 0; --i) {
            const Loop& l = nest.loops[i];
            step[i] = step_of[l.level][l.dim] = running[l.dim];
            running[l.dim] *= l.bound;
            if (!l.spatial) temporal_totals[l.dim] *= l.bound;
            for (int s = 0; s < tp.ns; ++s)
                if (start[s] == i) std::memcpy(suffix[s], running, sizeof(running));
        }
        std::memcpy(totals, running, sizeof(running));
        for (int d = 0; d < NDIM; ++d) cyc *= temporal_totals[d];
        for (int i = 0; i < nest.n; ++i)
            if (nest.loops[i].spatial) inst *= nest.loops[i].bound;
    }

    // Another nest with the same loops per level in other orders within levels: only the fills change.
    void reorder(const Nest& other) {
        nest.n = other.n;
        std::memcpy(nest.loops, other.loops, sizeof(Loop) * other.n);
        for (int i = 0; i < nest.n; ++i) step[i] = step_of[nest.loops[i].level][nest.loops[i].dim];
        for (int s = 0; s < MAXS; ++s)
            for (int k = 0; k < NT; ++k) fills_memo[s][k] = -1;
    }

    // Fills known from elsewhere (another nest with the same loops above this level, or a bound).
    void set_fills(int s, int t, double value) const { fills_memo[s][t] = value; }

    // 1 + sum over dimensions of (total - 1) x coefficient; integers, so the terms' order does not matter.
    double extent(int t, int c, const double* tot) const {
        double e = 0;
        for (int i = 0; i < pb.nterm[t][c]; ++i) e += (tot[pb.term_dim[t][c][i]] - 1.0) * pb.term_coef[t][c][i];
        return 1.0 + e;
    }

    double footprint(int t, const double* tot) const {
        double p = 1;
        for (int c = 0; c < pb.ncoord[t]; ++c) p *= extent(t, c, tot);
        return p;
    }

    double tile(int s, int t) const {
        double& m = tile_memo[s][t];
        if (m < 0) m = footprint(t, suffix[s]);
        return m;
    }

    // Points of the tensor one instance of level s sees over the layer (what first-read elision saves).
    double elided(int s, int t) const {
        double& m = elided_memo[s][t];
        if (m < 0) m = footprint(t, tp.per_pe[s] ? temporal_totals : totals);
        return m;
    }

    double fills(int s, int t) const {
        double& m = fills_memo[s][t];
        if (m < 0) m = pb.sliding[t] ? sliding_fills(s, t) : run_fills(s, t);
        return m;
    }

    // nest.py's _run_fills: tile x (loops above) / (innermost run of loops above that do not move it).
    double run_fills(int s, int t) const {
        double tl = tile(s, t), total = 1, run = 1;
        bool in_run = true;
        for (int j = start[s] - 1; j >= 0; --j) {
            const Loop& l = nest.loops[j];
            if (l.spatial) continue;
            total *= l.bound;
            if (pb.indexes[t][l.dim]) in_run = false;
            if (in_run) run *= l.bound;
        }
        return tl * (total / run);
    }

    // Whether some loop above storage level s is in one of the groups `free` (a bit per group).
    bool free_above(int s, unsigned free) const {
        for (int j = 0; j < start[s]; ++j)
            if (free >> nest.loops[j].group & 1) return true;
        return false;
    }

    // The fewest fills run_fills can give when the loops of each group in `free` may come in any order
    // among themselves: a group's loops that do not move the tensor all innermost (the longest run).
    double run_fills_bound(int s, int t, unsigned free) const {
        double total = 1, run = 1;
        bool in_run = true;
        int j = start[s] - 1;
        while (j >= 0) {
            const int group = nest.loops[j].group;
            if (free >> group & 1) {
                bool moves = false;
                double stay = 1, all = 1;
                for (; j >= 0 && nest.loops[j].group == group; --j) {
                    const Loop& l = nest.loops[j];
                    if (l.spatial) continue;
                    all *= l.bound;
                    if (pb.indexes[t][l.dim]) moves = true;
                    else stay *= l.bound;
                }
                total *= all;
                if (in_run) run *= stay;
                if (moves) in_run = false;
                continue;
            }
            const Loop& l = nest.loops[j--];
            if (l.spatial) continue;
            total *= l.bound;
            if (pb.indexes[t][l.dim]) in_run = false;
            if (in_run) run *= l.bound;
        }
        return tile(s, t) * (total / run);
    }

    // Fills of a one-word sliding window (its tile is one point) whose innermost real loop above level s is
    // outside every group in `free` and moves it: each step of every loop above then brings the whole word
    // (the innermost step moves it; any later step either repeats that step or differs from it), so the
    // fills are the product of the loops above, in every order of the free groups. Returns -1 otherwise:
    // there Timeloop's extrapolation can count less than run_fills does (a step that cancels the steps
    // inside it looks like no move at all), and only the first fill is certain.
    double one_word_fills(int s, int t, unsigned free) const {
        int j = start[s] - 1;
        while (j >= 0 && nest.loops[j].spatial) --j;
        if (j < 0 || (free >> nest.loops[j].group & 1) || !pb.indexes[t][nest.loops[j].dim]) return -1;
        double total = 1;
        for (; j >= 0; --j)
            if (!nest.loops[j].spatial) total *= nest.loops[j].bound;
        return total;
    }

    // nest.py's _sliding_fills: Timeloop's extrapolation from iterations 0 and 1 of every loop.
    double sliding_fills(int s, int t) const {
        const int nc = pb.ncoord[t];
        double ext[MAXC];
        double tl = 1;
        for (int c = 0; c < nc; ++c) {
            ext[c] = extent(t, c, suffix[s]);
            tl *= ext[c];
        }
        int above[MAXLOOPS], na = 0;
        for (int j = 0; j < start[s]; ++j)
            if (!nest.loops[j].spatial) above[na++] = j;
        if (na == 0) return tl;
        double outers[MAXLOOPS], outer = 1;
        for (int n = 0; n < na; ++n) {
            outers[n] = outer;
            outer *= nest.loops[above[n]].bound;
        }
        auto new_part = [&](const double* st) {
            double keep = 1;
            for (int c = 0; c < nc; ++c) keep *= std::max(0.0, ext[c] - std::fabs(st[c]));
            return tl - keep;
        };
        double fills = tl;
        double inner_sum[MAXC] = {}, step_k[MAXC] = {}, tv[MAXC], tau[MAXC];
        bool seen = false;
        for (int n = na - 1; n >= 0; --n) {
            const Loop& l = nest.loops[above[n]];
            for (int c = 0; c < nc; ++c) {
                tv[c] = pb.a[t][c][l.dim] * step[above[n]];
                tau[c] = tv[c] - inner_sum[c];
            }
            double brought;
            if (seen) {
                bool same = true;
                for (int c = 0; c < nc; ++c) same &= tau[c] == step_k[c];
                brought = same ? new_part(tau) : tl;
            } else {
                brought = new_part(tv);
            }
            fills += (l.bound - 1.0) * outers[n] * brought;
            if (!seen) std::memcpy(step_k, tv, sizeof(tv));
            seen = true;
            for (int c = 0; c < nc; ++c) inner_sum[c] += tv[c];
        }
        return fills;
    }

    // nest.py's distinct_children: child tiles over the PE array (multicast / spatial reduction groups).
    double distinct_children(int t, OffsetMemo& memo) const {
        if (distinct_memo[t] < 0) {
            offsets_memo[t] = count_distinct(t, memo, distinct_memo[t]);
        }
        return distinct_memo[t];
    }

    // nest.py's multicast_share: Timeloop's fills of the PE-level buffer below the fan-out, whose own fills
    // are `fills` (per multicast factor, ascending: groups x fills x factor / PEs, summed, truncated).
    // distinct_children(t) must have run. The factors here leave out the loops that do not move the
    // tensor (moving_pes of inst); nest.py's include them, so multiply them back.
    double multicast_share(int t, double fills) const {
        if (offsets_memo[t] == nullptr) return fills;
        const Offsets& o = *offsets_memo[t];
        double moving_pes = 0;
        for (const auto& g : o.groups) moving_pes += g.first * g.second;
        const double still = inst / moving_pes;
        double share = 0.0;
        for (const auto& g : o.groups) share = share + (g.second * fills * (g.first * still)) / inst;
        return std::floor(share);
    }

    // The layout's offsets in `memo` (null when every offset is distinct), their count in `distinct`.
    const Offsets* count_distinct(int t, OffsetMemo& memo, double& distinct) const {
        const int nc = pb.ncoord[t];
        int sp[MAXLOOPS], ns = 0;
        double disp[MAXLOOPS][MAXC];
        int per_coord[MAXC] = {};
        distinct = 1;
        for (int j = 0; j < nest.n; ++j) {
            const Loop& l = nest.loops[j];
            if (!l.spatial) continue;
            bool moving = false;
            for (int c = 0; c < nc; ++c) {
                disp[ns][c] = pb.a[t][c][l.dim] * step[j];
                moving |= disp[ns][c] != 0;
            }
            if (!moving) continue;
            for (int c = 0; c < nc; ++c) per_coord[c] += disp[ns][c] != 0;
            distinct *= l.bound;
            sp[ns++] = j;
        }
        bool simple = true;
        for (int c = 0; c < nc; ++c) simple &= per_coord[c] <= 1;
        if (simple) return nullptr;
        std::string key;
        for (int i = 0; i < ns; ++i) {
            key.append(reinterpret_cast<const char*>(&nest.loops[sp[i]].bound), sizeof(double));
            key.append(reinterpret_cast<const char*>(disp[i]), sizeof(double) * nc);
        }
        auto hit = memo.find(key);
        if (hit != memo.end()) {
            distinct = hit->second.distinct;
            return &hit->second;
        }
        // Enumerate every PE's offset; count the distinct ones.
        std::vector<std::vector<double>> offsets;
        int idx[MAXLOOPS] = {};
        while (true) {
            std::vector<double> o(nc, 0.0);
            for (int i = 0; i < ns; ++i)
                for (int c = 0; c < nc; ++c) o[c] += idx[i] * disp[i][c];
            offsets.push_back(std::move(o));
            int i = ns - 1;
            while (i >= 0 && ++idx[i] >= static_cast<int>(nest.loops[sp[i]].bound)) idx[i--] = 0;
            if (i < 0) break;
        }
        std::sort(offsets.begin(), offsets.end());
        // Run lengths of the sorted offsets are their multicast factors; count the offsets per factor.
        std::vector<double> runs;
        for (size_t i = 0; i < offsets.size();) {
            size_t j = i;
            while (j < offsets.size() && offsets[j] == offsets[i]) ++j;
            runs.push_back(static_cast<double>(j - i));
            i = j;
        }
        std::sort(runs.begin(), runs.end());
        Offsets result;
        result.distinct = distinct = static_cast<double>(runs.size());
        for (size_t i = 0; i < runs.size();) {
            size_t j = i;
            while (j < runs.size() && runs[j] == runs[i]) ++j;
            result.groups.emplace_back(runs[i], static_cast<double>(j - i));
            i = j;
        }
        return &memo.emplace(std::move(key), std::move(result)).first->second;
    }

    // Per-instance accesses of tensor t along the chain of levels `keeps` (innermost first) keeps it in.
    // The MAC is the innermost child; a parent serves each distinct child tile once per step when the
    // fan-out lies between them; the outermost level (the backing store) is never filled.
    Chain chain(int t, const bool* keeps, double distinct) const {
        Chain ch;
        double child_fills = cyc;
        bool child_per_pe = true;
        for (int s = 0; s < tp.ns; ++s) {
            if (!keeps[s]) continue;
            const bool across = child_per_pe && !tp.per_pe[s];
            double served = across ? child_fills * distinct : child_fills;
            // The PE-level buffer below the fan-out is filled with Timeloop's truncated share.
            if (across && ch.n > 0) ch.acc[ch.n - 1].fills = multicast_share(t, child_fills);
            const bool backing = s == tp.ns - 1;
            double f = backing ? 0.0 : fills(s, t);
            Access a{s, 0, f, 0};
            if (pb.read_write[t]) {
                a.updates = served;
                a.reads = served - elided(s, t);
            } else {
                a.reads = served;
            }
            ch.acc[ch.n++] = a;
            child_fills = f;
            child_per_pe = tp.per_pe[s];
        }
        return ch;
    }
};

// pJ of one access count at level s (nest.py's _energies: ceil(count / block) x price x copies).
inline double access_pj(const Template& tp, const Prices& pr, int s, double count, double price, double inst) {
    return ceil_blocks(count, pr.block[s]) * price * (tp.per_pe[s] ? inst : 1.0);
}

// A tensor's energy along its chain, in nest.py's order (levels innermost first; reads, fills, updates).
inline double chain_pj(const Template& tp, const Prices& pr, const Chain& ch, double inst) {
    double e = 0.0;
    for (int i = 0; i < ch.n; ++i) {
        const Access& a = ch.acc[i];
        e = e + access_pj(tp, pr, a.level, a.reads, pr.read[a.level], inst);
        e = e + access_pj(tp, pr, a.level, a.fills, pr.fill[a.level], inst);
        e = e + access_pj(tp, pr, a.level, a.updates, pr.update[a.level], inst);
    }
    return e;
}

inline int chain_find(const Chain& ch, int s) {
    for (int i = 0; i < ch.n; ++i)
        if (ch.acc[i].level == s) return i;
    return -1;
}

// Every tensor's chains and what the keep choices need from them: the mapper's view of one nest.
struct NestCounts {
    double cyc = 1, inst = 1;
    bool pe_ok = true;               // the PE count
    Chain chains[NT][MAXCHAIN];
    double tiles[NT][MAXS];
};

inline void count_nest(const Analysis& an, const Keeps& keeps, OffsetMemo& memo, NestCounts& out) {
    const Template& tp = an.tp;
    out.cyc = an.cyc;
    out.inst = an.inst;
    out.pe_ok = an.inst <= static_cast<double>(tp.pe_count);
    for (int t = 0; t < NT; ++t) {
        double distinct = an.distinct_children(t, memo);
        for (int c = 0; c < keeps.nchain[t]; ++c) out.chains[t][c] = an.chain(t, keeps.chain[t][c], distinct);
        for (int s = 0; s < tp.ns; ++s) out.tiles[t][s] = tp.capacity[s] >= 0 && keeps.ever[t][s] ? an.tile(s, t) : 0.0;
    }
}

// Whether keep choice k fits every buffer (nest.py's _pe_valid and the global buffer's check).
inline bool fits(const Template& tp, const Keeps& keeps, const NestCounts& nc, int k) {
    if (!nc.pe_ok) return false;
    for (int s = 0; s < tp.ns; ++s) {
        if (tp.capacity[s] < 0) continue;
        double need = 0.0;
        for (int t = 0; t < NT; ++t)
            if (keeps.keep[k][t][s]) need += nc.tiles[t][s];
        if (need > static_cast<double>(tp.capacity[s])) return false;
    }
    return true;
}

// The keep choices (bit k) that fit every buffer, each distinct set of kept tensors checked once.
inline uint64_t fitting(const Template& tp, const Keeps& keeps, const NestCounts& nc) {
    if (!nc.pe_ok) return 0;
    uint64_t ok = keeps.all();
    for (int s = 0; s < tp.ns && ok; ++s) {
        if (tp.capacity[s] < 0) continue;
        for (int m = 0; m < keeps.nsets[s]; ++m) {
            double need = 0.0;
            for (int t = 0; t < NT; ++t)
                if (keeps.sets[s][m] >> t & 1) need += nc.tiles[t][s];
            if (need > static_cast<double>(tp.capacity[s])) ok &= ~keeps.set_keeps[s][m];
        }
    }
    return ok;
}

// (cycles, energy) of every keep choice under one price variant, as the mappers compare them
// (random_pruned.cost_per_keep / exhaustive._best_in_batch: MAC energy, then each tensor's energy; cycles
// stretched by the bandwidth-limited level as nest.stretched_cycles does, tensor by tensor).
inline void keep_costs(const Template& tp, const Keeps& keeps, const Prices& pr, const NestCounts& nc,
                       double* cycles, double* energy) {
    double tensor_pj[NT][MAXCHAIN], read_rate[NT][MAXCHAIN], write_rate[NT][MAXCHAIN];
    const int bl = tp.bandwidth_level;
    bool any_rate = false;
    for (int t = 0; t < NT; ++t)
        for (int c = 0; c < keeps.nchain[t]; ++c) {
            const Chain& ch = nc.chains[t][c];
            tensor_pj[t][c] = chain_pj(tp, pr, ch, nc.inst);
            // Words per cycle at the bandwidth-limited level, as stretched_cycles divides them.
            const int i = bl >= 0 ? chain_find(ch, bl) : -1;
            read_rate[t][c] = i >= 0 ? ch.acc[i].reads / nc.cyc : 0.0;
            write_rate[t][c] = i >= 0 ? (ch.acc[i].fills + ch.acc[i].updates) / nc.cyc : 0.0;
            any_rate |= i >= 0;
        }
    const double mac = (nc.cyc * nc.inst) * pr.mac;
    for (int k = 0; k < keeps.n; ++k) {
        double e = mac, read = 0.0, write = 0.0;
        for (int t = 0; t < NT; ++t) {
            const int c = keeps.chain_of[k][t];
            e = e + tensor_pj[t][c];
            if (any_rate && keeps.keep[k][t][bl]) {
                read = read + read_rate[t][c];
                write = write + write_rate[t][c];
            }
        }
        double slowdown = 1.0;
        if (pr.read_bw < read) slowdown = std::min(slowdown, pr.read_bw / read);
        if (pr.write_bw < write) slowdown = std::min(slowdown, pr.write_bw / write);
        cycles[k] = slowdown == 1.0 ? std::ceil(nc.cyc) : std::ceil(nc.cyc / slowdown);
        energy[k] = e;
    }
}

}  // namespace codesign
