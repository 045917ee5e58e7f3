"""The same run on a Dask cluster gives the same bits as in-process."""

from __future__ import annotations

import numpy as np
import pytest

import stochins

pytest.importorskip("distributed")

RUN = """
model: sedaghat2002
model_parameters: {scale: 0.01}
cells: 24
seed: 5
method: tau
time: {start: 0, end: 5, samples: 6}
inputs:
  insulin: {protocol: pulse, dose: 100, duration: 2.5}
variability:
  IR_level: {distribution: lognormal, cv: 0.3}
sweep:
  model_parameters.PTP: [1.0, 2.0]
block_size: 5
"""


def test_dask_cluster_gives_identical_results(tmp_path):
    from distributed import Client, LocalCluster

    run = tmp_path / "run.yaml"
    run.write_text(RUN)
    local = stochins.run(run, output=tmp_path / "local.h5", progress=False)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            Client(cluster) as client:
        remote = stochins.run(run, output=tmp_path / "dask.h5", progress=False,
                              scheduler=client.scheduler.address)
    a, b = stochins.open_results(local), stochins.open_results(remote)
    assert b.complete and a.conditions == b.conditions and len(a.conditions) == 2
    for name in a.conditions:
        assert np.array_equal(a[name].trajectories, b[name].trajectories)
        assert np.array_equal(a[name].parameters, b[name].parameters)
        np.testing.assert_array_equal(a[name].mean, b[name].mean)
