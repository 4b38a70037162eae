#!/usr/bin/env python3
"""report.py: turns the measurements scripts/bench recorded (a TSV) into the
tables of docs/benchmarks.md and the entries of bench/results.json.

  report.py DATA.tsv SECTION MACHINE [RESULTS]   prints the markdown of SECTION
                                       and merges its figures into RESULTS
                                       (default bench/results.json)

Rows of tool "floor" are the floors measured in the same run on the same
files (bench/floors.sh): scenario "noop" (find + sha256sum of the managed
paths), "first" (tar of berth's tree unpacked on each host + nginx -t and
reload), "nginx" (nginx -t and reload alone). Each berth figure is divided
by its floor: first converge by "first"; no-op and plan rows by "noop";
a one-site apply by "noop" + "nginx"; the warm plans by "noop-warm"
(the same through SSH connections opened before the timer).

TSV columns: tool mode sites scenario seconds rss_mb sessions logins
(sessions/logins: per host for this run, comma-separated; '-' when not counted).
"""
import json, statistics, sys, time

def load(path):
    rows = []
    for line in open(path):
        f = line.rstrip("\n").split("\t")
        if len(f) < 8:
            continue
        rows.append(dict(tool=f[0], mode=f[1], sites=int(f[2]), scenario=f[3], secs=float(f[4]),
                         rss=None if f[5] == "-" else int(f[5]), sessions=f[6], logins=f[7]))
    return rows

def pick(rows, **kw):
    return [r for r in rows if all(r[k] == v for k, v in kw.items())]

def med(xs):
    return statistics.median(xs) if xs else None

def fmt_s(x):
    if x is None:
        return "—"
    return f"{x:.3f} s" if x < 10 else f"{x:.1f} s"

def cell(rs):
    if not rs:
        return "—", "—", "—", 0
    t = [r["secs"] for r in rs]
    rss = [r["rss"] for r in rs if r["rss"] is not None]
    mm = f"{fmt_s(min(t))[:-2]}–{fmt_s(max(t))}" if len(t) > 1 else "1 run"
    return fmt_s(med(t)), mm, (f"{int(med(rss))} MB" if rss else "—"), len(t)

def sessions(rs):
    vals = set()
    for r in rs:
        if r["sessions"] != "-":
            vals.add(r["sessions"])
    if not vals:
        return "—"
    per = sorted({int(x) for v in vals for x in v.split(",")})
    return str(per[0]) if len(per) == 1 else f"{per[0]}–{per[-1]}"

def floor_of(rows, mode, n, scenario):
    """The median floor for a berth scenario, or None."""
    def m(s):
        return med([r["secs"] for r in pick(rows, tool="floor", mode=mode, sites=n, scenario=s)])
    if scenario == "first":
        return m("first")
    if scenario in ("noop-plan-warm", "noop-drift-warm") and m("noop-warm") is not None:
        return m("noop-warm")
    if scenario == "change-apply":
        a, b = m("noop"), m("nginx")
        return None if a is None or b is None else a + b
    return m("noop")

def by_floor(berth_s, floor_s):
    if berth_s is None or not floor_s:
        return "—"
    return f"{berth_s / floor_s:,.1f}×"

COMPARE = [("first", "first converge", "first"),
           ("noop-apply", "no-op", "noop"),
           ("change-apply", "one site changed", "change")]

def compare(rows, mode):
    out = ["| scenario | sites | berth median (min–max) | Ansible median (min–max) | Ansible ÷ berth | berth ÷ floor | berth peak RSS | Ansible runs |",
           "|---|---|---|---|---|---|---|---|"]
    res = {}
    for n in sorted({r["sites"] for r in pick(rows, mode=mode)}):
        for bs, label, ascn in COMPARE:
            b = pick(rows, tool="berth", mode=mode, sites=n, scenario=bs)
            a = pick(rows, tool="ansible", mode=mode, sites=n, scenario=ascn)
            if not b:
                continue
            bm, bmm, brss, _ = cell(b)
            am, amm, _, an = cell(a)
            ratio = "—"
            if a:
                ratio = f"{med([r['secs'] for r in a]) / med([r['secs'] for r in b]):,.0f}×"
            fl = floor_of(rows, mode, n, bs)
            out.append(f"| {label} | {n:,} | {bm} ({bmm}) | {am} ({amm}) | {ratio} | {by_floor(med([r['secs'] for r in b]), fl)} | {brss} | {an or '—'} |")
            res.setdefault(str(n), {})[label] = {
                "berth_s": [r["secs"] for r in b], "ansible_s": [r["secs"] for r in a],
                "floor_s": fl,
                "berth_rss_mb": [r["rss"] for r in b if r["rss"] is not None]}
    return "\n".join(out), res

BERTH = [("plan", "plan of a first converge (nothing on the hosts yet)"), ("first", "first converge (apply)"), ("noop-plan", "no-op plan"), ("noop-plan-warm", "no-op plan, connections warm"),
         ("noop-drift-warm", "no-op plan, desired state kept (berth serve's drift check)"),
         ("noop-apply", "no-op apply"), ("change-plan", "one site changed: plan"),
         ("change-apply", "one site changed: apply (+ nginx -t and reload on that host)")]

def berth_table(rows, mode):
    out = ["| berth scenario | sites | median | min–max | peak RSS | SSH sessions per host | SSH logins per host | floor | ÷ floor |",
           "|---|---|---|---|---|---|---|---|---|"]
    res = {}
    for n in sorted({r["sites"] for r in pick(rows, mode=mode, tool="berth")}):
        for s, label in BERTH:
            rs = pick(rows, tool="berth", mode=mode, sites=n, scenario=s)
            if not rs:
                continue
            m, mm, rss, _ = cell(rs)
            logins = sorted({int(x) for r in rs if r["logins"] != "-" for x in r["logins"].split(",")})
            lg = "—" if not logins else (str(logins[0]) if len(logins) == 1 else f"{logins[0]}–{logins[-1]}")
            fl = floor_of(rows, mode, n, s)
            out.append(f"| {label} | {n:,} | {m} | {mm} | {rss} | {sessions(rs)} | {lg} | {fmt_s(fl)} | {by_floor(med([r['secs'] for r in rs]), fl)} |")
            res.setdefault(str(n), {})[s] = {"seconds": [r["secs"] for r in rs], "floor_seconds": fl,
                                              "rss_mb": [r["rss"] for r in rs if r["rss"] is not None],
                                              "sessions_per_host": sorted({r["sessions"] for r in rs if r["sessions"] != "-"})}
    return "\n".join(out), res

FLOORS = [("noop", "no-op floor: find (stat) + sha256sum of every managed path"),
          ("noop-warm", "no-op floor through connections opened before the timer"),
          ("first", "first-converge floor: tar of berth's tree unpacked (ssh … sudo tar -x per host) + nginx -t and reload"),
          ("nginx", "nginx alone: nginx -t + nginx -s reload")]

def floor_table(rows, mode):
    out = ["| floor | sites | median | min–max | SSH sessions per host | SSH logins per host |",
           "|---|---|---|---|---|---|"]
    res = {}
    for n in sorted({r["sites"] for r in pick(rows, mode=mode, tool="floor")}):
        for s, label in FLOORS:
            rs = pick(rows, tool="floor", mode=mode, sites=n, scenario=s)
            if not rs:
                continue
            m, mm, _, _ = cell(rs)
            logins = sorted({int(x) for r in rs if r["logins"] != "-" for x in r["logins"].split(",")})
            lg = "—" if not logins else (str(logins[0]) if len(logins) == 1 else f"{logins[0]}–{logins[-1]}")
            out.append(f"| {label} | {n:,} | {m} | {mm} | {sessions(rs)} | {lg} |")
            res.setdefault(str(n), {})[s] = {"seconds": [r["secs"] for r in rs]}
    return "\n".join(out), res

def main():
    data, section, machine = sys.argv[1], sys.argv[2], sys.argv[3]
    results_file = sys.argv[4] if len(sys.argv) > 4 else "bench/results.json"
    rows = load(data)
    mode = section
    md = []
    results = {}
    if pick(rows, tool="ansible", mode=mode):
        t, r = compare(rows, mode)
        md += [t, ""]
        results["compare"] = r
    t, r = berth_table(rows, mode)
    md += [t]
    results["berth"] = r
    if pick(rows, tool="floor", mode=mode):
        t, r = floor_table(rows, mode)
        md += ["", "Floors, measured after each berth run on the files it converged (bench/floors.sh):", "", t]
        results["floors"] = r
    print("\n".join(md))
    try:
        j = json.load(open(results_file))
    except Exception:
        j = {}
    j.setdefault("sections", {})[section] = {"date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                                             "machine": machine, **results}
    json.dump(j, open(results_file, "w"), indent=1)

if __name__ == "__main__":
    main()
