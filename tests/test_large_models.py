"""Scale (issue 14): a 10^4-reaction model validates in bounded time, the dependency graph built from
the species -> readers index equals the definition, and a condition costs kilobytes on disk, not the
512 KiB uncompressed chunk each condition's ``cell`` index used to take. Timings are printed (``-s``),
never asserted beyond generous bounds; see benchmarks/large_models.py for the measurements."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from stochins.io.hdf5 import ConditionSpec, TrajectoryWriter
from stochins.network import Network
from stochins.runner import prepare

#: stated bound for validating a 10^4-reaction model (measured ~50 s on a quiet 2-core machine before the
#: model's code was generated lazily; since, 7-8 s of CPU time, wall time depending on the machine's load)
VALIDATE_BOUND_S = 300
VALIDATE_CPU_BOUND_S = 30


def ring(m: int, species: int) -> str:
    """A ring of conversions with a catalysed channel every third reaction (each species read by a few)."""
    lines = ["name: ring", "species:"] + [f"  S{i}: {50 + i % 50}" for i in range(species)]
    lines += ["parameters:", "  k: 0.1", "  K: 20.0", "reactions:"]
    for j in range(m):
        a, b, c = j % species, (j + 1) % species, (3 * j + 7) % species
        rate = f'rate: "k * S{c} / (K + S{c})"' if j % 3 == 0 else "rate: k"
        lines.append(f'  r{j}: {{equation: "S{a} -> S{b}", {rate}}}')
    return "\n".join(lines) + "\n"


def test_ten_thousand_reactions_validate_within_the_stated_time(tmp_path):
    (tmp_path / "ring.yaml").write_text(ring(10_000, 2_000), encoding="utf-8")
    (tmp_path / "run.yaml").write_text("model: ring.yaml\ncells: 10\ntime: {end: 1}\n", encoding="utf-8")
    t0, c0 = time.perf_counter(), time.process_time()
    prepared = prepare(tmp_path / "run.yaml")
    elapsed, cpu = time.perf_counter() - t0, time.process_time() - c0
    print(f"\nvalidate 10,000 reactions / 2,000 species: {elapsed:.1f} s ({cpu:.1f} s CPU)")
    assert len(prepared.model.reactions) == 10_000
    assert prepared.model._code is None  # no per-reaction source: generated only for a method that compiles it
    assert elapsed < VALIDATE_BOUND_S and cpu < VALIDATE_CPU_BOUND_S


def test_dependency_graph_equals_its_definition():
    """Reaction j's dependants are exactly the reactions whose propensity reads a species j changes."""
    from stochins.compile import compile_network

    model = compile_network(Network.from_yaml_text(ring(300, 40)))
    for j in range(len(model.reactions)):
        changed = set(np.flatnonzero(model.change[j]).tolist())
        assert model.depends[j] == [k for k in range(len(model.reactions)) if set(model.reads[k]) & changed]


def test_a_condition_costs_kilobytes_on_disk(tmp_path):
    """200 one-cell conditions through the writer: the per-condition overhead of a 10^4-condition sweep."""
    n = 200
    specs = [ConditionSpec(f"k={i}", i, {"model_parameters.k": float(i)}, 1, np.linspace(0, 1, 2), ["X", "Y"], [],
                           np.int32, 1, 1) for i in range(n)]
    path = tmp_path / "sweep.h5"
    t0 = time.perf_counter()
    writer = TrajectoryWriter(path, attrs={"cells": 1}, conditions=specs)
    for spec in specs:
        writer.append(spec.name, 0, np.ones((1, 2, 2), dtype=np.int32), np.zeros((1, 0)))
    writer.finish()
    per_condition = Path(path).stat().st_size / n
    print(f"\n{n} conditions: {per_condition / 1e3:.1f} kB per condition, {time.perf_counter() - t0:.1f} s "
          f"(10^4 conditions: ~{per_condition * 1e4 / 1e6:.0f} MB)")
    assert per_condition < 32e3
