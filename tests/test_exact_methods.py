"""The exact methods agree with each other in law: two-sample KS tests on per-cell values.

Each exact method other than ``ssa`` is compared with ``ssa`` on a small nonlinear network (gene
expression with dimerisation, a dimer that represses its own gene, and an input that switches
between two samples), several species at several times, independent seeds. The power check runs
the same comparison against a method given a 10 % wrong translation rate: it must be rejected.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
from scipy import stats

import stochins
from stats_helpers import P_MIN
from stochins.engine.methods import METHODS

OTHERS = [name for name, m in METHODS.items() if m.exact and name != "ssa"]

FEEDBACK = """
name: autorepression
species: {G: 1, G_off: 0, M: 0, P: 0, D: 0}
parameters: {k_m: 12.0, g_m: 1.0, k_p: 4.0, g_p: 0.2, k_d: 0.004, k_u: 0.5, k_r: 0.02, k_a: 0.3}
inputs: {signal: 1.0}
reactions:
  transcribe: {equation: "G -> G + M", propensity: "k_m * G * signal / (0.5 + signal)"}
  mrna_decay: {equation: "M -> 0", rate: g_m}
  translate: {equation: "M -> M + P", rate: k_p}
  decay: {equation: "P -> 0", rate: g_p}
  dimerise: {equation: "2 P <-> D", rate: [k_d, k_u]}
  repress: {equation: "G + D <-> G_off", rate: [k_r, k_a]}
"""
CELLS = 3000
TIMES = (1.5, 4.0, 10.0)  # transient, during the input's switch, late
SPECIES = ("M", "P", "D")


def simulate(model, method: str, seed: int, **kw):
    return stochins.simulate(model, cells=CELLS, t_end=10.0, samples=21, seed=seed, method=method,
                             inputs={"signal": [[0.0, 1.0], [3.7, 4.0]]}, record=list(SPECIES), **kw)


def smallest_p(a, b) -> float:
    """The smallest KS p-value over the species and times (a Bonferroni bar: P_MIN for each)."""
    idx = [int(np.argmin(np.abs(a.time - t))) for t in TIMES]
    return min(stats.ks_2samp(a[s][:, i], b[s][:, i]).pvalue for s in SPECIES for i in idx)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    path = tmp_path_factory.mktemp("models") / "autorepression.yaml"
    path.write_text(FEEDBACK, encoding="utf-8")
    model = stochins.load_model(path)
    return model, simulate(model, "ssa", seed=1)


@pytest.mark.parametrize("method", OTHERS)
def test_exact_methods_agree_in_law(reference, method):
    model, ref = reference
    other = simulate(model, method, seed=2)
    assert other.events.mean() > 200  # a network that actually runs many channels
    assert smallest_p(ref, other) > P_MIN


@pytest.mark.parametrize("method", OTHERS)
def test_agreement_test_rejects_a_wrong_propensity(reference, method):
    """Power: the same comparison with translation 10 % too fast in the other method fails."""
    model, ref = reference
    wrong = simulate(model, method, seed=2, model_parameters={"k_p": 4.4})
    assert smallest_p(ref, wrong) < P_MIN


def test_direct_without_events_keeps_its_bits(reference):
    """In a model without events direct's event branches are compiled out: its output is bit for bit what
    it gave before it ran events (digest taken then, at commit 98cd81b; a deliberate change of direct's
    draws or search must update it). The model switches an input, so breakpoints are covered."""
    model, _ = reference
    res = stochins.simulate(model, cells=300, t_end=10.0, samples=21, seed=2, method="direct",
                            inputs={"signal": [[0.0, 1.0], [3.7, 4.0]]}, record=list(SPECIES))
    assert hashlib.sha256(res.trajectories.tobytes()).hexdigest()[:16] == "dc17621bcebbda84"
