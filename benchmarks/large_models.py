"""Validate and compile time against model size (issue 14): generated networks of 10 to 10,000 reactions.

``python -m benchmarks.large_models [--compile-up-to M]``. A network of M reactions over M/5 species:
a ring of conversions X_i -> X_{i+1}, dimerisations X_i + X_j -> X_k, and degradation/synthesis,
every tenth reaction with a Hill-type full propensity — the shape of a large signalling network,
where each species is read by a handful of reactions. "validate" is what ``stochins validate`` does
(parse, check, dependency graph, generated source, plans); "compile" adds numba's first compile of
the SSA kernel and one short block.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path


def network_text(m: int) -> str:
    s = max(4, m // 5)
    lines = [f"name: generated_{m}", "species:"]
    lines += [f"  X{i}: {100 + (i * 37) % 400}" for i in range(s)]
    lines += ["parameters:"] + [f"  k{j}: {0.01 + (j % 7) * 0.003:.4f}" for j in range(m)] + ["  K: 150.0"]
    lines += ["reactions:"]
    for j in range(m):
        a, b, c = j % s, (j * 7 + 3) % s, (j * 13 + 5) % s
        kind = j % 4
        if j % 10 == 9:
            lines.append(f'  r{j}: {{equation: "X{a} -> X{c}", propensity: "k{j} * X{a} * X{b} / (K + X{b})"}}')
        elif kind == 0:
            lines.append(f'  r{j}: {{equation: "X{a} -> X{(a + 1) % s}", rate: k{j}}}')
        elif kind == 1 and a != b:
            lines.append(f'  r{j}: {{equation: "X{a} + X{b} -> X{c}", rate: "k{j} / 1000"}}')
        elif kind == 2:
            lines.append(f'  r{j}: {{equation: "X{a} -> 0", rate: k{j}}}')
        else:
            lines.append(f'  r{j}: {{equation: "0 -> X{a}", rate: "k{j} * 10"}}')
    return "\n".join(lines) + "\n"


RUN = """model: {model}
cells: 4
seed: 1
time: {{start: 0, end: 0.01, samples: 2}}
threads: 1
"""


def measure(m: int, compile_too: bool) -> dict:
    import stochins
    from stochins.runner import prepare

    with tempfile.TemporaryDirectory() as tmp:
        model = Path(tmp) / f"generated_{m}.yaml"
        model.write_text(network_text(m), encoding="utf-8")
        run = Path(tmp) / "run.yaml"
        run.write_text(RUN.format(model=model), encoding="utf-8")
        t0, c0 = time.perf_counter(), time.process_time()
        prepared = prepare(run)
        row = {"reactions": m, "species": len(prepared.model.species), "validate_s": time.perf_counter() - t0,
               "validate_cpu_s": time.process_time() - c0, "source_kB": len(prepared.model.source) / 1e3}
        if compile_too:
            t0, c0 = time.perf_counter(), time.process_time()
            stochins.simulate(prepared.model, cells=2, t_end=0.01, samples=2, seed=1, threads=1)
            row["compile_s"], row["compile_cpu_s"] = time.perf_counter() - t0, time.process_time() - c0
    return row


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="10,100,1000,10000")
    ap.add_argument("--compile-up-to", type=int, default=100, help="numba-compile models up to this many reactions")
    args = ap.parse_args(argv)
    print("| reactions | species | validate (s, CPU s) | generated source (kB) | numba compile + 2 cells (s, CPU s) |")
    print("|---|---|---|---|---|")
    for m in (int(x) for x in args.sizes.split(",")):
        row = measure(m, m <= args.compile_up_to)
        comp = f"{row['compile_s']:.1f} ({row['compile_cpu_s']:.1f})" if "compile_s" in row else "not run"
        print(f"| {m:,} | {row['species']:,} | {row['validate_s']:.2f} ({row['validate_cpu_s']:.2f}) | "
              f"{row['source_kB']:,.0f} | {comp} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
