"""Markdown tables from the benchmark results dictionary."""

from __future__ import annotations

MiB = 2**20


def _f(x, digits=3) -> str:
    """A number with ``digits`` significant digits, plain for moderate magnitudes."""
    if x is None:
        return "–"
    if isinstance(x, str):
        return x
    if x == 0:
        return "0"
    ax = abs(x)
    if ax >= 1e6 or ax < 1e-3:
        return f"{x:.{digits - 1}e}".replace("e+0", "e").replace("e+", "e").replace("e-0", "e-")
    return f"{x:.{digits}g}" if ax < 10 ** digits else f"{x:,.0f}"


def _table(header: list[str], rows: list[list]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(_f(c) if not isinstance(c, str) else c for c in row) + " |" for row in rows]
    return out


def markdown(res: dict) -> str:
    meta = res["meta"]
    L = [f"# stochins benchmarks{' (quick)' if meta['quick'] else ''}", "",
         f"Command: `{meta['command']}` — {meta['date']}, {meta['total_s']:.0f} s in all.  ",
         f"Machine: {meta['cpu']}, {meta['cpus']} CPUs; numba threads {meta['numba_threads']}; "
         f"load average {meta['loadavg_start']} at start, {meta['loadavg_end']} at end.  ",
         "Versions: " + ", ".join(f"{k} {v}" for k, v in meta["versions"].items()) + ".", ""]

    wls = {w["key"]: w for w in res["workloads"]}
    ours = res.get("ours", {})

    # ---------------------------------------------------------------- our SSA
    L += ["## Our exact SSA (direct method)", ""]
    rows = []
    for key, o in ours.items():
        if "error" in o:
            rows.append([wls[key]["label"], wls[key]["describe"], "FAILED: " + o["error"]] + [""] * 6)
            continue
        r1, r2 = o["runs"]["1"], o["runs"]["2"]
        rows.append([wls[key]["label"], wls[key]["describe"], o["events_per_cell"],
                     f"{r1['cells']:,} / {r2['cells']:,}" + (f" ({r1['calls']}/{r2['calls']} calls)" if max(
                         r1.get("calls", 1), r2.get("calls", 1)) > 1 else ""), r1["events_per_s"], r1["cells_per_s"],
                     r2["events_per_s"], r2["cells_per_s"], f"{o['speedup_2_threads']:.2f}"])
    L += _table(["workload", "settings", "events/cell", "cells (1 thr / 2 thr)", "events/s, 1 thread",
                 "cells/s, 1 thread", "events/s, 2 threads", "cells/s, 2 threads", "2 thr / 1 thr"], rows)
    L += ["", "Events/s = sum of `Result.events` / wall time of the whole `simulate` call (allocation, seeding "
          "and copying included); kernels already compiled and loaded. Where the returned trajectories would get "
          "too large, the same call is repeated with new seeds and the totals are reported (calls).", ""]

    # ---------------------------------------------------------------- our tau-leaping
    taus = res.get("ours_tau", {})
    if taus:
        L += ["## Our tau-leaping (method='tau', default options)", ""]
        rows = []
        for key, t in taus.items():
            if "error" in t:
                rows.append([wls[key]["label"], "FAILED: " + t["error"][:200]] + [""] * 6)
                continue
            r1, r2 = t["runs"]["1"], t["runs"]["2"]
            chk = t.get("check")
            rows.append([wls[key]["label"], f"{r1['cells']:,} / {r2['cells']:,}", r1["cells_per_s"],
                         r1["ssa_equivalent_events_per_s"], r2["cells_per_s"], r2["ssa_equivalent_events_per_s"],
                         f"{t['speedup_vs_ssa']['1']:.2f} / {t['speedup_vs_ssa']['2']:.2f}",
                         "–" if not chk else f"{chk['max_z']:.1f} ({chk['species']})"])
        L += _table(["workload", "cells (1 thr / 2 thr)", "cells/s, 1 thread", "SSA-equiv. events/s, 1 thread",
                     "cells/s, 2 threads", "SSA-equiv. events/s, 2 threads", "speed-up vs our SSA (1 / 2 thr)",
                     "check vs our SSA: max |z|"], rows)
        L += ["", "SSA-equivalent events/s = cells × our exact SSA's mean events per cell / wall time (the firings "
                  "`Result.events` counts are in the JSON). Runs are half as long as the SSA runs.", ""]

    # ---------------------------------------------------------------- peers
    peers = res.get("gillespy2", [])
    if peers:
        L += ["## gillespy2 on the same models (exported with `to_gillespy2`)", ""]
        rows = []
        for p in peers:
            key = p["workload"]
            label = wls[key]["label"]
            span = "" if p["t_end"] == wls[key]["t_end"] else f" (t=0..{p['t_end']:g})"
            if "error" in p:
                rows.append([label + span, p["solver"], "FAILED: " + p["error"].splitlines()[0][:120]] + [""] * 6)
                continue
            o = ours.get(key, {})
            r1 = o.get("runs", {}).get("1", {}).get("events_per_s")
            r2 = o.get("runs", {}).get("2", {}).get("events_per_s")
            ev = p["events_per_s"]
            chk = p.get("check")
            chk_s = "–" if not chk else f"{chk['max_z']:.1f} ({chk['species']})"
            rows.append([label + span, p["solver"] + (f" tau_tol={p['run_kwargs']['tau_tol']}"
                                                      if "tau_tol" in p["run_kwargs"] else ""),
                         f"{p['build_s']:.2f}", f"{p['trajectories']:,}", p["wall_s"], ev,
                         f"{r1 / ev:.1f}" if r1 else "–", f"{r2 / ev:.1f}" if r2 else "–", chk_s])
        L += _table(["workload", "gillespy2 solver", "build s", "trajectories", "run s", "events/s",
                     "ours/theirs, 1 thread", "ours/theirs, 2 threads", "check: max |z|"], rows)
        L += ["",
              "gillespy2 does not report reaction events: its events/s is (trajectories × OUR mean events per cell "
              "for the same model, settings and time span) / wall time of `solver.run` (the exact SSA has the "
              "same expected event count; for tau-leaping this is an SSA-equivalent rate). Build time (C++ "
              "generation and compilation in the solver's constructor) is excluded from the run time and "
              "reported separately; its first build in a fresh environment also compiles gillespy2's cached "
              "base objects. Ratios compare with our events/s on the full workload above; rows marked t=0..x "
              "ran a shorter time span to keep the slow solvers cheap. Check: largest |z| over species of the "
              "difference between gillespy2's and our final-time means (a sanity check of the export; "
              "|z| up to ~3 is chance with ~20 species; tau-leaping is approximate).", ""]

    # ---------------------------------------------------------------- events per minute
    epm = res.get("events_per_minute")
    if epm:
        L += ["## Insulin model at scale 1 (default): events per cell per simulated minute", ""]
        if "error" in epm:
            L += [f"FAILED: {epm['error']}", ""]
        else:
            rows = [[f"{a:g}–{b:g} min", v] for a, b, v in zip([0] + epm["t_end"][:-1], epm["t_end"],
                                                               epm["per_minute"])]
            rows.append([f"mean over 0–{epm['t_end'][-1]:g} min", epm["mean_per_minute"]])
            rows.append(["→ events per cell-hour at that rate", 60 * epm["mean_per_minute"]])
            L += _table(["interval (100 nM insulin from t=0)", "events per cell per minute"], rows)
            L += ["", f"{epm['cells']} cells, exact SSA (same seed for both end times, so intervals are differences "
                      "of the same trajectories).", ""]

    # ---------------------------------------------------------------- compile
    comp = res.get("compile", [])
    if comp:
        L += ["## Compile and start-up times", ""]
        rows = []
        for c in comp:
            if "error" in c:
                rows.append([c["model"], "FAILED: " + c["error"][:200]] + [""] * 5)
                continue
            cold, warm = c["cold"], c["warm"]
            rows.append([c["model"], cold["compile_s"], cold["start_to_first_result_s"],
                         f"{cold['peak_rss_bytes'] / MiB:.0f}", warm["start_to_first_result_s"], warm["import_s"],
                         warm["run_s"]])
        L += _table(["model", "cold compile s", "cold: import → first result s", "cold peak RSS MiB",
                     "warm start s (import → first result)", "of which import s", "the 1-cell run itself s"], rows)
        L += ["", "Each column is a fresh subprocess with `STOCHINS_CACHE_DIR` set to a new empty directory "
                  "(cold), then a second subprocess on the same directory (warm). Cold compile = load_model + "
                  "first 1-cell simulate − the same simulate repeated. The package's own numba-cached helpers "
                  "(RNG) are not reset.", ""]

    # ---------------------------------------------------------------- memory
    mem = res.get("memory", [])
    if mem:
        L += ["## Peak memory (cascade, subprocess per row)", ""]
        rows = []
        for m in mem:
            if "error" in m:
                rows.append([f"{m.get('cells', 0):,}", "FAILED: " + m["error"][:200]] + [""] * 7)
                continue
            inc = m["peak_increase_bytes"]
            note = "" if m.get("peak_reset") else " (≤: peak not reset)"
            rows.append([f"{m['cells']:,}", f"{m['block_size']:,}" + (" (default)" if m["block_size_default"] else ""),
                         m["wall_s"], f"{m['peak_bytes'] / MiB:.0f}", f"{m['rss_before_bytes'] / MiB:.0f}",
                         f"{inc / MiB:.1f}{note}", f"{m['result_bytes'] / MiB:.1f}",
                         f"{(inc - m['result_bytes']) / MiB:.1f}", f"{m['block_arrays_bytes_estimate'] / MiB:.1f}"])
        L += _table(["cells", "block size (cells)", "wall s", "peak RSS during the run MiB", "RSS before MiB",
                     "increase MiB", "returned Result MiB", "engine working memory MiB (increase − Result)",
                     "block arrays MiB (estimate)"], rows)
        spec = res.get("memory_spec", {})
        L += ["", f"t=0..{spec.get('t_end')}, {spec.get('samples')} samples, record {spec.get('record')}, "
                  f"{spec.get('threads')} threads; one subprocess per row, kernels loaded from cache and the peak-RSS "
                  "mark reset (`/proc/self/clear_refs`) just before the timed `simulate`, then read as VmHWM "
                  "(`resource.getrusage` ru_maxrss, in the JSON, also holds the forked parent's RSS from before exec). `simulate` returns every trajectory in memory as a "
                  "(cells, T, R) int32 array (the Result column), which grows with cells by design; the engine's "
                  "working memory (per block: output, initial states, parameters, RNG states, status) is what the "
                  "block size should bound. The default block size is the one `simulate` picks "
                  "(`Plan.default_block_size`).", ""]

    # ---------------------------------------------------------------- batch runs, insulin tau, protocols
    import importlib

    for key, title in (("batch", "Batch runs"), ("insulin_tau", "Tau-leaping vs exact SSA on the insulin model"),
                       ("protocols", "Input protocols and variability")):
        section = res.get(key)
        if not section:
            continue
        if "error" in section:
            L += [f"## {title}", "", f"FAILED: {section['error']}", ""]
            continue
        L += importlib.import_module(f".{key}", __package__).markdown(section)

    notes = res.get("notes", [])
    if notes:
        L += ["## Notes", ""] + [f"- {n}" for n in notes] + [""]
    return "\n".join(L)
