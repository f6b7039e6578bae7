// codesign.cost.analytic._native: the compiled core of the analytic engine (see native.py).
//
// Plain CPython API, no third-party headers: the arguments are nested tuples of ints and floats that
// native.py packs from a Layer, an Arch and a Mapspace; results come back as tuples (and the random-pruned
// log as bytes of packed records). Everything here is parsing; the work is in the headers.
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

#include "exhaustive.hpp"
#include "nest.hpp"
#include "random_pruned.hpp"

using namespace codesign;

namespace {

struct ParseError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

// A borrowed view of a Python sequence's items.
class Seq {
  public:
    Seq(PyObject* obj, const char* what) : what_(what) {
        fast_ = PySequence_Fast(obj, what);
        if (!fast_) throw ParseError(std::string(what) + ": expected a sequence");
    }
    ~Seq() { Py_XDECREF(fast_); }
    Seq(const Seq&) = delete;
    Seq& operator=(const Seq&) = delete;
    Py_ssize_t size() const { return PySequence_Fast_GET_SIZE(fast_); }
    PyObject* operator[](Py_ssize_t i) const {
        if (i >= size()) throw ParseError(std::string(what_) + ": too few items");
        return PySequence_Fast_GET_ITEM(fast_, i);
    }
    int64_t i64(Py_ssize_t i) const {
        long long v = PyLong_AsLongLong((*this)[i]);
        if (v == -1 && PyErr_Occurred()) throw ParseError(std::string(what_) + ": expected an integer");
        return v;
    }
    double f64(Py_ssize_t i) const {
        double v = PyFloat_AsDouble((*this)[i]);
        if (v == -1.0 && PyErr_Occurred()) throw ParseError(std::string(what_) + ": expected a number");
        return v;
    }

  private:
    PyObject* fast_;
    const char* what_;
};

// A buffer of native int64 values (a C-contiguous NumPy array or bytes), copied out.
void read_int64s(PyObject* obj, std::vector<int64_t>& out, const char* what) {
    Py_buffer view;
    if (PyObject_GetBuffer(obj, &view, PyBUF_C_CONTIGUOUS) != 0) {
        PyErr_Clear();
        throw ParseError(std::string(what) + ": expected a contiguous int64 buffer");
    }
    if (view.len % static_cast<Py_ssize_t>(sizeof(int64_t)) != 0) {
        PyBuffer_Release(&view);
        throw ParseError(std::string(what) + ": expected a contiguous int64 buffer");
    }
    out.resize(view.len / sizeof(int64_t));
    std::memcpy(out.data(), view.buf, view.len);
    PyBuffer_Release(&view);
}

u128 to_u128(PyObject* obj) {
    // Python int -> unsigned 128 bits, as (high << 64) | low.
    PyObject* mask = PyLong_FromUnsignedLongLong(~0ULL);
    PyObject* low = PyNumber_And(obj, mask);
    PyObject* sixty_four = PyLong_FromLong(64);
    PyObject* high = PyNumber_Rshift(obj, sixty_four);
    u128 out = 0;
    if (low && high) {
        out = (static_cast<u128>(PyLong_AsUnsignedLongLong(high)) << 64) | PyLong_AsUnsignedLongLong(low);
    }
    Py_XDECREF(mask);
    Py_XDECREF(low);
    Py_XDECREF(sixty_four);
    Py_XDECREF(high);
    if (PyErr_Occurred()) throw ParseError("expected a non-negative integer below 2**128");
    return out;
}

PyObject* from_u128(u128 v) {
    PyObject* high = PyLong_FromUnsignedLongLong(static_cast<uint64_t>(v >> 64));
    PyObject* low = PyLong_FromUnsignedLongLong(static_cast<uint64_t>(v));
    PyObject* sixty_four = PyLong_FromLong(64);
    PyObject* shifted = PyNumber_Lshift(high, sixty_four);
    PyObject* out = PyNumber_Or(shifted, low);
    Py_XDECREF(high);
    Py_XDECREF(low);
    Py_XDECREF(sixty_four);
    Py_XDECREF(shifted);
    return out;
}

// problem: (projections[t][c][d], read_write[t])
Problem parse_problem(PyObject* obj) {
    Problem pb;
    Seq p(obj, "problem");
    Seq proj(p[0], "problem.projections");
    Seq rw(p[1], "problem.read_write");
    for (int t = 0; t < NT; ++t) {
        Seq coords(proj[t], "problem.projections[t]");
        pb.ncoord[t] = static_cast<int>(coords.size());
        if (pb.ncoord[t] > MAXC) throw ParseError("problem: too many coordinates");
        for (int c = 0; c < pb.ncoord[t]; ++c) {
            Seq row(coords[c], "problem.projections[t][c]");
            int nonzero = 0;
            for (int d = 0; d < NDIM; ++d) {
                pb.a[t][c][d] = row.f64(d);
                nonzero += pb.a[t][c][d] != 0;
                pb.indexes[t][d] |= pb.a[t][c][d] != 0;
            }
            pb.sliding[t] |= nonzero > 1;
        }
        pb.read_write[t] = rw.i64(t) != 0;
    }
    pb.index();
    return pb;
}

// template: (nest_level[s], per_pe[s], capacity[s], spatial_level, pe_count, bandwidth_level, sum_order)
Template parse_template(PyObject* obj) {
    Template tp;
    Seq t(obj, "template");
    Seq nest_level(t[0], "template.nest_level"), per_pe(t[1], "template.per_pe"), cap(t[2], "template.capacity");
    tp.ns = static_cast<int>(nest_level.size());
    if (tp.ns > MAXS) throw ParseError("template: too many storage levels");
    for (int s = 0; s < tp.ns; ++s) {
        tp.nest_level[s] = static_cast<int>(nest_level.i64(s));
        if (tp.nest_level[s] < 0 || tp.nest_level[s] >= MAXLEVELS) throw ParseError("template: nest level");
        tp.per_pe[s] = per_pe.i64(s) != 0;
        tp.capacity[s] = cap.i64(s);
    }
    tp.spatial_level = static_cast<int>(t.i64(3));
    tp.pe_count = t.i64(4);
    tp.bandwidth_level = static_cast<int>(t.i64(5));
    Seq order(t[6], "template.sum_order");
    tp.nsum = static_cast<int>(order.size());
    for (int i = 0; i < tp.nsum; ++i) tp.sum_order[i] = static_cast<int>(order.i64(i));
    return tp;
}

// keeps: [choice][tensor][storage level] truth values
Keeps parse_keeps(PyObject* obj, int ns) {
    Keeps k;
    Seq choices(obj, "keeps");
    k.n = static_cast<int>(choices.size());
    if (k.n > MAXKEEP || k.n == 0) throw ParseError("keeps: 1 to 64 keep choices");
    for (int i = 0; i < k.n; ++i) {
        Seq tensors(choices[i], "keeps[i]");
        for (int t = 0; t < NT; ++t) {
            Seq levels(tensors[t], "keeps[i][t]");
            for (int s = 0; s < ns; ++s) k.keep[i][t][s] = levels.i64(s) != 0;
        }
    }
    if (!k.index()) throw ParseError("keeps: a tensor takes more than 8 distinct chains of buffers");
    return k;
}

// prices: [(block[s], read[s], fill[s], update[s], mac, read_bw, write_bw)]
std::vector<Prices> parse_prices(PyObject* obj, int ns) {
    Seq list(obj, "prices");
    std::vector<Prices> out(list.size());
    if (out.empty()) throw ParseError("prices: at least one variant");
    for (Py_ssize_t v = 0; v < list.size(); ++v) {
        Seq p(list[v], "prices[v]");
        Seq block(p[0], "prices.block"), read(p[1], "prices.read"), fill(p[2], "prices.fill"),
            update(p[3], "prices.update");
        for (int s = 0; s < ns; ++s) {
            out[v].block[s] = block.f64(s);
            out[v].read[s] = read.f64(s);
            out[v].fill[s] = fill.f64(s);
            out[v].update[s] = update.f64(s);
        }
        out[v].mac = p.f64(4);
        out[v].read_bw = p.f64(5);
        out[v].write_bw = p.f64(6);
    }
    return out;
}

Nest parse_loops(PyObject* obj) {
    Nest nest;
    Seq loops(obj, "loops");
    for (Py_ssize_t i = 0; i < loops.size(); ++i) {
        Seq l(loops[i], "loops[i]");
        if (nest.n == MAXLOOPS) throw ParseError("loops: too many");
        const int64_t level = l.i64(0), dim = l.i64(1);
        const double bound = l.f64(2);
        if (level < 0 || level >= MAXLEVELS || dim < 0 || dim >= NDIM || !(bound >= 1))
            throw ParseError("loops: (level, dimension, bound >= 1, axis) out of range");
        nest.add(static_cast<int>(level), static_cast<int>(dim), bound, l.i64(3) != 0);
    }
    return nest;
}

Space parse_space(PyObject* obj) {
    Space sp;
    Seq s(obj, "space");
    sp.ndims = static_cast<int>(s.i64(0));
    sp.nlevels = static_cast<int>(s.i64(1));
    if (sp.ndims > NDIM || sp.nlevels > MAXL) throw ParseError("space: too many dimensions or levels");
    Seq tables(s[2], "space.tables"), options(s[3], "space.options");
    for (int d = 0; d < sp.ndims; ++d) {
        sp.options[d] = options.i64(d);
        if (sp.options[d] < 1) throw ParseError("space: a dimension without factorizations");
        read_int64s(tables[d], sp.table[d], "space.tables[d]");
        if (static_cast<int64_t>(sp.table[d].size()) != sp.options[d] * sp.nlevels) throw ParseError("space: table size");
        int64_t bound = 1;  // every row multiplies out to the dimension's bound
        for (int lv = 0; lv < sp.nlevels && !sp.table[d].empty(); ++lv) bound *= sp.table[d][lv];
        for (int64_t v : sp.table[d])
            if (v < 1 || bound > INT32_MAX) throw ParseError("space: bounds must be positive 32-bit integers");
    }
    Seq prune(s[4], "space.prune"), part(s[5], "space.part"), rank(s[6], "space.rank");
    for (int lv = 0; lv < sp.nlevels; ++lv) {
        sp.prune[lv] = prune.i64(lv) != 0;
        for (int d = 0; d < sp.ndims; ++d) {
            sp.part[lv][d] = static_cast<int>(part.i64(lv * sp.ndims + d));
            sp.rank[lv][d] = static_cast<int>(rank.i64(lv * sp.ndims + d));
        }
    }
    sp.spatial_level = static_cast<int>(s.i64(7));
    if (sp.spatial_level >= sp.nlevels) throw ParseError("space: spatial level");
    sp.fixed_split = static_cast<int>(s.i64(8));
    sp.fanout_x = s.i64(9);
    sp.fanout_y = s.i64(10);
    Seq temporal_of(s[11], "space.temporal_of"), capacity(s[12], "space.capacity");
    sp.nstorage = static_cast<int>(temporal_of.size());
    if (sp.nstorage > MAXS - 2) throw ParseError("space: too many storage levels");
    for (int i = 0; i < sp.nstorage; ++i) {
        sp.temporal_of[i] = static_cast<int>(temporal_of.i64(i));
        if (sp.temporal_of[i] < 0 || sp.temporal_of[i] >= sp.nlevels) throw ParseError("space: tiling level");
        sp.capacity[i] = capacity.i64(i);
    }
    Seq our_dim(s[13], "space.our_dim"), level_nest(s[14], "space.level_nest"),
        level_spatial(s[15], "space.level_spatial");
    for (int d = 0; d < sp.ndims; ++d) {
        sp.our_dim[d] = static_cast<int>(our_dim.i64(d));
        if (sp.our_dim[d] < 0 || sp.our_dim[d] >= NDIM) throw ParseError("space: dimension");
    }
    for (int lv = 0; lv < sp.nlevels; ++lv) {
        sp.level_nest[lv] = static_cast<int>(level_nest.i64(lv));
        if (sp.level_nest[lv] < 0 || sp.level_nest[lv] >= MAXLEVELS) throw ParseError("space: nest level");
        sp.level_spatial[lv] = level_spatial.i64(lv) != 0;
    }
    sp.if_size = s.i64(16);
    sp.lp_size_full = to_u128(s[17]);
    return sp;
}

Settings parse_settings(PyObject* obj) {
    Settings st;
    Seq s(obj, "settings");
    st.threads = static_cast<int>(s.i64(0));
    st.timeout = s.i64(1);
    st.victory = s.i64(2);
    st.max_permutations = s.i64(3);
    Seq metrics(s[4], "settings.metrics");
    st.nmetrics = static_cast<int>(metrics.size());
    if (st.nmetrics < 1 || st.nmetrics > 4) throw ParseError("settings: 1 to 4 optimization metrics");
    for (int i = 0; i < st.nmetrics; ++i) st.metrics[i] = static_cast<int>(metrics.i64(i));
    if (st.threads < 1) throw ParseError("settings: at least one thread");
    return st;
}

PyObject* nest_tuple(const Nest& nest) {
    PyObject* out = PyTuple_New(nest.n);
    for (int i = 0; i < nest.n; ++i) {
        const Loop& l = nest.loops[i];
        // (nest level, dim, bound, axis): axis 0 temporal, 1 the array's X, 2 its Y
        const int axis = l.spatial ? (l.group == 2 ? 2 : 1) : 0;
        PyTuple_SET_ITEM(out, i, Py_BuildValue("(iidi)", l.level, l.dim, l.bound, axis));
    }
    return out;
}

// evaluate(problem, template, keep, prices, loops) -> (valid, cycles, compute_cycles, energy,
//     level energies in sum order, ((level, tensor, reads, fills, updates), ...))
PyObject* py_evaluate(PyObject*, PyObject* args) {
    PyObject *problem, *tmpl, *keep, *prices, *loops;
    if (!PyArg_ParseTuple(args, "OOOOO", &problem, &tmpl, &keep, &prices, &loops)) return nullptr;
    try {
        const Problem pb = parse_problem(problem);
        const Template tp = parse_template(tmpl);
        PyObject* wrapped = Py_BuildValue("(O)", keep);
        Keeps keeps;
        try {
            keeps = parse_keeps(wrapped, tp.ns);
        } catch (...) {
            Py_DECREF(wrapped);
            throw;
        }
        Py_DECREF(wrapped);
        const Prices pr = parse_prices(prices, tp.ns)[0];
        const Nest nest = parse_loops(loops);
        Analysis an(pb, tp, nest);
        OffsetMemo memo;
        NestCounts nc;
        count_nest(an, keeps, memo, nc);
        const bool valid = fits(tp, keeps, nc, 0);
        // nest.evaluate's energies: per level (tensors in order; reads, fills, updates), then the total.
        double level_pj[MAXS] = {};
        const double inst = nc.inst;
        for (int t = 0; t < NT; ++t) {
            const Chain& ch = nc.chains[t][0];
            for (int i = 0; i < ch.n; ++i) {
                const Access& a = ch.acc[i];
                double& e = level_pj[a.level];
                e = e + access_pj(tp, pr, a.level, a.reads, pr.read[a.level], inst);
                e = e + access_pj(tp, pr, a.level, a.fills, pr.fill[a.level], inst);
                e = e + access_pj(tp, pr, a.level, a.updates, pr.update[a.level], inst);
            }
        }
        const double mac = (nc.cyc * nc.inst) * pr.mac;
        double energy = 0.0 + mac;
        PyObject* levels = PyTuple_New(tp.nsum);
        for (int i = 0; i < tp.nsum; ++i) {
            energy = energy + level_pj[tp.sum_order[i]];
            PyTuple_SET_ITEM(levels, i, PyFloat_FromDouble(level_pj[tp.sum_order[i]]));
        }
        double cycles[MAXKEEP], tensor_energy[MAXKEEP];
        keep_costs(tp, keeps, pr, nc, cycles, tensor_energy);
        int ncounts = 0;
        for (int t = 0; t < NT; ++t) ncounts += nc.chains[t][0].n;
        PyObject* counts = PyTuple_New(ncounts);
        int at = 0;
        for (int t = 0; t < NT; ++t) {
            const Chain& ch = nc.chains[t][0];
            for (int i = 0; i < ch.n; ++i) {
                const Access& a = ch.acc[i];
                PyTuple_SET_ITEM(counts, at++, Py_BuildValue("(iiddd)", a.level, t, a.reads, a.fills, a.updates));
            }
        }
        return Py_BuildValue("(OdddddNN)", valid ? Py_True : Py_False, cycles[0], nc.cyc, energy, mac, nc.inst,
                             levels, counts);
    } catch (const ParseError& e) {
        if (!PyErr_Occurred()) PyErr_SetString(PyExc_ValueError, e.what());
        return nullptr;
    } catch (const std::exception& e) {  // out of memory, mostly
        PyErr_SetString(PyExc_RuntimeError, e.what());
        return nullptr;
    }
}

PyObject* thread_best_tuple(const VariantState& vs, const Space& sp, const Keeps& keeps) {
    static const char* stops[] = {"", "timeout", "victory", "exhausted"};
    PyObject* lp = from_u128(vs.best.lp);
    PyObject* loops;
    if (vs.best.has) {
        loops = nest_tuple(nest_of(sp, keeps, vs.best.if_id, vs.best.lp, vs.best.split));
    } else {
        loops = Py_None;
        Py_INCREF(loops);
    }
    return Py_BuildValue("(OddLNiiLLsN)", vs.best.has ? Py_True : Py_False, vs.best.cycles, vs.best.energy,
                         static_cast<long long>(vs.best.if_id), lp, vs.best.split, vs.best.keep,
                         static_cast<long long>(vs.total), static_cast<long long>(vs.valid), stops[vs.stop], loops);
}

// random_pruned(problem, template, keeps, prices, space, settings, log) ->
//     (per variant: per thread (has best, cycles, energy, IF id, permutation, split, keep, total, valid, stop),
//      log records as bytes or None, distinct nests evaluated)
PyObject* py_random_pruned(PyObject*, PyObject* args) {
    PyObject *problem, *tmpl, *keep, *prices, *space, *settings;
    int log = 0;
    if (!PyArg_ParseTuple(args, "OOOOOOp", &problem, &tmpl, &keep, &prices, &space, &settings, &log)) return nullptr;
    try {
        const Problem pb = parse_problem(problem);
        const Template tp = parse_template(tmpl);
        const Keeps keeps = parse_keeps(keep, tp.ns);
        const std::vector<Prices> variants = parse_prices(prices, tp.ns);
        Space sp = parse_space(space);
        sp.prepare(pb);

        const Settings st = parse_settings(settings);
        std::vector<std::vector<VariantState>> states(st.threads, std::vector<VariantState>(variants.size()));
        Walker walker(sp, pb, tp, keeps, variants, st, log != 0);
        Py_BEGIN_ALLOW_THREADS;
        for (int t = 0; t < st.threads; ++t) walker.run(t, states[t]);
        Py_END_ALLOW_THREADS;
        PyObject* per_variant = PyList_New(static_cast<Py_ssize_t>(variants.size()));
        for (size_t v = 0; v < variants.size(); ++v) {
            PyObject* threads = PyList_New(st.threads);
            for (int t = 0; t < st.threads; ++t) PyList_SET_ITEM(threads, t, thread_best_tuple(states[t][v], sp, keeps));
            PyList_SET_ITEM(per_variant, static_cast<Py_ssize_t>(v), threads);
        }
        PyObject* events = Py_None;
        if (log) {
            events = PyBytes_FromStringAndSize(reinterpret_cast<const char*>(walker.events.data()),
                                               static_cast<Py_ssize_t>(walker.events.size() * sizeof(Event)));
        } else {
            Py_INCREF(Py_None);
        }
        return Py_BuildValue("(NN(LLLL))", per_variant, events, static_cast<long long>(walker.ifs),
                             static_cast<long long>(walker.perms), static_cast<long long>(walker.groups),
                             static_cast<long long>(walker.evaluated));
    } catch (const ParseError& e) {
        if (!PyErr_Occurred()) PyErr_SetString(PyExc_ValueError, e.what());
        return nullptr;
    } catch (const std::exception& e) {  // out of memory, mostly
        PyErr_SetString(PyExc_RuntimeError, e.what());
        return nullptr;
    }
}

// exhaustive(problem, template, keeps, prices, layer, groups) ->
//     (per variant: None or (cycles, energy, group, choice, keep, loops), rows evaluated, rows skipped)
// layer: (sizes[7], depthwise, sliding, spad_depth, macs); groups: [(product, [factor[7] per choice])]
PyObject* py_exhaustive(PyObject*, PyObject* args) {
    PyObject *problem, *tmpl, *keep, *prices, *layer, *groups;
    if (!PyArg_ParseTuple(args, "OOOOOO", &problem, &tmpl, &keep, &prices, &layer, &groups)) return nullptr;
    try {
        const Problem pb = parse_problem(problem);
        const Template tp = parse_template(tmpl);
        const Keeps keeps = parse_keeps(keep, tp.ns);
        const std::vector<Prices> variants = parse_prices(prices, tp.ns);
        ExLayer ly;
        Seq l(layer, "layer");
        Seq sizes(l[0], "layer.sizes");
        for (int d = 0; d < NDIM; ++d) ly.size[d] = sizes.i64(d);
        ly.depthwise = l.i64(1) != 0;
        ly.sliding = l.i64(2) != 0;
        ly.spad_depth = l.i64(3);
        ly.macs = l.f64(4);
        std::vector<std::pair<int64_t, std::vector<SpatialChoice>>> parsed;
        Seq gs(groups, "groups");
        for (Py_ssize_t g = 0; g < gs.size(); ++g) {
            Seq grp(gs[g], "groups[g]");
            Seq choices(grp[1], "groups[g].choices");
            std::vector<SpatialChoice> cs(choices.size());
            for (Py_ssize_t c = 0; c < choices.size(); ++c) {
                Seq f(choices[c], "groups[g].choices[c]");
                for (int d = 0; d < NDIM; ++d) cs[c].factor[d] = f.i64(d);
            }
            parsed.emplace_back(grp.i64(0), std::move(cs));
        }
        Exhaustive ex(ly, pb, tp, keeps, variants);
        Py_BEGIN_ALLOW_THREADS;
        ex.run(parsed);
        Py_END_ALLOW_THREADS;

        PyObject* per_variant = PyList_New(static_cast<Py_ssize_t>(variants.size()));
        for (size_t v = 0; v < variants.size(); ++v) {
            const ExBest& b = ex.best[v];
            PyObject* item;
            if (!b.has) {
                item = Py_None;
                Py_INCREF(item);
            } else {
                item = Py_BuildValue("(ddLiLN)", b.cycles, b.energy, static_cast<long long>(b.group), b.choice,
                                     static_cast<long long>(b.keep), nest_tuple(b.nest));
            }
            PyList_SET_ITEM(per_variant, static_cast<Py_ssize_t>(v), item);
        }
        return Py_BuildValue("(NLL)", per_variant, static_cast<long long>(ex.evaluated),
                             static_cast<long long>(ex.bounded));
    } catch (const ParseError& e) {
        if (!PyErr_Occurred()) PyErr_SetString(PyExc_ValueError, e.what());
        return nullptr;
    } catch (const std::exception& e) {  // out of memory, mostly
        PyErr_SetString(PyExc_RuntimeError, e.what());
        return nullptr;
    }
}

// timeloop_mapspace._splits: every way to write n as `order` factors, in Timeloop's recursion order (the
// last factor varies slowest), as native int64 rows.
void splits_into(int64_t m, int k, const std::vector<int64_t>& factors, std::vector<int64_t>& suffix,
                 std::vector<int64_t>& out) {
    if (k == 1) {
        out.push_back(m);
        out.insert(out.end(), suffix.rbegin(), suffix.rend());
        return;
    }
    for (int64_t f : factors) {
        if (m % f != 0) continue;
        suffix.push_back(f);
        splits_into(m / f, k - 1, factors, suffix, out);
        suffix.pop_back();
    }
}

PyObject* py_splits(PyObject*, PyObject* args) {
    long long n;
    int order;
    PyObject* factor_list;
    if (!PyArg_ParseTuple(args, "LiO", &n, &order, &factor_list)) return nullptr;
    try {
        Seq fs(factor_list, "factors");
        std::vector<int64_t> factors(fs.size());
        for (Py_ssize_t i = 0; i < fs.size(); ++i) {
            factors[i] = fs.i64(i);
            if (factors[i] < 1) throw ParseError("factors: positive integers");
        }
        if (n < 1 || order < 0) throw ParseError("splits: n >= 1 and order >= 0");
        std::vector<int64_t> out, suffix;
        if (order > 0) splits_into(n, order, factors, suffix, out);
        const Py_ssize_t rows = order == 0 ? 1 : static_cast<Py_ssize_t>(out.size()) / order;
        PyObject* data = PyBytes_FromStringAndSize(reinterpret_cast<const char*>(out.data()),
                                                   static_cast<Py_ssize_t>(out.size() * sizeof(int64_t)));
        return Py_BuildValue("(Nn)", data, rows);
    } catch (const ParseError& e) {
        if (!PyErr_Occurred()) PyErr_SetString(PyExc_ValueError, e.what());
        return nullptr;
    } catch (const std::exception& e) {  // out of memory, mostly
        PyErr_SetString(PyExc_RuntimeError, e.what());
        return nullptr;
    }
}

PyMethodDef methods[] = {
    {"splits", py_splits, METH_VARARGS, "Timeloop's factorizations of n over `order` levels, in its order."},
    {"evaluate", py_evaluate, METH_VARARGS, "Timeloop's counts, cycles and energy of one loop nest."},
    {"random_pruned", py_random_pruned, METH_VARARGS, "timeloop-mapper's random-pruned search, every thread."},
    {"exhaustive", py_exhaustive, METH_VARARGS, "The exhaustive mapper's best mapping per price variant."},
    {nullptr, nullptr, 0, nullptr},
};

PyModuleDef module = {PyModuleDef_HEAD_INIT, "_native", "The analytic engine's compiled core (see native.py).",
                      -1, methods, nullptr, nullptr, nullptr, nullptr};

}  // namespace

PyMODINIT_FUNC PyInit__native(void) {
    PyObject* m = PyModule_Create(&module);
    if (m) PyModule_AddIntConstant(m, "EVENT_SIZE", static_cast<long>(sizeof(Event)));
    return m;
}
