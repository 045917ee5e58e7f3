"""The peer benchmarks' means check (benchmarks/peers.mean_z): its false-alarm rate when a peer runs a
handful of trajectories, and its power. The generated large network has species with mean 0.16
(sd 0.4) at t = 10; gillespy2 ran 4-7 trajectories there and the check said |z| = 6-15.6."""

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parents[1]))
from benchmarks.peers import mean_z  # noqa: E402

MEAN, N_REF, N_PEER, REPS = 0.16, 1500, 7, 4000


def _z(ref: np.ndarray, peer: np.ndarray, welch: bool = False) -> np.ndarray:
    if welch:  # the check before: separate variances
        se = np.sqrt(ref.var(1, ddof=1) / ref.shape[1] + peer.var(1, ddof=1) / peer.shape[1])
        return np.abs(ref.mean(1) - peer.mean(1)) / se  # the reference never has variance 0 here
    return mean_z(ref.mean(1), ref.var(1, ddof=1), ref.shape[1], peer.mean(1), peer.var(1, ddof=1), peer.shape[1])


def test_few_peer_trajectories_of_a_low_count_species_raise_no_alarm():
    rng = np.random.default_rng(2026)
    ref = rng.poisson(MEAN, (REPS, N_REF)).astype(float)
    peer = rng.poisson(MEAN, (REPS, N_PEER)).astype(float)
    # same law: P(|z| > 3.5) is P(sum of 7 >= 5) = 0.0055 for Poisson(0.16); 4000 draws, allow 0.012
    assert np.mean(_z(ref, peer) > 3.5) < 0.012
    # power check of this test: Welch's separate variances alarm whenever the 7 are all 0 (p = 0.33)
    assert np.mean(_z(ref, peer, welch=True) > 3.5) > 0.25


def test_a_real_difference_is_found():
    rng = np.random.default_rng(7)
    ref = rng.poisson(200.0, (200, N_REF)).astype(float)
    assert np.mean(_z(ref, rng.poisson(210.0, (200, 240)).astype(float)) > 4) > 0.95  # 5%: z about 10.6
    assert np.mean(_z(ref, rng.poisson(200.0, (200, 240)).astype(float)) > 4) < 0.01


def test_constant_species():
    assert mean_z([44.0], [0.0], 10, [44.0], [0.0], 3)[0] == 0.0
    assert mean_z([44.0], [0.0], 10, [45.0], [0.0], 3)[0] == np.inf
