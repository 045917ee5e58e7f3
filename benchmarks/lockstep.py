"""Cells in lockstep (issue 11, item 3): the ``lockstep`` method against ``direct``, and rebop on the cascade.

Rerun: ``python -m benchmarks.lockstep`` from the repository root (``--models insulin cascade``, ``--lanes 8 16``,
``--cells``, ``--rounds``, ``--no-rebop``; ``--scaling`` the generated mass-action networks of 64, 128 and 320
channels instead, where lockstep's cost per event grows with the channel count). Results and their
discussion: ``benchmarks/results/lockstep.md``.

Both methods run through ``stochins.simulate`` on one thread, side by side in one process on the same cells
and seed, rounds interleaved, the best round of each kept; rates are events per second of the calling
thread's CPU time (``time.thread_time``), wall time beside it, and the load average before and after (the
machine is shared: only ratios within one run mean much). rebop (its sparse mode, as in the peer suite's
``_rebop``) runs in the same process; its events are its trajectories times direct's mean events per cell
(the same law), per second of process CPU time, and ours are re-timed the same way for its ratio.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from . import MODELS

WORKLOADS = {
    "insulin": dict(model="sedaghat2002", t_end=60.0, samples=61, inputs={"insulin": 100.0},
                    model_parameters={"scale": 0.01}),
    "cascade": dict(model=str(MODELS / "cascade.yaml"), t_end=100.0, samples=101, inputs=None, model_parameters=None),
}


def _simulate(model, wl: dict, method: str, cells: int, lanes: int | None = None, t_end: float | None = None):
    import stochins

    return stochins.simulate(model, cells=cells, t_end=t_end or wl["t_end"], samples=wl["samples"], seed=1,
                             method=method, threads=1, inputs=wl["inputs"], model_parameters=wl["model_parameters"],
                             options={"lockstep": {"lanes": lanes}} if lanes else None)


def speed(model, wl: dict, lanes: list[int], cells: int, rounds: int, log, label: str) -> dict:
    """direct and lockstep (each lane count) on the same cells; first-call (compile or cache load) seconds too."""
    runs = [("direct", None)] + [("lockstep", w) for w in lanes]
    first = {}
    for method, w in runs:
        t0 = time.perf_counter()
        _simulate(model, wl, method, 1, w, t_end=wl["t_end"] / 100)
        first[(method, w)] = time.perf_counter() - t0
    best: dict = {}
    for _ in range(rounds):
        for method, w in runs:
            w0, c0 = time.perf_counter(), time.thread_time()
            res = _simulate(model, wl, method, cells, w)
            wall, cpu = time.perf_counter() - w0, time.thread_time() - c0
            events = int(res.events.sum())
            if (method, w) not in best or events / cpu > best[(method, w)]["events_per_cpu_s"]:
                best[(method, w)] = {"events": events, "wall_s": wall, "cpu_s": cpu, "events_per_cpu_s": events / cpu}
    base = best[("direct", None)]["events_per_cpu_s"]
    for (method, w), r in best.items():
        r["ratio_to_direct"] = r["events_per_cpu_s"] / base
        name = method if w is None else f"{method} W={w}"
        log(f"  {label} {name:14s} {r['events_per_cpu_s']:.3g} events/CPU-s ({1e9 / r['events_per_cpu_s']:.1f} "
            f"ns/event; {r['events']} events, CPU {r['cpu_s']:.2f} s, wall {r['wall_s']:.2f} s) = "
            f"{r['ratio_to_direct']:.2f}x direct; first call {first[(method, w)]:.1f} s")
    return best


def rebop_ratio(model, wl: dict, lanes: int, cells: int, log, budget: float = 10.0) -> None:
    """The cascade against rebop, per second of process CPU time (rebop runs in this process)."""
    try:
        import rebop  # noqa: F401
    except ImportError:
        log("  rebop not installed (pip install rebop): no rebop ratio")
        return
    from .peer_suite import _rebop, cpu

    rates = {}
    for method, w in (("direct", None), ("lockstep", lanes)):
        c0 = cpu()
        res = _simulate(model, wl, method, cells, w)
        rates[method] = float(res.events.sum()) / (cpu() - c0)
        if method == "direct":
            per_cell = float(res.events.mean())
    row, _ = _rebop(model, {"t_end": wl["t_end"], "samples": wl["samples"], "model_parameters": None}, budget,
                    per_cell, list(model.declared_species))
    for method, rate in rates.items():
        log(f"  cascade {method}: {rate:.3g} events/process-CPU-s = {rate / row['events_per_cpu_s']:.2f}x rebop "
            f"({row['events_per_cpu_s']:.3g}, {row['trajectories']} trajectories, CPU {row['cpu_s']:.1f} s)")


def scaling(lanes: int, cells: int, rounds: int, log) -> None:
    """Generated closed mass-action networks (benchmarks/large_network.py) of 64, 128 and 320 channels."""
    import stochins

    from .large_network import large_network_yaml

    for per_mass, pairs in ((10, 32), (20, 64), (40, 160)):
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "network.yaml"
            path.write_text(large_network_yaml(per_mass=per_mass, pairs=pairs), encoding="utf-8")
            model = stochins.load_model(path)
            wl = dict(t_end=1.0, samples=2, inputs=None, model_parameters=None)
            rate = float(_simulate(model, wl, "direct", 2).events.mean())  # events per unit time: ~3e5 per cell
            wl["t_end"] = float(min(1e4, max(1.0, 3e5 / max(rate, 1.0))))
            speed(model, wl, [lanes], cells, rounds, log, f"network-{2 * pairs}")


def main(argv=None) -> None:
    import stochins

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="+", default=list(WORKLOADS), choices=list(WORKLOADS))
    ap.add_argument("--lanes", nargs="+", type=int, default=[8, 16])
    ap.add_argument("--cells", type=int, default=32, help="cells per timed run (default 32)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--no-rebop", action="store_true")
    ap.add_argument("--scaling", action="store_true", help="only the generated networks (cold: minutes of compiling)")
    args = ap.parse_args(argv)
    log = print
    log(f"load average before: {os.getloadavg()}")
    if args.scaling:
        scaling(args.lanes[0], args.cells, args.rounds, log)
    for key in [] if args.scaling else args.models:
        model = stochins.load_model(WORKLOADS[key]["model"])
        speed(model, WORKLOADS[key], args.lanes, args.cells, args.rounds, log, key)
        if key == "cascade" and not args.no_rebop:
            rebop_ratio(model, WORKLOADS[key], args.lanes[0], args.cells, log)
    log(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
