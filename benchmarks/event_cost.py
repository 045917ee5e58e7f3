"""``python -m benchmarks.event_cost [model]``: what one exact event costs, piece by piece (ns per event).

From a steady state of the insulin model (scale 0.01, 100 nM, after 30 min; or the cascade), each
loop below runs the same events in one process, timed by process CPU time (min of 5 repeats):
the two random draws alone; the direct method's event as one call of the generated ``search_fire``
per event (how ``direct`` ran before the loop itself was generated); and the generated event loop
``direct_events`` (the search inline), which ``direct`` runs now. Only ratios within one run mean
much on a shared machine; the load average is printed.
"""

from __future__ import annotations

import os
import sys
import time

import numpy as np
from numba import njit

from . import MODELS

SETTINGS = {
    "insulin": ("sedaghat2002", {"insulin": 100.0}, {"scale": 0.01}, 30.0),
    "cascade": (str(MODELS / "cascade.yaml"), {}, {}, 50.0),
}


def main(key: str = "insulin", events: int = 2_000_000) -> dict:
    import stochins
    from stochins.engine import model_abi as abi
    from stochins.engine.rng import exponential, seed_streams, uniform

    name, inputs, params, t_warm = SETTINGS[key]
    model = stochins.load_model(name)
    mod = model.module
    search_fire = mod.search_fire
    table = model.function_table((abi.PROPENSITIES, abi.DIRECT_EVENTS))  # as the kernels call them

    @njit
    def total(m, x, p, u, a):
        abi.propensities(m, x, p, u, a)
        a0 = 0.0
        for j in range(a.shape[0]):
            a0 += a[j]
        return a0

    @njit
    def draws(m, n, x, p, u, a, rng):
        t = 0.0
        for _ in range(n):
            t += exponential(rng) / 2.0 + uniform(rng)
        return t

    @njit
    def called(m, n, x, p, u, a, rng):
        a0 = total(m, x, p, u, a)
        t = 0.0
        for e in range(n):
            t += exponential(rng) / a0
            delta = search_fire(uniform(rng) * a0, x, p, u, a)
            a0 = total(m, x, p, u, a) if delta == np.inf or (e + 1) % 2048 == 0 else a0 + delta
        return t

    @njit
    def fused(m, n, x, p, u, a, rng):
        a0 = total(m, x, p, u, a)
        t, t_next, events = 0.0, 0.0, 0
        out = np.empty(4)
        while events < n:
            events = abi.direct_events(m, t_next, np.inf, np.inf, a0, events, x, p, u, a, rng, out)
            t, t_next, a0, code = out[0], out[1], out[2], out[3]
            if code == np.inf:
                a0 = total(m, x, p, u, a)
                t_next = t + exponential(rng) / a0
        return t

    res = stochins.simulate(model, cells=1, t_end=t_warm, samples=2, method="ssa", seed=3,
                            record=model.declared_species, inputs=inputs or None, model_parameters=params or None)
    x0 = np.array([res.trajectories[0, -1, list(res.species).index(s)] for s in model.species], dtype=np.int64)
    p = model.parameter_vector(params)[None, :].copy()
    mod.derive(p)
    p = p[0]
    u = model.input_vector(inputs)
    a = np.empty(len(model.reactions))
    loops = {"two draws (exponential + uniform)": draws, "search_fire called per event": called,
             "direct_events (generated loop)": fused}
    for fn in loops.values():  # compile
        fn(table, 10, x0.copy(), p, u, a, seed_streams(1, 0, 0, 1)[0])
    ns: dict[str, list[float]] = {k: [] for k in loops}
    for rep in range(5):
        for label, fn in loops.items():
            x, rng = x0.copy(), seed_streams(1, 0, rep, 1)[0]
            c0 = time.process_time()
            fn(table, events, x, p, u, a, rng)
            ns[label].append((time.process_time() - c0) / events * 1e9)
    out = {label: min(v) for label, v in ns.items()}
    print(f"{key}: {events} events per loop, load average {os.getloadavg()[0]:.1f}")
    for label, v in out.items():
        print(f"  {label:36s} {v:6.1f} ns per event (median {sorted(ns[label])[2]:.1f})")
    return out


if __name__ == "__main__":
    main(*sys.argv[1:2])
