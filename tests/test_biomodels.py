"""Real BioModels files (tests/data/sbml, origin in tests/data/README.md): Kubota 2012 imports and runs
with the SSA and tau-leaping; Smith 2013 (109 state species, 367 reactions, 29 assignment rules) imports
(its full-size SSA and tau runs are timed in benchmarks/biomodels.py: its numba compile is minutes);
rate-rule models are refused naming the rule."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("libsbml")

import stochins  # noqa: E402
from stochins import ModelError  # noqa: E402
from stochins.models.sbml import from_sbml  # noqa: E402
from test_dsmts import DSMTS  # noqa: E402

SBML = DSMTS.parent / "sbml"
KUBOTA = SBML / "MODEL1204060000_Kubota2012.xml"
SMITH = SBML / "BIOMD0000000474_Smith2013_InsulinOxidativeStress.xml"
BRANNMARK = SBML / "BIOMD0000000343_Brannmark2010.xml"


def test_smith2013_imports_with_its_rules():
    net = from_sbml(SMITH, ignore_events=True)
    assert len(net.reactions) == 367 and len(net.species) == 109  # 133 SBML species, 24 set by rules
    assert len(net.expressions) == 29 and not net.events
    counts = net.initial_counts()
    assert all(v >= 0 for v in counts.values()) and max(counts.values()) > 0


def test_kubota2012_runs_with_ssa_and_tau():
    model = stochins.load_model(KUBOTA, sbml={"substance_scale": 100})
    assert model.network.time_unit == "s" and len(model.species) == 23
    x0 = model.initial_state(model.parameter_vector())
    conserved = [i for i in range(len(model.species)) if not model.change[:, i].any()]
    for method in ("ssa", "tau"):
        res = stochins.simulate(model, cells=2, t_end=5.0, samples=3, seed=1, method=method)
        assert (res.trajectories >= 0).all() and (res.events > 0).all()
        # species no reaction changes keep their counts; the others moved
        np.testing.assert_array_equal(res.trajectories[:, -1, [model.declared_species.index(model.species[i])
                                                              for i in conserved]],
                                      np.broadcast_to(x0[conserved], (2, len(conserved))))


def test_rate_rule_model_is_refused_naming_the_rule():
    with pytest.raises(ModelError, match=r"unsupported SBML feature: rate rule \(dIR/dt = ") as err:
        from_sbml(BRANNMARK)
    assert "\n" not in str(err.value) and str(BRANNMARK) in str(err.value)
