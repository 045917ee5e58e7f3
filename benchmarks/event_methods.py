"""``python -m benchmarks.event_methods [cells]``: what events cost the exact methods (events per CPU-second).

The insulin model (scale 0.01, 100 nM, 60 min, one thread) run by ``ssa``, ``direct`` and ``cr`` as it is,
with a time event (the washout at 30 min done by an event instead of the input schedule), and with a state
trigger on the species that the most frequently fired channel changes (never true: the cost of testing it
after each firing that changes that species, the worst case). Best of 3 per row and method; only ratios
within one run mean much on a shared machine, so the load average is printed.
"""

from __future__ import annotations

import os
import sys
import time

import numpy as np


def main(cells: int = 8) -> None:
    import stochins

    base = stochins.load_model("sedaghat2002")
    top = base.module.SEARCH_ORDER[0]
    species = base.species[int(np.flatnonzero(base.change[top])[0])]
    variants = {
        "no events": None,
        "time event (t >= 30)": {"wash": {"trigger": "t >= 30", "assign": {"insulin": 0}}},
        f"state trigger ({species} > 1e12)": {"watch": {"trigger": f"{species} > 1e12", "assign": {species: 0}}},
    }
    kw = dict(t_end=60.0, samples=61, inputs={"insulin": 100.0}, model_parameters={"scale": 0.01}, threads=1)
    print(f"| insulin model, 0.01 ({cells} cells) | ssa | direct | cr |  (M events/CPU-s; load {os.getloadavg()[0]:.1f})")
    print("|---|---|---|---|")
    for name, events in variants.items():
        model = base if events is None else stochins.load_model(base.network.with_events(events, "<benchmark>"))
        row = []
        for method in ("ssa", "direct", "cr"):
            stochins.simulate(model, cells=1, seed=9, method=method, **kw)  # compile or load
            best = 0.0
            for _ in range(3):
                start = time.process_time()
                res = stochins.simulate(model, cells=cells, seed=1, method=method, **kw)
                best = max(best, res.events.sum() / (time.process_time() - start))
            row.append(f"{best / 1e6:.1f}")
        print(f"| {name} | " + " | ".join(row) + f" |  (load {os.getloadavg()[0]:.1f})", flush=True)


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:]))
