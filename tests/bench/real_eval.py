"""The rare-disease signal judged on real and realistic populations: every figure as a dict (not a test module).

    from tests.bench.real_eval import evaluate, report
    figures = evaluate(cases=600)          # or evaluate(kb=my_kb, cases=200) in a tuning loop
    print(report(figures))

Populations (``tests/bench/population.py``; builders' outputs cached under ``.radar/cache/real``):

- **real** inpatients: the 49 MIMIC-IV demo development patients as they are, split by sha256 of the
  Patient id into ``tune`` and ``report`` halves; also their problem list only (Observations dropped)
  and their labs only (Conditions dropped);
- **real** + rare: copies of those inpatients carrying a development rare case's findings
  (``mix_population.py``), split by the host's half;
- **synthetic** general population: the 297 Synthea records with adult reference ranges restored on
  their labs (``lab_ranges.py``), and copies of them carrying the same rare cases; the Synthea records
  as they are (no lab flags) for comparison;
- **synthetic** ordinary people with common problems (``common_problems.py``): adults and children.

Only the app's public entry points are used (``record_from_bundle``, ``load_knowledge``, ``extract``,
``reanalyse``, ``signal``, ``CdsThresholds``), so the figures follow whatever model is in the tree.
Profiles are extracted once per process and knowledge object and reused by later calls (``reuse=True``):
a ranking change is re-measured in seconds. The committed background (``app/knowledge/data/population.json.gz``)
is learned from the same Synthea records: the synthetic figures are in-sample for what those records
carry (problems, notes; not the restored lab flags), the real ones are not.
"""
from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from collections import Counter

import numpy as np

from app.config.cds import CdsThresholds
from app.fetch.files import record_from_bundle
from app.pipeline import extract, load_knowledge, reanalyse, signal

from . import common_problems, population
from .scoring import auroc, hit, rank_of, reliability  # the population benchmark's scoring

BASE_RATE = 0.04  # P(rare) of a record with nothing telling in it (README, "The rare-disease signal")
_PROFILES: dict[tuple, object] = {}  # (id(kb), population, patient) → extracted Profile


def _profile(kb, population_name: str, pid: str, bundle_fn, reuse: bool):
    key = (id(kb), population_name, pid)
    if reuse and key in _PROFILES:
        return _PROFILES[key]
    prof = extract(record_from_bundle(bundle_fn()), kb)
    if reuse:
        _PROFILES[key] = prof
    return prof


def _score(prof, kb, thresholds, times: list | None = None):
    t0 = time.perf_counter()
    a = reanalyse(prof, kb, top=10)
    if times is not None:
        times.append(time.perf_counter() - t0)
    return a, signal(a, thresholds) is not None


def _screen(rows) -> dict:
    """rows: (analysis, flagged) → flagged share and P(rare) summary."""
    if not rows:
        return {"n": 0}
    p = np.array([a.rare_probability if a.rare_probability is not None else np.nan for a, _ in rows], float)
    f = np.array([fl for _, fl in rows], bool)
    return {"n": len(rows), "flagged": int(f.sum()), "flagged_share": float(f.mean()),
            "p_median": float(np.nanmedian(p)), "p90": float(np.nanquantile(p, 0.9)), "p_max": float(np.nanmax(p))}


def _ranking(rows, orphanet) -> dict:
    """rows: (truth, analysis, flagged) of rare records → top-1/3/10, all and no-leak, and the top suggestion's ECE."""
    out = {}
    for name, keep in (("all", lambda t: True), ("no_leak", lambda t: not t.get("leak"))):
        sub = [(t, a) for t, a, _ in rows if keep(t)]
        ranks = [rank_of(a.suggestions, t["diagnoses"], orphanet) for t, a in sub]
        d = {"n": len(sub)}
        for k in (1, 3, 10):
            d[f"top{k}"] = (sum(1 for r in ranks if r is not None and r <= k) / len(sub)) if sub else float("nan")
        conf = [a.suggestions[0].probability for t, a in sub if a.suggestions]
        ok = [hit(a.suggestions[0], t["diagnoses"], orphanet) for t, a in sub if a.suggestions]
        if conf:
            ece, table = reliability(conf, ok)
            d.update(ece=float(ece), top_mean_probability=float(np.mean(conf)), top_right=float(np.mean(ok)),
                     reliability=[(float(lo), float(c), float(acc), n) for lo, c, acc, n in table])
        out[name] = d
    return out


def _mixed(name, path, truth, kb, thresholds, reuse, times, progress) -> tuple[list, list]:
    """Score a mixed population file: [(truth, analysis, flagged)] for its ordinary and its rare records."""
    ordinary, rare = [], []
    for i, (bundle, t) in enumerate(zip(population.read_ndjson(path), truth, strict=False)):
        assert population.patient_id(bundle) == t["patient"]
        prof = _profile(kb, name, t["patient"], lambda bundle=bundle: bundle, reuse)
        a, fl = _score(prof, kb, thresholds, times)
        (rare if t["rare"] else ordinary).append((t, a, fl))
        if progress and (i + 1) % 100 == 0:
            print(f"  [{name}] {i + 1}/{len(truth)}", file=sys.stderr, flush=True)
    return ordinary, rare


def _rare_vs(ordinary, rare, orphanet) -> dict:
    p_o = [a.rare_probability or 0.0 for _, a, _ in ordinary]
    d = {"screen": _screen([(a, f) for _, a, f in rare]),
         "screen_no_leak": _screen([(a, f) for t, a, f in rare if not t.get("leak")]),
         "auroc": float(auroc([0] * len(p_o) + [1] * len(rare), p_o + [a.rare_probability or 0.0 for _, a, _ in rare]))
         if ordinary and rare else float("nan")}
    nl = [r for r in rare if not r[0].get("leak")]
    d["auroc_no_leak"] = float(auroc([0] * len(p_o) + [1] * len(nl), p_o + [a.rare_probability or 0.0 for _, a, _ in nl])) \
        if ordinary and nl else float("nan")
    d["ranking"] = _ranking(rare, orphanet)
    return d


def _strip(bundle: dict, drop: str) -> dict:
    return {**bundle, "entry": [e for e in bundle["entry"] if e["resource"]["resourceType"] != drop]}


def git_head() -> str:
    """``git log -1 --oneline`` (shortened) and how many files under app/ differ from it (others' work in progress)."""
    try:
        head = subprocess.run(["git", "log", "-1", "--oneline"], cwd=population.ROOT, capture_output=True,
                              text=True, timeout=10).stdout.strip()[:80]
        dirty = subprocess.run(["git", "status", "--short", "--", "app"], cwd=population.ROOT, capture_output=True,
                               text=True, timeout=10).stdout.splitlines()
        return head + (f" (+{len(dirty)} uncommitted app/ files)" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "?"


def evaluate(kb=None, cases: int = 600, seed: int = 5, thresholds: CdsThresholds | None = None,
             reuse: bool = True, progress: bool = False) -> dict:
    """Every figure of the real-population benchmark as a nested dict (see :func:`report` for the layout).

    ``kb``: the knowledge to judge (default ``load_knowledge()``); ``cases``: rare cases mixed into each
    host population (sampled from the development phenopackets with ``seed``); ``reuse``: keep extracted
    profiles in this process for the next call with the same ``kb``; ``progress``: counts on stderr."""
    t_start = time.perf_counter()
    kb = kb or load_knowledge()
    thresholds = thresholds or CdsThresholds()
    orphanet = kb.orphanet
    times: dict[str, list] = {"real": [], "synthetic": []}
    fig: dict = {"meta": {"cases": cases, "seed": seed, "min_probability": thresholds.min_probability,
                          "git": git_head()}}

    # real inpatients, and real inpatients carrying a rare case's findings
    path, truth = population.mimic_mixed(cases, seed)
    ordinary, rare = _mixed("mimic-mixed", path, truth, kb, thresholds, reuse, times["real"], progress)
    inp = {}
    for h in (*population.HALVES, "all"):
        sub = [r for r in ordinary if h == "all" or r[0]["half"] == h]
        d = _screen([(a, f) for _, a, f in sub])
        d["top_names"] = Counter(a.suggestions[0].name for _, a, _ in sub if a.suggestions).most_common(10)
        inp[h] = d
    mimic = population.mimic_records()
    for view, drop in (("problems_only", "Observation"), ("labs_only", "Condition")):
        rows = {h: [] for h in population.HALVES}
        for b in mimic:
            pid = population.patient_id(b)
            prof = _profile(kb, f"mimic-{view}", pid, lambda b=b, drop=drop: _strip(b, drop), reuse)
            rows[population.half(pid)].append(_score(prof, kb, thresholds))
        rows["all"] = rows["tune"] + rows["report"]
        inp[view] = {h: _screen(r) for h, r in rows.items()}
    fig["real_inpatients"] = inp
    fig["real_rare"] = {h: _rare_vs([r for r in ordinary if h == "all" or r[0]["half"] == h],
                                    [r for r in rare if h == "all" or r[0]["half"] == h], orphanet)
                        for h in (*population.HALVES, "all")}

    # synthetic general population with labs restored, and rare cases inside it
    stats: dict = {}
    n_general = len(population.synthea_labs(stats))
    fig["synthetic_lab_restore"] = {"records": n_general, "restored": stats.get("restored", 0),
                                    "abnormal": stats.get("abnormal", 0), "high": stats.get("H", 0),
                                    "low": stats.get("L", 0), "children_skipped": stats.get("child", 0),
                                    "by_code": stats.get("by_code", {})}
    path, truth = population.synthea_labs_mixed(cases, seed)
    s_ord, s_rare = _mixed("synthea-labs-mixed", path, truth, kb, thresholds, reuse, times["synthetic"], progress)
    fig["synthetic_general"] = {"screen": _screen([(a, f) for _, a, f in s_ord]),
                                "top_names": Counter(a.suggestions[0].name for _, a, _ in s_ord
                                                     if a.suggestions).most_common(10)}
    fig["synthetic_rare"] = _rare_vs(s_ord, s_rare, orphanet)
    plain = []
    for b in population.read_ndjson(population.SYNTHEA):
        pid = population.patient_id(b)
        plain.append(_score(_profile(kb, "synthea-as-is", pid, lambda b=b: b, reuse), kb, thresholds))
    fig["synthetic_general_as_is"] = _screen(plain)

    # ordinary people with common problems
    for key, people in (("common_adults", common_problems.adults()), ("common_children", common_problems.children())):
        rows, named, single = [], {}, []
        for bundle, info in people:
            prof = _profile(kb, key, info["patient"], lambda bundle=bundle: bundle, reuse)
            a, fl = _score(prof, kb, thresholds)
            rows.append((a, fl))
            entry = {"p_rare": a.rare_probability, "flagged": fl, "problems": info["problems"], "age": info["age"],
                     "sex": info["sex"], "findings": [p.label for p in a.profile.present],
                     "top": a.suggestions[0].name if a.suggestions else None}
            if info["name"]:
                named[info["name"]] = entry
            if len(info["problems"]) == 1:
                single.append(entry)
        d = _screen(rows)
        d["flagged_people"] = [{"problems": info["problems"], "age": info["age"], "p_rare": a.rare_probability}
                               for (a, fl), (_, info) in zip(rows, people, strict=False) if fl][:20]
        if named:
            d["named"] = named
        if single:
            ps = [e["p_rare"] or 0.0 for e in single]
            by_problem: dict[str, list] = {}
            for e in single:
                by_problem.setdefault(e["problems"][0], []).append(e["p_rare"] or 0.0)
            d["single_problem"] = {"n": len(single), "p_median": float(np.median(ps)), "p_max": float(max(ps)),
                                   "base_rate": BASE_RATE,
                                   "by_problem": {k: float(np.median(v)) for k, v in sorted(by_problem.items())}}
        fig[key] = d

    fig["timing"] = {f"reanalyse_p50_ms_{k}": 1000 * statistics.median(v) for k, v in times.items() if v}
    all_times = times["real"] + times["synthetic"]
    fig["timing"]["reanalyse_p50_ms"] = 1000 * statistics.median(all_times) if all_times else float("nan")
    fig["timing"]["n"] = len(all_times)
    fig["meta"]["seconds"] = time.perf_counter() - t_start
    return fig


def _pct(d: dict) -> str:
    if not d or not d.get("n"):
        return "n/a"
    return f"{100 * d['flagged_share']:.1f}% ({d['flagged']}/{d['n']})"


def report(fig: dict) -> str:
    """The figures as labelled text (each line says **real** or **synthetic**) and a summary table."""
    L = []
    m = fig["meta"]
    L.append(f"real-population benchmark — {m['git']} — rare cases {m['cases']} (seed {m['seed']}), "
             f"flag at P(rare) >= {m['min_probability']}, {m['seconds']:.0f} s")
    inp = fig["real_inpatients"]
    L.append("[real] MIMIC-IV demo inpatients (dev half), as they are:")
    for h in (*population.HALVES, "all"):
        d = inp[h]
        L.append(f"  [real] inpatients {h:6s}: flagged {_pct(d)}   P(rare) median {d['p_median']:.3f}  "
                 f"90th pct {d['p90']:.3f}")
    for h in (*population.HALVES, "all"):
        L.append(f"  [real] inpatients {h:6s} top-1 names: " + "; ".join(f"{n} ×{c}" for n, c in inp[h]["top_names"]))
    for view in ("problems_only", "labs_only"):
        L.append(f"  [real] inpatients, {view.replace('_', ' ')}: " + "   ".join(
            f"{h} {_pct(inp[view][h])} (median {inp[view][h]['p_median']:.3f})" for h in (*population.HALVES, "all")))
    L.append("[real] rare cases inside real inpatient records (host's half):")
    for h in (*population.HALVES, "all"):
        d = fig["real_rare"][h]
        rk = d["ranking"]
        L.append(f"  [real+rare] {h:6s}: flagged {_pct(d['screen'])} (no-leak {_pct(d['screen_no_leak'])})  "
                 f"AUROC vs real inpatients {d['auroc']:.3f} (no-leak {d['auroc_no_leak']:.3f})")
        L.append(f"  [real+rare] {h:6s}: top-1/3/10 all {100 * rk['all']['top1']:.1f} / {100 * rk['all']['top3']:.1f} / "
                 f"{100 * rk['all']['top10']:.1f}% (n={rk['all']['n']})   no-leak {100 * rk['no_leak']['top1']:.1f} / "
                 f"{100 * rk['no_leak']['top3']:.1f} / {100 * rk['no_leak']['top10']:.1f}% (n={rk['no_leak']['n']})"
                 + (f"   top suggestion ECE no-leak {rk['no_leak']['ece']:.3f}" if "ece" in rk["no_leak"] else ""))
    s = fig["synthetic_lab_restore"]
    L.append(f"[synthetic] Synthea general population, adult reference ranges restored: {s['restored']} results "
             f"given a range, {s['abnormal']} abnormal ({100 * s['abnormal'] / max(1, s['restored']):.1f}%: "
             f"{s['high']} H, {s['low']} L); {s['children_skipped']} results of children left without one")
    top_codes = sorted(s["by_code"].items(), key=lambda kv: -kv[1][1])[:8]
    L.append("  [synthetic] most often abnormal: " + ", ".join(f"{c} {ab}/{n}" for c, (n, ab) in top_codes))
    g = fig["synthetic_general"]["screen"]
    L.append(f"  [synthetic] general population, labs restored: flagged {_pct(g)}  P(rare) median {g['p_median']:.3f}  "
             f"90th pct {g['p90']:.3f}  max {g['p_max']:.3f}   (as they are, no lab flags: flagged "
             f"{_pct(fig['synthetic_general_as_is'])}, median {fig['synthetic_general_as_is']['p_median']:.3f})")
    L.append("  [synthetic] general population top-1 names: " + "; ".join(
        f"{n} ×{c}" for n, c in fig["synthetic_general"]["top_names"]))
    d = fig["synthetic_rare"]
    rk = d["ranking"]
    L.append(f"  [synthetic+rare] flagged {_pct(d['screen'])} (no-leak {_pct(d['screen_no_leak'])})  AUROC "
             f"{d['auroc']:.3f} (no-leak {d['auroc_no_leak']:.3f})  top-10 all {100 * rk['all']['top10']:.1f}% "
             f"no-leak {100 * rk['no_leak']['top10']:.1f}%  (top-1/3 all {100 * rk['all']['top1']:.1f} / "
             f"{100 * rk['all']['top3']:.1f})")
    if "ece" in rk["no_leak"]:
        nl = rk["no_leak"]
        L.append(f"  [synthetic+rare] top suggestion no-leak: ECE {nl['ece']:.3f} (mean probability "
                 f"{nl['top_mean_probability']:.3f}, right {nl['top_right']:.3f}, n={nl['n']})")
        L.append("    " + "  ".join(f"[{lo:.1f}: {c:.2f}→{acc:.2f} n={n}]" for lo, c, acc, n in nl["reliability"]))
    for key, label in (("common_adults", "adults"), ("common_children", "children")):
        d = fig[key]
        L.append(f"[synthetic] ordinary {label} with common problems: flagged {_pct(d)}  P(rare) median "
                 f"{d['p_median']:.3f}  max {d['p_max']:.3f}")
        for fp in d["flagged_people"][:5]:
            L.append(f"    flagged: {fp['age']} y, {', '.join(fp['problems'])}: P(rare) {fp['p_rare']:.3f}")
        if "single_problem" in d:
            sp = d["single_problem"]
            L.append(f"  [synthetic] single-problem {label}: n={sp['n']}  P(rare) median {sp['p_median']:.3f}  "
                     f"max {sp['p_max']:.3f}  (base rate {sp['base_rate']:.2f})")
            L.append("    " + ", ".join(f"{k} {v:.3f}" for k, v in sp["by_problem"].items()))
        for name, e in d.get("named", {}).items():
            L.append(f"  [synthetic] {name}: {e['age']} y {e['sex']}, {', '.join(e['problems'])} → P(rare) "
                     f"{e['p_rare']:.3f} (base rate {BASE_RATE:.2f}), flagged {e['flagged']}, findings "
                     f"{e['findings']}, top {e['top']}")
    t = fig["timing"]
    L.append(f"ranking time (reanalyse only) p50 {t['reanalyse_p50_ms']:.1f} ms per record (n={t['n']}; real hosts "
             f"{t.get('reanalyse_p50_ms_real', float('nan')):.1f} ms, synthetic hosts "
             f"{t.get('reanalyse_p50_ms_synthetic', float('nan')):.1f} ms)")
    L.append("")
    L.append(summary(fig))
    return "\n".join(L)


def summary(fig: dict) -> str:
    """A compact table: one row per figure, labelled with its population."""
    inp, rr, sr = fig["real_inpatients"], fig["real_rare"], fig["synthetic_rare"]
    rows = [("population", "figure", "tune", "report", "all")]

    def fl(d):
        return f"{100 * d['flagged_share']:.1f}% {d['flagged']}/{d['n']}" if d.get("n") else "n/a"

    rows.append(("real inpatients", "flagged", *(fl(inp[h]) for h in (*population.HALVES, "all"))))
    rows.append(("real inpatients", "P(rare) median", *(f"{inp[h]['p_median']:.3f}" for h in (*population.HALVES, "all"))))
    rows.append(("real inpatients", "P(rare) p90", *(f"{inp[h]['p90']:.3f}" for h in (*population.HALVES, "all"))))
    rows.append(("real problem list only", "flagged", *(fl(inp["problems_only"][h]) for h in (*population.HALVES, "all"))))
    rows.append(("real labs only", "flagged", *(fl(inp["labs_only"][h]) for h in (*population.HALVES, "all"))))
    rows.append(("real + rare", "flagged", *(fl(rr[h]["screen"]) for h in (*population.HALVES, "all"))))
    rows.append(("real + rare", "AUROC", *(f"{rr[h]['auroc']:.3f}" for h in (*population.HALVES, "all"))))
    rows.append(("real + rare", "AUROC no-leak", *(f"{rr[h]['auroc_no_leak']:.3f}" for h in (*population.HALVES, "all"))))
    for sub in ("all", "no_leak"):
        rows.append(("real + rare", f"top-1/3/10 {sub.replace('_', '-')}", *(
            "/".join(f"{100 * rr[h]['ranking'][sub][f'top{k}']:.0f}" for k in (1, 3, 10))
            for h in (*population.HALVES, "all"))))
    sg = fig["synthetic_general"]["screen"]
    rows.append(("synthetic general, labs restored", "flagged", "", "", fl(sg)))
    rows.append(("synthetic general, as is", "flagged", "", "", fl(fig["synthetic_general_as_is"])))
    rows.append(("synthetic + rare", "flagged", "", "", fl(sr["screen"])))
    rows.append(("synthetic + rare", "AUROC (no-leak)", "", "", f"{sr['auroc']:.3f} ({sr['auroc_no_leak']:.3f})"))
    rows.append(("synthetic + rare", "top-10 all / no-leak", "", "",
                 f"{100 * sr['ranking']['all']['top10']:.1f} / {100 * sr['ranking']['no_leak']['top10']:.1f}%"))
    if "ece" in sr["ranking"]["no_leak"]:
        rows.append(("synthetic + rare", "ECE top sugg. no-leak", "", "", f"{sr['ranking']['no_leak']['ece']:.3f}"))
    for key, label in (("common_adults", "synthetic common adults"), ("common_children", "synthetic common children")):
        d = fig[key]
        rows.append((label, "flagged", "", "", fl(d)))
        rows.append((label, "P(rare) median / max", "", "", f"{d['p_median']:.3f} / {d['p_max']:.3f}"))
        if "single_problem" in d:
            rows.append((label + ", 1 problem", "P(rare) median (base 0.04)", "", "",
                         f"{d['single_problem']['p_median']:.3f}"))
        for name, e in d.get("named", {}).items():
            rows.append((f"synthetic {name}", "P(rare)", "", "", f"{e['p_rare']:.3f}"))
    rows.append(("all scored records", "reanalyse p50 ms", "", "", f"{fig['timing']['reanalyse_p50_ms']:.1f}"))
    widths = [max(len(str(r[i])) for r in rows) for i in range(5)]

    def line(r):
        return "  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=False)).rstrip()
    return "\n".join([line(rows[0]), "  ".join("-" * w for w in widths)] + [line(r) for r in rows[1:]])


if __name__ == "__main__":
    print(report(evaluate(cases=int(os.environ.get("BENCH_REAL_CASES", "600")), progress=True)))
