"""The insulin models' biology: a pulse of insulin activates the pathway down to glycogen synthase and
S6K, washout turns it off, and each insulin-resistance lesion weakens the response.

Deterministic checks use the ODE (the models' large-cell limit); the stochastic ones use small cells
(scale 0.05: 5 % of the published copy numbers) and a few dozen cells, with fixed seeds and margins
that are many standard errors wide.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import stochins

DOWNSTREAM = "sedaghat2002_downstream"
PULSE = {"insulin": {"protocol": "pulse", "dose": 100.0, "duration": 15.0}}  # 100 nM for 15 min, then washout
READOUTS = ["Akt_active", "GLUT4_surface", "GSK3b_p", "GS_active", "mTORC1_active", "S6K_p"]
# basal count at scale 1 (the model's initial state is its basal steady state) and the fold rise the
# 100 nM pulse must at least produce (ODE: Akt 0 -> ~10,000; GLUT4 7.7x; GSK3b-P 11x; GS 2.6x;
# mTORC1 9.5x; S6K-P 3.8x)
BASAL = {"Akt_active": 0, "GLUT4_surface": 4000, "GSK3b_p": 5000, "GS_active": 10000, "mTORC1_active": 1000,
         "S6K_p": 2000}
MIN_FOLD = {"GLUT4_surface": 5.0, "GSK3b_p": 5.0, "GS_active": 2.0, "mTORC1_active": 5.0, "S6K_p": 2.5}
SCALE = 0.05


@pytest.fixture(scope="module")
def pulse_ode():
    return stochins.simulate(DOWNSTREAM, cells=1, t_end=120.0, samples=121, method="ode", inputs=PULSE,
                             record=READOUTS)


@pytest.fixture(scope="module")
def pulse_ssa():
    return stochins.simulate(DOWNSTREAM, cells=50, t_end=120.0, samples=25, seed=2002, inputs=PULSE,
                             record=READOUTS, model_parameters={"scale": SCALE})


def test_ode_starts_at_the_basal_state(pulse_ode):
    for sp in READOUTS:
        assert pulse_ode[sp][0, 0] == pytest.approx(BASAL[sp], abs=1e-6)
    # without insulin nothing moves
    quiet = stochins.simulate(DOWNSTREAM, cells=1, t_end=60.0, samples=7, method="ode", record=READOUTS)
    for sp in READOUTS:
        np.testing.assert_allclose(quiet[sp][0], BASAL[sp], rtol=1e-3, atol=1.0)


def test_pulse_activates_every_readout_then_washout_returns_it_toward_basal(pulse_ode):
    t = pulse_ode.time
    peaks = {}
    for sp in READOUTS:
        x = pulse_ode[sp][0]
        basal, peak = BASAL[sp], x.max()
        peaks[sp] = t[x.argmax()]
        if sp == "Akt_active":
            assert peak > 5000  # ~10 % of the Akt pool active, from none
        else:
            assert peak > MIN_FOLD[sp] * basal, (sp, peak / basal)
        # 105 min after the washout: within 20 % of the way back from the peak (S6K, the slowest: ~16 %),
        # and the faster arms within 1 %
        back = (x[-1] - basal) / (peak - basal)
        assert back < (0.2 if sp == "S6K_p" else 0.01), (sp, back)
        assert x[-1] >= basal - 1e-6 * max(basal, 1)  # no undershoot below basal
    # the signal travels down the cascade: Akt first, then its substrates, then S6K downstream of mTORC1
    assert peaks["Akt_active"] <= peaks["GSK3b_p"] < 15 <= peaks["GLUT4_surface"]
    assert peaks["GSK3b_p"] < peaks["GS_active"]
    assert peaks["mTORC1_active"] < peaks["S6K_p"]


def test_stochastic_cells_show_the_same_rise_and_washout(pulse_ssa, pulse_ode):
    t = pulse_ssa.time  # 0, 5, ..., 120
    ode_at = {sp: pulse_ode[sp][0][np.searchsorted(pulse_ode.time, t)] * SCALE for sp in READOUTS}
    for sp in READOUTS:
        x = pulse_ssa[sp].astype(float)
        basal = BASAL[sp] * SCALE
        assert (x[:, 0] == basal).all()
        mean, se = x.mean(0), x.std(0, ddof=1) / math.sqrt(x.shape[0])
        # the means rise: during the pulse (t = 5..15) far above basal in standard errors ...
        rise = slice(1, 4)
        assert ((mean[rise] - basal) / np.maximum(se[rise], 1e-9)).min() > 10, sp
        if sp != "Akt_active":
            assert mean[rise].max() > 0.8 * MIN_FOLD[sp] * basal, sp
        # ... and track the ODE limit (finite-size effects at this scale are a few %)
        np.testing.assert_allclose(mean[rise], ode_at[sp][rise], rtol=0.06, err_msg=sp)
        # after the washout they fall back: by 120 min within 15 % of the way up (S6K, the slowest: 35 %;
        # the stochastic basal state sits a little above the ODE's, see the README)
        back = (mean[-1] - basal) / (mean.max() - basal)
        assert back < (0.35 if sp == "S6K_p" else 0.15), (sp, back)
    # every single cell responds: surface GLUT4 at least doubled in all 50 cells at 15 min
    glut4 = pulse_ssa["GLUT4_surface"]
    assert (glut4[:, 3] > 2 * glut4[:, 0]).all()


# --------------------------------------------------------------------------- insulin resistance

LOW_DOSE = dict(cells=1, t_end=30.0, samples=61, method="ode", inputs={"insulin": 1.0})
LESIONS = [({"IR_level": 0.5}, 0.8), ({"PTP": 2.0}, 0.6), ({"SHIP": 2.0, "PTEN": 2.0}, 0.6), ({"PP2A": 2.0}, 0.7)]


@pytest.fixture(scope="module")
def healthy_1nM():
    return stochins.simulate("sedaghat2002", **LOW_DOSE)


@pytest.mark.parametrize("lesion,most", LESIONS, ids=lambda v: str(v))
def test_each_resistance_lesion_lowers_peak_akt_at_1nM(healthy_1nM, lesion, most):
    base = healthy_1nM["Akt_active"].max()
    strong = stochins.simulate("sedaghat2002", model_parameters=lesion, **LOW_DOSE)
    assert strong["Akt_active"].max() < most * base, (lesion, strong["Akt_active"].max() / base)
    # ... with a graded effect: a milder lesion (a fifth of the way) lowers it less, but still lowers it
    mild = {k: 1 + (v - 1) / 5 for k, v in lesion.items()}
    weak = stochins.simulate("sedaghat2002", model_parameters=mild, **LOW_DOSE)["Akt_active"].max()
    assert strong["Akt_active"].max() < weak < 0.97 * base, (mild, weak / base)
    # ... and less GLUT4 reaches the surface
    assert strong["GLUT4_surface"].max() < 0.9 * healthy_1nM["GLUT4_surface"].max()


def test_fewer_receptors_means_fewer_receptors():
    res = stochins.simulate("sedaghat2002", cells=1, t_end=1.0, samples=2, method="ode",
                            model_parameters={"IR_level": 0.5})
    assert res["IR_surface"][0, 0] == 45000 and res["IR_internal"][0, 0] == 5000


def test_resistance_lowers_glycogen_synthase_activation():
    kw = dict(LOW_DOSE, record=["Akt_active", "GS_active", "S6K_p"])
    base = stochins.simulate(DOWNSTREAM, **kw)
    for lesion in ({"IR_level": 0.5}, {"PTP": 2.0}, {"PP2A": 2.0}):
        res = stochins.simulate(DOWNSTREAM, model_parameters=lesion, **kw)
        rise, rise0 = res["GS_active"].max() - 10000, base["GS_active"].max() - 10000
        assert rise < 0.9 * rise0, (lesion, rise / rise0)


def test_dose_response_is_graded():
    peaks = [stochins.simulate("sedaghat2002", cells=1, t_end=30.0, samples=61, method="ode",
                               inputs={"insulin": dose})["Akt_active"].max() for dose in (0.01, 0.1, 1.0, 10.0, 100.0)]
    assert all(b > 1.03 * a for a, b in zip(peaks, peaks[1:])), peaks
    # saturates at high dose: 10 -> 100 nM adds < 10 %, 0.1 -> 1 nM more than triples
    assert peaks[4] < 1.1 * peaks[3] and peaks[2] > 3 * peaks[1]


def test_feedback_lowers_peak_akt_at_100nM():
    kw = dict(cells=1, t_end=30.0, samples=61, method="ode", inputs={"insulin": 100.0})
    # the same k9 rule as the feedback model's default (the published CellML one), so only the feedback differs
    plain = stochins.simulate("sedaghat2002", model_parameters={"k9_variant_sign": -1.0, "PI3K_norm": 254.57},
                              **kw)["Akt_active"][0]
    fb = stochins.simulate("sedaghat2002_feedback", **kw)["Akt_active"][0]
    assert fb.max() < 0.97 * plain.max(), fb.max() / plain.max()
    # the feedback bites most in the sustained phase (IRS1 serine phosphorylation builds up)
    assert fb[-1] < 0.7 * plain[-1], fb[-1] / plain[-1]
    # the downstream model is the feedback model plus readouts: the same Akt
    down = stochins.simulate(DOWNSTREAM, record=["Akt_active"], **kw)["Akt_active"][0]
    np.testing.assert_allclose(down, fb, rtol=1e-5, atol=1e-3 * fb.max())


def test_stochastic_cells_with_fewer_receptors_or_more_ptp1b_respond_less():
    kw = dict(cells=60, t_end=20.0, samples=21, seed=5, inputs={"insulin": 1.0}, record=["Akt_active"])
    window = slice(3, 11)  # 3..10 min, around the peak

    def per_cell(lesion):
        res = stochins.simulate("sedaghat2002", model_parameters={"scale": SCALE, **lesion}, **kw)
        ode = stochins.simulate("sedaghat2002", cells=1, t_end=20.0, samples=21, method="ode",
                                inputs={"insulin": 1.0}, model_parameters=lesion, record=["Akt_active"])
        x = res["Akt_active"][:, window].astype(float).mean(1)
        return x, ode["Akt_active"][0, window].mean() * SCALE

    healthy, healthy_ode = per_cell({})
    assert healthy.mean() == pytest.approx(healthy_ode, rel=0.1)
    for lesion in ({"IR_level": 0.5}, {"PTP": 2.0}):
        x, x_ode = per_cell(lesion)
        assert x.mean() == pytest.approx(x_ode, rel=0.1), lesion
        se = math.sqrt(x.var(ddof=1) / x.size + healthy.var(ddof=1) / healthy.size)
        assert (healthy.mean() - x.mean()) / se > 10, lesion
