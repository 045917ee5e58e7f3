"""The benchmark workloads: one model with one set of run settings each."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from . import MODELS, REPO


@dataclass(frozen=True)
class Workload:
    key: str
    label: str
    model: str                      # built-in name or YAML path (what stochins.load_model accepts)
    t_end: float
    samples: int
    inputs: dict = field(default_factory=dict)
    model_parameters: dict = field(default_factory=dict)
    # our SSA: target wall time per run and cap on cells (memory of the returned trajectories)
    calib_cells: int = 1
    max_cells: int = 200_000
    # gillespy2 SSACSolver: seconds of trajectories (full, quick) and cap on trajectories
    peer_budget: tuple = (40.0, 4.0)
    max_trajectories: int = 100_000
    # slower peers (NumPySSASolver, TauLeapingCSolver) run on a truncated time span [0, slow_t_end]
    slow_t_end: float | None = None
    slow_samples: int | None = None
    in_quick: bool = True

    def settings(self, **override: Any) -> dict:
        """Keyword arguments for stochins.simulate (without cells/threads/seed)."""
        out = dict(t_end=self.t_end, samples=self.samples, inputs=dict(self.inputs) or None,
                   model_parameters=dict(self.model_parameters) or None)
        out.update(override)
        return out

    def describe(self) -> str:
        parts = [f"t=0..{self.t_end:g}, {self.samples} samples"]
        if self.inputs:
            parts.append(", ".join(f"{k}={v:g}" for k, v in self.inputs.items()))
        if self.model_parameters:
            parts.append(", ".join(f"{k}={v:g}" for k, v in self.model_parameters.items()))
        return "; ".join(parts)


CASCADE = str(MODELS / "cascade.yaml")
DIMER = str(REPO / "tests" / "data" / "dsmts" / "00030.yaml")
INSULIN = {"insulin": 100.0}

WORKLOADS = [
    Workload("cascade", "cascade (20 sp, 30 rx)", CASCADE, t_end=100.0, samples=101,
             calib_cells=2, peer_budget=(40.0, 4.0), slow_t_end=5.0, slow_samples=6),
    Workload("dimerisation", "DSMTS 00030 dimerisation", DIMER, t_end=50.0, samples=51,
             calib_cells=2000, max_cells=400_000, peer_budget=(30.0, 3.0),
             slow_t_end=50.0, slow_samples=51),
    Workload("sedaghat_0.01", "sedaghat2002, scale 0.01", "sedaghat2002", t_end=60.0, samples=61,
             inputs=INSULIN, model_parameters={"scale": 0.01}, calib_cells=2,
             peer_budget=(40.0, 4.0), slow_t_end=3.0, slow_samples=4),
    Workload("sedaghat_0.1", "sedaghat2002, scale 0.1", "sedaghat2002", t_end=60.0, samples=61,
             inputs=INSULIN, model_parameters={"scale": 0.1}, calib_cells=1,
             peer_budget=(45.0, 0.0), max_trajectories=50, in_quick=False),
]
