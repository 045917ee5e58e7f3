"""Reproducibility contract: cell i of condition c is a pure function of (seed, c, i, model)."""

from __future__ import annotations

import numpy as np
import pytest

import stochins
from stochins.engine.methods import METHODS
from stochins.simulation import Plan

CASCADE = """
name: small_cascade
species: {R: 50, L: 200, RL: 0, K: 300, Kp: 0}
parameters: {kon: 0.002, koff: 0.1, kcat: 0.05, kdp: 0.2}
inputs: {stim: 1.0}
reactions:
  bind:   {equation: "R + L <-> RL", rate: [kon, koff]}
  act:    {equation: "K -> Kp", propensity: "kcat * stim * RL * K / (K + 100)"}
  deact:  {equation: "Kp -> K", rate: kdp}
"""


@pytest.fixture
def cascade(model_from_text):
    return model_from_text(CASCADE)


def run(model, **kw):
    args = dict(cells=300, t_end=20.0, samples=11, seed=42, inputs={"stim": [[0, 1.0], [7.5, 0.2]]})
    args.update(kw)
    return stochins.simulate(model, **args).trajectories


#: per method, options that make it use its own machinery on this small model (tau: leap what it can)
OPTIONS = {"tau": {"tau": {"exact_below": 0, "exact_firings": 0, "ssa_factor": 0}}}


@pytest.mark.parametrize("method", [*METHODS, "auto"])
def test_same_bits_for_any_thread_count_and_block_size(cascade, method):
    kw = dict(method=method, options=OPTIONS.get(method))
    ref = run(cascade, threads=1, block_size=300, **kw)
    for threads, block in [(2, 300), (2, 7), (1, 64), (2, 1)]:
        assert np.array_equal(ref, run(cascade, threads=threads, block_size=block, **kw)), (threads, block)


def test_blocks_in_any_order_give_the_same_cells(cascade):
    plan = Plan.create(cascade, t_end=20.0, samples=11, seed=42)
    whole = plan.block(0, 100).trajectories
    parts = [plan.block(first, 10).trajectories for first in range(90, -1, -10)][::-1]
    assert np.array_equal(whole, np.concatenate(parts))


def test_cells_differ_and_seeds_and_conditions_matter(cascade):
    ref = run(cascade)
    flat = ref.reshape(ref.shape[0], -1)
    assert np.unique(flat, axis=0).shape[0] == ref.shape[0], "two cells have identical trajectories"
    assert not np.array_equal(ref, run(cascade, seed=43))
    plan0 = Plan.create(cascade, t_end=20.0, samples=11, seed=42, condition=0)
    plan1 = Plan.create(cascade, t_end=20.0, samples=11, seed=42, condition=1)
    assert not np.array_equal(plan0.block(0, 50).trajectories, plan1.block(0, 50).trajectories)


def test_declaration_order_does_not_change_the_cells(model_from_text, cascade):
    # species, parameters and reactions listed in another order: canonical order makes streams equal
    shuffled = model_from_text("""
        name: small_cascade
        reactions:
          deact:  {equation: "Kp -> K", rate: kdp}
          act:    {equation: "K -> Kp", propensity: "kcat * stim * RL * K / (K + 100)"}
          bind:   {equation: "R + L <-> RL", rate: [kon, koff]}
        inputs: {stim: 1.0}
        parameters: {kdp: 0.2, kcat: 0.05, koff: 0.1, kon: 0.002}
        species: {Kp: 0, K: 300, RL: 0, L: 200, R: 50}
    """)
    assert shuffled.code_hash == cascade.code_hash
    names = ["R", "L", "RL", "K", "Kp"]
    assert np.array_equal(run(cascade, record=names), run(shuffled, record=names))


def test_record_subset_and_default_order(cascade):
    full = stochins.simulate(cascade, cells=20, t_end=5.0, samples=6, seed=1)
    assert full.species == ["R", "L", "RL", "K", "Kp"]  # the file's order
    sub = stochins.simulate(cascade, cells=20, t_end=5.0, samples=6, seed=1, record=["Kp", "R"])
    assert np.array_equal(sub.trajectories, full.trajectories[:, :, [4, 0]])
    # conservation holds in every cell at every time: the state change matrix is right
    assert (full["R"] + full["RL"] == 50).all() and (full["K"] + full["Kp"] == 300).all()


def test_second_process_reuses_the_compiled_model(cascade):
    import subprocess
    import sys

    run(cascade, cells=2)  # make sure the cache is populated
    code = ("import stochins; "
            f"m = stochins.load_model({str(cascade.network.source)!r}); "
            "stochins.simulate(m, cells=2, t_end=1.0, samples=2, seed=1); "
            "s = m.kernels('stochins.engine.ssa').ssa_cells.stats; print(sum(s.cache_hits.values()), sum(s.cache_misses.values()))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    hits, misses = map(int, out.stdout.split())
    assert hits >= 1 and misses == 0, "a second process recompiled the model instead of loading numba's cache"
