#!/usr/bin/env python3
"""Work-precision tables for the stiff benchmark (bench/stiff.sh): nde beside scipy and Diffrax.

Reads JSON lines (nde-bench --problem P4, bench/stiff_peers.py) and prints markdown:
for each problem and each peer run (method, rtol), the peer's achieved digits, time and
work, then nde's cheapest run (least median time, over all its methods and tolerances)
reaching at least the same digits, the speed-up, and nde's fewest-evaluation run reaching
them. Then, per problem, whether issue 6's targets hold: at least 3x less time than every
peer run at matched accuracy (so than the fastest of them), and fewer f evaluations than
scipy at matched accuracy. Digits are the IVP test set's mescd by default (--digits scd for
the relative ones). With --versus METHOD, also one nde method alone against scipy's Radau and
BDF: for each of their runs, the method's fewest-evaluation run reaching its digits, with its
Jacobians, LUs and time. Stdlib only.

  python3 bench/stiff_table.py results.jsonl [--digits mescd|scd] [--nde-table] [--versus radau5]
"""
import argparse
import json
import sys

PROBLEMS = (("P4-rober", "ROBER (t = 1e11, atol = 1e-4·rtol)"),
            ("P4-hires", "HIRES (t = 321.8122, atol = 1e-4·rtol)"),
            ("P4-pollu", "POLLU (t = 60, atol = rtol)"))
SCIPY = "scipy"


def load(paths):
    rows, machine = [], []
    for path in paths:
        with open(path) as fh:
            for line in fh:
                line = line.strip()
                if not line.startswith("{"):
                    continue
                try:
                    r = json.loads(line)
                except ValueError:
                    continue
                if r.get("peer") == "machine":
                    machine.append(r)
                elif "error" not in r and "wall_s_median" in r and r.get("problem", "").startswith("P4-"):
                    rows.append(r)
                elif "error" in r:
                    machine.append({"failed": "%s %s %s: %s" % (r.get("peer"), r.get("problem"), r.get("variant"),
                                                                 r["error"])})
    return rows, machine


def fmt_t(s):
    if s < 1e-3:
        return "%.0f µs" % (s * 1e6)
    if s < 1:
        return "%.2f ms" % (s * 1e3)
    return "%.2f s" % s


def label(r):
    return "%s %s" % (r["peer"], r["variant"])


def work(r):
    return "%s / %s / %s" % (r.get("nfe", "?"), r.get("njev", "?"), r.get("nlu", "?"))


def matched(nde, digits, key):
    """nde's runs reaching at least `digits`."""
    return [r for r in nde if r[key] >= digits]


def table(rows, problem, title, key):
    nde = [r for r in rows if r["problem"] == problem and r["peer"] == "nde"]
    peers = [r for r in rows if r["problem"] == problem and r["peer"] != "nde"]
    peers.sort(key=lambda r: (r["peer"] != SCIPY, r["variant"].split(" rtol")[0], -r["rtol"]))
    out = ["### %s" % title, "",
           "| peer run | %s | time | nfe / njev / nlu | nde's cheapest run with ≥ the digits | %s | time "
           "| nfe / njev / nlu | speed-up | nde's fewest-nfe run | nfe | peer nfe / nde nfe |" % (key, key),
           "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    speedups, nfe_checks = [], []
    for p in peers:
        cand = matched(nde, p[key], key)
        if not cand:
            out.append("| %s | %.2f | %s | %s | none reaches it | | | | | | | |"
                       % (label(p), p[key], fmt_t(p["wall_s_median"]),
                          work(p)))
            speedups.append((0.0, p))
            if p["peer"] == SCIPY:
                nfe_checks.append((0.0, p, None))
            continue
        best = min(cand, key=lambda r: r["wall_s_median"])
        few = min(cand, key=lambda r: r["nfe"])
        sp = p["wall_s_median"] / best["wall_s_median"]
        speedups.append((sp, p))
        nfe_ratio = p["nfe"] / few["nfe"] if "nfe" in p else float("nan")
        if p["peer"] == SCIPY:
            nfe_checks.append((nfe_ratio, p, few))
        out.append("| %s | %.2f | %s | %s | %s | %.2f | %s | %s | **%.1f×** | %s | %s | %.2f |" % (
            label(p), p[key], fmt_t(p["wall_s_median"]), work(p),
            best["variant"], best[key], fmt_t(best["wall_s_median"]), work(best), sp, few["variant"], few["nfe"],
            nfe_ratio))
    out.append("")
    reached = [(sp, p) for sp, p in speedups if sp > 0]
    unreached = [p for sp, p in speedups if sp == 0]
    if reached:
        worst, wp = min(reached, key=lambda x: x[0])
        by_family = {}
        for sp, p in reached:
            fam = "%s %s" % (p["peer"], p["variant"].split(" rtol")[0])
            by_family[fam] = min(by_family.get(fam, float("inf")), sp)
        met = "met" if worst >= 3 else "NOT met"
        out.append("Time target (≥ 3× less time than every peer run at matched %s): **%s** for the %d of %d peer runs "
                   "whose digits nde reaches — smallest speed-up %.1f× (against %s); smallest per peer method: %s." % (
                       key, met, len(reached), len(speedups), worst, label(wp),
                       ", ".join("%s %.1f×" % (f, s) for f, s in sorted(by_family.items()))))
    if unreached:
        out.append("")
        out.append("No nde run reaches the digits of: %s." % ", ".join(
            "%s (%.2f)" % (label(p), p[key]) for p in unreached))
    if nfe_checks:
        fewer = [c for c in nfe_checks if c[0] > 1]
        misses = [c for c in nfe_checks if not c[0] > 1]
        line = "Evaluation target (fewer f evaluations than scipy at matched %s): %d of %d scipy runs" % (
            key, len(fewer), len(nfe_checks))
        if misses:
            line += "; not met against: " + ", ".join(
                "%s (%s nfe; nde %s)" % (p["variant"], p.get("nfe"), "—" if few is None else
                                         "%s nfe with %s" % (few["nfe"], few["variant"]))
                for _, p, few in misses)
        out.append("")
        out.append(line + ".")
    out.append("")
    return "\n".join(out)


def versus(rows, problem, title, key, method):
    """`method`'s fewest-nfe run reaching each scipy Radau/BDF run's digits."""
    mine = [r for r in rows if r["problem"] == problem and r["peer"] == "nde" and r["method"] == method]
    peers = [r for r in rows if r["problem"] == problem and r["peer"] == SCIPY
             and r["variant"].split("/")[0] in ("Radau", "BDF")]
    peers.sort(key=lambda r: (r["variant"].split("/")[0] != "Radau", -r["rtol"]))
    out = ["### %s alone against scipy Radau and BDF: %s" % (method, title), "",
           "| scipy run | %s | nfe / njev / nlu | time | %s's fewest-nfe run with ≥ the digits | %s "
           "| nfe / njev / nlu | time | scipy nfe / %s nfe | time ratio |" % (key, method, key, method),
           "|---|---|---|---|---|---|---|---|---|---|"]
    fewer, total, misses = 0, 0, []
    for p in peers:
        total += 1
        cand = [r for r in mine if r[key] >= p[key]]
        name = "%s rtol=%s" % (p["variant"].split("/")[0], p["variant"].split("rtol=")[-1])
        if not cand:
            out.append("| %s | %.2f | %s | %s | none reaches it | | | | | |" % (name, p[key], work(p),
                                                                          fmt_t(p["wall_s_median"])))
            misses.append("%s (%.2f digits: not reached)" % (name, p[key]))
            continue
        few = min(cand, key=lambda r: (r["nfe"], r["wall_s_median"]))
        ratio = p["nfe"] / few["nfe"]
        if ratio > 1:
            fewer += 1
        else:
            misses.append("%s (%s nfe; %s %s: %s)" % (name, p["nfe"], method, few["variant"].split(" ", 1)[1],
                                                      few["nfe"]))
        out.append("| %s | %.2f | %s | %s | %s | %.2f | %s | %s | **%.2f** | %.0f× |" % (
            name, p[key], work(p), fmt_t(p["wall_s_median"]), few["variant"].split(" ", 1)[1], few[key], work(few),
            fmt_t(few["wall_s_median"]), ratio, p["wall_s_median"] / few["wall_s_median"]))
    out.append("")
    line = "%s takes fewer f evaluations than %d of %d scipy Radau/BDF runs at matched %s" % (method, fewer, total,
                                                                                            key)
    if misses:
        line += "; not against: " + ", ".join(misses)
    out.append(line + ".")
    out.append("")
    return "\n".join(out)


def nde_table(rows, problem, title):
    nde = [r for r in rows if r["problem"] == problem and r["peer"] == "nde"]
    out = ["### nde on %s" % title, "", "| method | rtol | scd | mescd | time | nfe | njev | nlu | Newton | steps (rej) |",
           "|---|---|---|---|---|---|---|---|---|---|"]
    for r in nde:
        out.append("| %s | %.0e | %.2f | %.2f | %s | %d | %d | %d | %d | %d (%d) |" % (
            r["method"], r["rtol"], r["scd"], r["mescd"], fmt_t(r["wall_s_median"]), r["nfe"], r["njev"], r["nlu"],
            r["nnewton"], r["accepted"] + r["rejected"], r["rejected"]))
    out.append("")
    return "\n".join(out)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("files", nargs="+")
    ap.add_argument("--digits", default="mescd", choices=["mescd", "scd"])
    ap.add_argument("--nde-table", action="store_true", help="also print nde's own runs")
    ap.add_argument("--versus", metavar="METHOD", help="also one nde method alone against scipy Radau and BDF")
    a = ap.parse_args()
    rows, machine = load(a.files)
    if not rows:
        sys.exit("no P4 measurements in %s" % " ".join(a.files))
    for m in machine:
        print("- " + ", ".join("%s: %s" % (k, v) for k, v in m.items() if k != "peer"))
    for peer in sorted({r["peer"] for r in rows}):
        loads = sorted(r["other_load_cores"] for r in rows if r["peer"] == peer and "other_load_cores" in r)
        if loads:
            print("- %s: other processes kept %.2f cores busy during its timed calls (median over %d lines, max %.2f)"
                  % (peer, loads[len(loads) // 2], len(loads), loads[-1]))
    print()
    for problem, title in PROBLEMS:
        if any(r["problem"] == problem for r in rows):
            print(table(rows, problem, title, a.digits))
            if a.versus:
                print(versus(rows, problem, title, a.digits, a.versus))
            if a.nde_table:
                print(nde_table(rows, problem, title))


if __name__ == "__main__":
    main()
