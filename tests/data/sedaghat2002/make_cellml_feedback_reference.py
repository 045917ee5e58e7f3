"""Regenerate ``cellml_feedback_100nM_15min_pulse_timecourse.csv``: the deterministic time course of the
CellML Physiome model ``sedaghat_sherman_quon_2002`` (feedback version), integrated here with scipy.

The equations are the CellML feedback model's, as transcribed in shared/models/SEDAGHAT2002.md §1.4-1.8
(concentrations in fM instead of M; x13-x21 in %): BIOMD0000000137's reactions R1-R20 with the paper's
k9 rule k9 = (k9_stimulated - k9_basal) * x12 / PI3K + k9_basal and PI3K = k8*3.7e-13*1e-13 /
(k8*3.7e-13 + kminus8) M = 2.5457 fM, k5 = 10*kminus5 if x6+x7+x8 > 1e-13 M else 60*kminus5 (M/min),
PKC-zeta -> IRS1 serine feedback (x10a, k7b = ln2/2, kminus7b = 0.085576, Vmax 20, Kd 12 %, n 4) and
Akt -| PTP1B (PTP = 1 - 0.25*x17/(100/11)). Two slips of the CellML file are corrected, as in the
stochins model (see SEDAGHAT2002.md §1.8): x12(0) = 0 (the file has 2.54e-15 M) and k14 = 96*kminus14
(the file has kminus14/96). The k14 slip touches GLUT4 only; with the x12 slip as well, active Akt is
7.06 % at 15 min instead of 7.00 % (at most 0.77 %-points apart, in the first minutes).
Protocol: 100 nM insulin for 15 min, then 0. LSODA, rtol 1e-10, atol 1e-12.

Run from the repository root: ``python tests/data/sedaghat2002/make_cellml_feedback_reference.py``.
"""

from pathlib import Path

import numpy as np
from scipy.integrate import solve_ivp

OUT = Path(__file__).parent / "cellml_feedback_100nM_15min_pulse_timecourse.csv"
K = dict(k1=6e-8, kminus1=0.2, k2=6e-8, kminus2=20.0, k3=2500.0, kminus3=0.2, k4=0.00033333334, kminus4=0.003,
         k4prime=0.0021, kminus4prime=0.00021, kminus5=1.67e-18, k6=0.461, k7=4.16, kminus7=1.396, k8=7.06e-4,
         kminus8=10.0, k9s=1.39, k9b=0.13145, kminus9=42.15, k10=2.961, kminus10=2.77, kminus11=6.9315,
         kminus12=6.9315, k13=0.00696, kminus13=0.167, kminus14=0.001155, IRp=897.0, APequil=9.09091,
         k7b=np.log(2) / 2, kminus7b=0.085576, Vmax=20.0, Kd=12.0, n=4.0)
K["k14"] = 96 * K["kminus14"]
# the CellML normaliser, from its molar formula: k8 [/M/min] = 7.06e-4 /fM/min * 1e15 fM/M
_k8_molar = K["k8"] * 1e15
K["PI3K"] = _k8_molar * 3.7e-13 * 1e-13 / (_k8_molar * 3.7e-13 + K["kminus8"]) * 1e15  # fM
NAMES = ["x2", "x3", "x4", "x5", "x6", "x7", "x8", "x9", "x10", "x10a", "x11", "x12", "x13", "x14", "x15", "x16",
         "x17", "x18", "x19", "x20", "x21"]
X0 = dict(x2=900.0, x6=100.0, x9=1000.0, x11=100.0, x13=0.31, x14=99.4, x15=0.29, x16=100.0, x18=100.0, x20=96.0,
          x21=4.0)


def rhs(t, y, insulin_fM):
    v = dict(zip(NAMES, y))
    k = K
    x1 = insulin_fM if t < 15 else 0.0
    k5 = (10 if v["x6"] + v["x7"] + v["x8"] > 100 else 60) * k["kminus5"] * 1e15  # M/min -> fM/min
    k9 = (k["k9s"] - k["k9b"]) * v["x12"] / k["PI3K"] + k["k9b"]
    k11 = 0.1 * k["kminus11"] * (v["x13"] - 0.31) / (3.1 - 0.31)
    k12 = 0.1 * k["kminus12"] * (v["x13"] - 0.31) / (3.1 - 0.31)
    effect = (0.2 * v["x17"] + 0.8 * v["x19"]) / k["APequil"]
    k13p = (40 / 60 - 4 / 96) * k["kminus13"] * effect
    ptp = 1 - 0.25 * v["x17"] / (100 / 11) if v["x17"] <= 400 / 11 else 0.0
    pkc = k["Vmax"] * v["x19"] ** k["n"] / (k["Kd"] ** k["n"] + v["x19"] ** k["n"])
    r = dict(
        R1=k["k1"] * x1 * v["x2"] - k["kminus1"] * v["x3"], R2=k["k3"] * v["x3"],
        R3=k["k2"] * x1 * v["x5"] - k["kminus2"] * v["x4"], R4=k["kminus3"] * ptp * v["x5"],
        R5=k["k4"] * v["x2"] - k["kminus4"] * v["x6"], R6=k["k4prime"] * v["x4"] - k["kminus4prime"] * v["x7"],
        R7=k["k4prime"] * v["x5"] - k["kminus4prime"] * v["x8"], R8=k5, R9=k["kminus5"] * v["x6"],
        R10=k["k6"] * ptp * v["x7"], R11=k["k6"] * ptp * v["x8"],
        R12=k["k7"] * v["x9"] * (v["x4"] + v["x5"]) / k["IRp"] - k["kminus7"] * ptp * v["x10"],
        R12b=k["k7b"] * pkc * v["x9"] - k["kminus7b"] * v["x10a"],
        R13=k["k8"] * v["x10"] * v["x11"] - k["kminus8"] * v["x12"],
        R14=k9 * v["x14"] - k["kminus9"] * v["x13"], R15=k["k10"] * v["x15"] - k["kminus10"] * v["x13"],
        R16=k11 * v["x16"] - k["kminus11"] * v["x17"], R17=k12 * v["x18"] - k["kminus12"] * v["x19"],
        R18=k["k14"], R19=k["kminus14"] * v["x20"], R20=(k["k13"] + k13p) * v["x20"] - k["kminus13"] * v["x21"])
    d = dict(
        x2=-r["R1"] + r["R4"] - r["R5"], x3=r["R1"] - r["R2"], x4=r["R3"] - r["R6"],
        x5=r["R2"] - r["R3"] - r["R4"] - r["R7"], x6=r["R5"] + r["R8"] - r["R9"] + r["R10"] + r["R11"],
        x7=r["R6"] - r["R10"], x8=r["R7"] - r["R11"], x9=-r["R12"] - r["R12b"], x10=r["R12"] - r["R13"],
        x10a=r["R12b"], x11=-r["R13"], x12=r["R13"], x13=r["R14"] + r["R15"], x14=-r["R14"], x15=-r["R15"],
        x16=-r["R16"], x17=r["R16"], x18=-r["R17"], x19=r["R17"], x20=r["R18"] - r["R19"] - r["R20"], x21=r["R20"])
    return [d[n] for n in NAMES]


def integrate(t_eval):
    y0 = [X0.get(n, 0.0) for n in NAMES]
    out = []
    for lo, hi in ((0.0, 15.0), (15.0, float(t_eval[-1]))):  # restart at the washout discontinuity
        te = t_eval[(t_eval >= lo) & (t_eval <= hi)]
        sol = solve_ivp(rhs, (lo, hi), y0, method="LSODA", t_eval=te, rtol=1e-10, atol=1e-12, args=(1e8,))
        out.append(sol.y.T if lo == 0 else sol.y.T[te > 15])
        y0 = sol.y[:, -1] if sol.t[-1] == hi else solve_ivp(rhs, (lo, hi), y0, method="LSODA", rtol=1e-10,
                                                              atol=1e-12, args=(1e8,)).y[:, -1]
    return np.vstack(out)


if __name__ == "__main__":
    t = np.linspace(0, 60, 121)
    y = integrate(t)
    header = ("# CellML sedaghat_sherman_quon_2002 feedback model, 100 nM insulin 0-15 min; x2-x12 in fM, x13-x21 "
              "in %; made by make_cellml_feedback_reference.py\ntime," + ",".join(NAMES))
    np.savetxt(OUT, np.column_stack([t, y]), delimiter=",", header=header, comments="", fmt="%.10g")
    print(OUT, "x17 at 15 min:", y[30, NAMES.index("x17")])
