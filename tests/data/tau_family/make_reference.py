"""Regenerate ``reference.npz``: the exact SSA's population mean, SD (ddof 1) and kurtosis of every case
in ``cases.yaml``, on a 79-point grid over [0, t_end] that holds both test grids (3 and 40 points).

The tau-leaping accuracy test compares against these summaries instead of re-running tens of thousands
of exact cells in CI. Run from the repository root: ``python tests/data/tau_family/make_reference.py``
(about 15 minutes on 2 cores); ``... make_reference.py CASE ...`` regenerates only those cases. The SSA itself is validated against exact laws, DSMTS and gillespy2 by
other tests.
"""

from pathlib import Path

import sys

import numpy as np
import yaml

import stochins

HERE = Path(__file__).parent
SEED = 90210
GRID = 79  # linspace(0, T, 79) holds linspace(0, T, 3) and linspace(0, T, 40)


def model_path(case: dict):
    return HERE / case["model"] if case["model"].endswith(".yaml") else case["model"]


if __name__ == "__main__":
    cases = yaml.safe_load((HERE / "cases.yaml").read_text(encoding="utf-8"))
    path = HERE / "reference.npz"
    only = sys.argv[1:]
    out = dict(np.load(path)) if only and path.exists() else {}
    for name, case in cases.items():
        if only and name not in only:
            continue
        res = stochins.simulate(model_path(case), cells=case["ssa_cells"], t_end=case["t_end"], samples=GRID,
                                seed=SEED, method="ssa", inputs=case.get("inputs"),
                                model_parameters=case.get("model_parameters"), record=case["record"])
        x = res.trajectories.astype(np.float64)
        mean = x.mean(0)
        sd = x.std(0, ddof=1)
        m2 = ((x - mean) ** 2).mean(0)
        m4 = ((x - mean) ** 4).mean(0)
        kurt = np.where(m2 > 0, m4 / np.where(m2 > 0, m2, 1.0) ** 2, 3.0)
        out[f"{name}.mean"], out[f"{name}.sd"], out[f"{name}.kurtosis"] = mean, sd, kurt
        out[f"{name}.cells"] = np.array(case["ssa_cells"])
        out[f"{name}.events_per_cell"] = np.array(res.events.mean())
        print(name, f"{res.events.mean():.3g} events per cell", flush=True)
    out["version"] = np.array(stochins.__version__)
    np.savez_compressed(path, **out)
