"""Dask faults (issue 14): a worker killed mid-run changes no bit; losing every worker ends the run with
one line, an incomplete file and a clean resume. (Bad or unreachable scheduler addresses are in
test_hostile_inputs.py.)"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

import stochins
from stochins.cli import main

pytest.importorskip("distributed")

MODEL = """
name: switched_immigration
species: {X: 0, Y: 5}
parameters: {k: 200.0, g: 1.0, h: 0.01}
inputs: {signal: 1.0}
reactions:
  birth: {equation: "0 -> X", propensity: "k * signal"}
  death: {equation: "X -> 0", rate: g}
  convert: {equation: "X -> Y", rate: h}
"""

RUN = """
model: model.yaml
cells: 240
seed: 9
model_parameters: {k: 2000.0}
time: {start: 0, end: 10, samples: 11}
variability: {g: {distribution: gamma, cv: 0.3}}
block_size: 8
threads: 1
"""


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    d = tmp_path_factory.mktemp("dask_faults")
    (d / "model.yaml").write_text(textwrap.dedent(MODEL), encoding="utf-8")
    (d / "run.yaml").write_text(textwrap.dedent(RUN), encoding="utf-8")
    stochins.run(d / "run.yaml", output=d / "local.h5", progress=False)
    return d


def assert_same(a, b):
    ra, rb = stochins.open_results(a), stochins.open_results(b)
    assert rb.complete
    x, y = ra["default"], rb["default"]
    assert np.array_equal(x.trajectories, y.trajectories) and np.array_equal(x.parameters, y.parameters)
    np.testing.assert_array_equal(x.mean, y.mean)
    np.testing.assert_array_equal(x.std, y.std)
    np.testing.assert_array_equal(x.quantiles, y.quantiles)


def kill_after(n_blocks: int, pids):
    """A log callback that SIGKILLs the given worker processes once ``n_blocks`` blocks are written."""
    state = {"n": 0}

    def log(_line):
        state["n"] += 1
        if state["n"] == n_blocks:
            for pid in pids():
                os.kill(pid, signal.SIGKILL)

    return log


def test_a_worker_killed_mid_run_changes_no_bit(work):
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            Client(cluster) as client:
        victim = lambda: [next(iter(client.run(os.getpid).values()))]  # noqa: E731 - one worker's pid
        out = stochins.run(work / "run.yaml", output=work / "one_killed.h5", progress=False,
                           scheduler=client.scheduler.address, log=kill_after(3, victim))
    assert_same(work / "local.h5", out)


def test_losing_every_worker_is_one_line_and_resumable(work, monkeypatch, capsys):
    """Real worker processes without a nanny, all SIGKILLed: the run must not hang or trace back."""
    from stochins.executors.dask import DaskExecutor

    sched_file = work / "scheduler.json"
    scheduler = subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_scheduler", "--no-dashboard",
                                  "--host", "127.0.0.1", "--port", "0", "--scheduler-file", str(sched_file)],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    workers = []
    try:
        deadline = time.monotonic() + 60
        while not sched_file.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        workers = [subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_worker", "--no-nanny",
                                     "--nthreads", "1", "--no-dashboard", "--scheduler-file", str(sched_file)],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for _ in range(2)]
        import json

        address = json.loads(sched_file.read_text(encoding="utf-8"))["address"]
        from distributed import Client

        with Client(address) as client:
            client.wait_for_workers(2, timeout=60)
        monkeypatch.chdir(work)
        real = DaskExecutor.__init__

        def quick(self, *args, **kwargs):  # give up after 3 s without workers (default 30 s)
            real(self, *args, **{**kwargs, "lost_after": 3.0})

        monkeypatch.setattr(DaskExecutor, "__init__", quick)
        import stochins.runner as runner

        real_run = runner.run

        def run_killing(*args, **kwargs):
            return real_run(*args, **{**kwargs, "log": kill_after(2, lambda: [w.pid for w in workers])})

        monkeypatch.setattr(runner, "run", run_killing)
        t0 = time.monotonic()
        status = main(["run", "run.yaml", "-q", "-o", "all_lost.h5", "--scheduler", address])
        elapsed = time.monotonic() - t0
    finally:
        for p in workers + [scheduler]:
            if p.poll() is None:
                p.kill()
            p.wait(timeout=30)
    err = capsys.readouterr().err.strip().splitlines()
    assert status == 3 and len(err) == 1 and "--resume" in err[0] and "Dask" in err[0], err
    assert elapsed < 60
    partial = stochins.open_results(work / "all_lost.h5")
    assert not partial.complete and 16 <= partial["default"].cells_done < 240
    monkeypatch.undo()
    stochins.run(work / "run.yaml", output=work / "all_lost.h5", resume=True, progress=False)
    assert_same(work / "local.h5", work / "all_lost.h5")


def test_a_future_the_cluster_cancelled_is_one_line(monkeypatch):
    """distributed's ``wait`` raises for a future cancelled because its workers were lost ("already
    forgotten"): that is the cluster failing, reported as one line, not a traceback (seen once in CI when
    every worker was killed)."""
    import distributed
    from distributed.client import CancelledFuturesGroup, FutureCancelledError, FuturesCancelledError

    from stochins.executors.dask import DaskExecutor, ExecutorError

    lost = FutureCancelledError("_simulate-1", reason="already forgotten")

    def wait(*args, **kwargs):
        raise FuturesCancelledError([CancelledFuturesGroup(errors=[lost], reason="already forgotten")])

    class Future:
        def done(self):
            return True

        def result(self):
            raise lost

    monkeypatch.setattr(distributed, "wait", wait)
    executor = DaskExecutor.__new__(DaskExecutor)  # no cluster: _result only waits on the future
    executor.lost_after = 3.0
    with pytest.raises(ExecutorError, match="the Dask cluster failed .*--resume"):
        executor._result(Future(), None)
