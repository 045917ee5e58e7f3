"""A generated large mass-action network (>= 300 reactions, >= 100 species) for the exact methods.

Closed and bounded: every species has a mass 1, 2 or 3 and every reaction conserves total mass
(isomerisations within a mass class, bindings 1+1 <-> 2 and 1+2 <-> 3), so counts stay finite.
Deterministic: the same seed always writes the same model.
"""

from __future__ import annotations

import numpy as np

SPECIES_PER_MASS = 40


def large_network_yaml(seed: int = 300, per_mass: int = SPECIES_PER_MASS, pairs: int = 160) -> str:
    rng = np.random.default_rng(seed)
    names = {m: [f"S{m}_{i}" for i in range(per_mass)] for m in (1, 2, 3)}
    lines = ["name: large_network", "description: generated closed mass-action network (benchmarks/large_network.py)",
             "species:"]
    lines += [f"  {s}: {int(rng.integers(50, 400)) if m == 1 else int(rng.integers(0, 50))}"
              for m in (1, 2, 3) for s in names[m]]
    lines += ["parameters:"]
    reactions = []
    seen = set()
    while len(reactions) < pairs:
        kind = rng.integers(3)
        if kind == 0:
            m = int(rng.integers(1, 4))
            a, b = rng.choice(names[m], 2, replace=False)
            eq, key = f"{a} <-> {b}", (a, b)
            kf, kr = 10 ** rng.uniform(-2, 0.5), 10 ** rng.uniform(-2, 0.5)
        else:
            small = names[1]
            a = str(rng.choice(small))
            b = str(rng.choice(small if kind == 1 else names[2]))
            c = str(rng.choice(names[2] if kind == 1 else names[3]))
            eq, key = f"{a} + {b} <-> {c}", (a, b, c)
            kf, kr = 10 ** rng.uniform(-5, -3), 10 ** rng.uniform(-2, 0)
        if key in seen:
            continue
        seen.add(key)
        j = len(reactions)
        lines += [f"  kf{j}: {kf:.6g}", f"  kr{j}: {kr:.6g}"]
        reactions.append(f"  r{j}: {{equation: \"{eq}\", rate: [kf{j}, kr{j}]}}")
    return "\n".join(lines + ["reactions:"] + reactions) + "\n"
