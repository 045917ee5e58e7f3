"""Regenerate ``sedaghat2002/ssa_scale0.1_pulse.csv``: the exact-SSA population mean and SD of the
built-in Sedaghat 2002 model at scale 0.1 (100 nM insulin for 15 min, then washout; 0..25 min).

The tau-leaping test compares against this summary instead of re-running thousands of exact cells
in CI. Run from the repository root: ``python tests/data/make_ssa_reference.py`` (about 15 minutes
on 2 cores). The SSA itself is validated against exact laws, DSMTS and gillespy2 elsewhere.
"""

from pathlib import Path

import numpy as np

import stochins

CELLS, SEED = 3000, 20021
OUT = Path(__file__).parent / "sedaghat2002" / "ssa_scale0.1_pulse.csv"
SPECIES = ["IRS1_pY", "PIP3", "Akt_active", "GLUT4_surface"]

if __name__ == "__main__":
    res = stochins.simulate("sedaghat2002", cells=CELLS, t_end=25.0, samples=26, seed=SEED, method="ssa",
                            inputs={"insulin": [[0.0, 100.0], [15.0, 0.0]]}, model_parameters={"scale": 0.1},
                            record=SPECIES)
    cols, names = [res.time], ["time"]
    for k, name in enumerate(SPECIES):
        x = res.trajectories[:, :, k].astype(float)
        cols += [x.mean(0), x.std(0, ddof=1)]
        names += [f"{name}_mean", f"{name}_sd"]
    header = f"# stochins {stochins.__version__} exact SSA, {CELLS} cells, seed {SEED}\n" + ",".join(names)
    np.savetxt(OUT, np.column_stack(cols), delimiter=",", header=header, comments="", fmt="%.10g")
    print(OUT)
