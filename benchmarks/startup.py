"""Start-up: ``import stochins``, cold and warm compiles per method, and the quickstart from empty caches.

``python -m benchmarks startup [--no-quickstart] [--repeat N]`` (or ``python -m benchmarks.startup``) runs
every measurement in a fresh process with its own empty STOCHINS_CACHE_DIR, NUMBA_CACHE_DIR and Python
bytecode cache (PYTHONPYCACHEPREFIX; PYTHONDONTWRITEBYTECODE is unset), as on a fresh clone, and reports
process CPU time (user + system, from the kernel) beside wall time, with the load
average, because on a shared machine wall time mostly measures the other processes. A cold row also counts
the functions numba compiled and their compile time (numba's compile events); its warm row (a second process
on the same caches) must compile nothing. A third process per row runs the insulin model on caches that hold
only what a run of another (tiny) model compiled: the engine kernels compiled once for every model, so it
measures what a new model costs. Writes benchmarks/results/startup.md and startup.json.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from . import REPO, RESULTS

#: the insulin model as the compile rows run it: one cell, one minute (the run itself takes milliseconds)
INSULIN = {"model": "sedaghat2002", "model_parameters": {"scale": 0.01}, "inputs": {"insulin": 100.0},
           "t_end": 1.0}
#: rows: (label, method, settings); the two auto rows are a regime where it picks the SSA and the quickstart's
ROWS = [
    ("ssa", "ssa", INSULIN),
    ("direct", "direct", INSULIN),
    ("tau", "tau", INSULIN),
    ("ode", "ode", INSULIN),
    ("cr (kernels compiled once per installation)", "cr", INSULIN),
    ("auto, few events (picks ssa)", "auto", {**INSULIN, "inputs": {"insulin": 0.0}, "t_end": 10.0}),
    ("auto, quickstart regime (picks tau)", "auto", {**INSULIN, "model_parameters": {}, "inputs": {"insulin": 10.0}}),
]
#: the model that compiles a method's kernels before the "new model" row (it shares no code with the insulin model)
OTHER_MODEL = """
name: startup_other
species: {X: 5}
parameters: {k: 1.0}
reactions:
  decay: {equation: "X -> 0", rate: k}
"""
#: a small run file for the warm start of the command line: start-up is nearly all of it
WARM_RUN = """model: sedaghat2002
model_parameters: {scale: 0.01}
cells: 1
seed: 1
method: ssa
time: {start: 0, end: 1, samples: 2}
inputs: {insulin: 100}
"""


# ---------------------------------------------------------------------- child side
def _child_compile(method: str, spec: dict) -> dict:
    """One simulate call in this (fresh) process; which functions numba compiled, and how long that took."""
    from numba.core import event

    compiled: list[str] = []
    compile_cpu = [0.0]
    depth = [0, 0.0]

    class Listener(event.Listener):
        def on_start(self, ev):
            if depth[0] == 0:
                depth[1] = time.process_time()
            depth[0] += 1

        def on_end(self, ev):
            depth[0] -= 1
            compiled.append(ev.data["dispatcher"].py_func.__qualname__)
            if depth[0] == 0:
                compile_cpu[0] += time.process_time() - depth[1]

    event.register("numba:compile", Listener())
    import stochins

    if spec["model"] == "other":
        path = os.path.join(os.environ["STOCHINS_CACHE_DIR"], "other.yaml")
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w", encoding="utf-8") as f:
            f.write(OTHER_MODEL)
        spec = {**spec, "model": path, "inputs": {}, "model_parameters": {}}
    res = stochins.simulate(spec["model"], cells=1, t_end=spec["t_end"], samples=2, seed=1, method=method, threads=1,
                            inputs=spec["inputs"], model_parameters=spec["model_parameters"] or None)
    return {"method": res.method, "reason": res.method_reason, "compiled": len(compiled),
            "compile_cpu_s": compile_cpu[0], "functions": sorted(set(compiled))}


# ---------------------------------------------------------------------- parent side
def _load() -> str:
    return "/".join(f"{x:.1f}" for x in os.getloadavg())


def _timed(cmd: list[str], env: dict, cwd: Path = REPO, timeout: float = 1800) -> dict:
    """Run ``cmd``; its wall time and CPU time (user + system of the child, from the kernel)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    load = _load()
    t0 = time.perf_counter()
    child_env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    proc = subprocess.run(cmd, cwd=cwd, env={**child_env, **env}, capture_output=True, text=True, timeout=timeout)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed (exit {proc.returncode}): {proc.stderr.strip()[-2000:]}")
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    out = json.loads(lines[-1]) if lines else {}
    out.update(wall_s=wall, cpu_s=(after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime),
               load=f"{load} -> {_load()}", stderr=proc.stderr.strip()[-500:])
    return out


class _Caches:
    """Empty STOCHINS_CACHE_DIR, NUMBA_CACHE_DIR and bytecode cache for one cold/warm pair, removed afterwards."""

    def __enter__(self) -> dict:
        self.root = tempfile.mkdtemp(prefix="stochins-startup-")
        return {"STOCHINS_CACHE_DIR": os.path.join(self.root, "stochins"),
                "NUMBA_CACHE_DIR": os.path.join(self.root, "numba"),
                "PYTHONPYCACHEPREFIX": os.path.join(self.root, "pycache")}

    def __exit__(self, *exc) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


def measure(quickstart: bool = True, repeat: int = 3, log=print, command: str = "") -> dict:
    out: dict = {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                 "cpus": os.cpu_count(), "command": command, "rows": []}
    with _Caches() as env:  # the first of each compiles the bytecode, the least is kept
        imports = [_timed([sys.executable, "-c", "import stochins"], env) for _ in range(repeat)]
        run_deps = [_timed([sys.executable, "-c", "import stochins.runner"], env) for _ in range(repeat)]
    out["import"] = min(imports, key=lambda r: r["cpu_s"])
    out["import_runner"] = min(run_deps, key=lambda r: r["cpu_s"])
    log(f"import stochins: {out['import']['cpu_s']:.2f} s CPU; with what a run needs (stochins.runner): "
        f"{out['import_runner']['cpu_s']:.2f} s CPU")
    for label, method, spec in ROWS:
        cmd = [sys.executable, "-m", "benchmarks.startup", "--child", method, json.dumps(spec)]
        with _Caches() as env:
            cold = _timed(cmd, env)
            warm = _timed(cmd, env)
        with _Caches() as env:
            _timed([sys.executable, "-m", "benchmarks.startup", "--child", cold["method"],  # the method auto chose
                    json.dumps({**spec, "model": "other"})], env)
            new = _timed(cmd, env)
        out["rows"].append({"label": label, "method": method, "spec": spec, "cold": cold, "warm": warm, "new": new})
        log(f"{label}: cold {cold['cpu_s']:.1f} s CPU ({cold['wall_s']:.1f} s wall, {cold['compiled']} functions, "
            f"compile {cold['compile_cpu_s']:.1f} s CPU), new model {new['cpu_s']:.1f} s CPU, warm {warm['cpu_s']:.2f} s "
            f"CPU ({warm['wall_s']:.2f} s wall, {warm['compiled']} compiled); chose {cold['method']}; load {cold['load']}")
    with _Caches() as env, tempfile.TemporaryDirectory() as tmp:
        run_file = Path(tmp) / "warm.yaml"
        run_file.write_text(WARM_RUN, encoding="utf-8")
        cmd = [sys.executable, "-m", "stochins.cli", "run", str(run_file), "-o", str(Path(tmp) / "warm.h5"), "-q",
               "--overwrite"]
        cold = _timed(cmd, env)
        warm = min((_timed(cmd, env) for _ in range(repeat)), key=lambda r: r["cpu_s"])
        out["cli_warm"] = {"cold": cold, "warm": warm}
        log(f"stochins run (1 cell, scale 0.01, ssa): warm {warm['cpu_s']:.2f} s CPU ({warm['wall_s']:.2f} s wall); "
            f"cold {cold['cpu_s']:.1f} s CPU")
        if quickstart:
            cmd = [sys.executable, "-m", "stochins.cli", "run", str(REPO / "configs" / "quickstart.yaml"), "-o",
                   str(Path(tmp) / "quickstart.h5"), "-q", "--overwrite"]
            cold = _timed(cmd, env)
            warm = _timed(cmd, env)
            out["quickstart"] = {"cold": cold, "warm": warm}
            log(f"stochins run configs/quickstart.yaml: cold {cold['wall_s']:.1f} s wall, {cold['cpu_s']:.1f} s CPU; "
                f"warm {warm['wall_s']:.1f} s wall, {warm['cpu_s']:.1f} s CPU; load {cold['load']}")
    return out


def markdown(r: dict) -> str:
    lines = [f"# Start-up ({r['date']}, {r['cpus']} CPUs)", "", f"`{r.get('command', '')}`", "",
             "Fresh processes, each pair with empty STOCHINS_CACHE_DIR, NUMBA_CACHE_DIR and bytecode cache "
             "(PYTHONPYCACHEPREFIX); CPU = user + system time of the process; load = the load average before -> "
             "after.", "",
             f"- `import stochins`: {r['import']['cpu_s']:.2f} s CPU, {r['import']['wall_s']:.2f} s wall; "
             f"`import stochins.runner` (what `stochins run` imports): {r['import_runner']['cpu_s']:.2f} s CPU", "",
             "| insulin model, 1 cell | cold CPU (s) | cold wall (s) | functions compiled | numba compile CPU (s) "
             "| new model CPU (s) | warm CPU (s) | warm wall (s) | compiled warm | chose | load |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for row in r["rows"]:
        c, w, n = row["cold"], row["warm"], row["new"]
        lines.append(f"| {row['label']} | {c['cpu_s']:.1f} | {c['wall_s']:.1f} | {c['compiled']} | "
                     f"{c['compile_cpu_s']:.1f} | {n['cpu_s']:.1f} | {w['cpu_s']:.2f} | {w['wall_s']:.2f} | "
                     f"{w['compiled']} | {c['method']} | {c['load']} |")
    lines += ["", "cold: empty caches (a fresh installation's first run); new model: the insulin model's first run on "
              "caches where a run of another model has compiled the method's engine kernels (compiled once for every "
              "model); numba's compile events do not include the model's functions compiled as C callbacks, so "
              "compare the CPU columns."]
    c, w = r["cli_warm"]["cold"], r["cli_warm"]["warm"]
    lines += ["", f"- `stochins run` of a 1-cell SSA run file (start-up is nearly all of it): warm {w['cpu_s']:.2f} s "
              f"CPU, {w['wall_s']:.2f} s wall; cold {c['cpu_s']:.1f} s CPU, {c['wall_s']:.1f} s wall (load {w['load']})"]
    if "quickstart" in r:
        c, w = r["quickstart"]["cold"], r["quickstart"]["warm"]
        lines.append(f"- `stochins run configs/quickstart.yaml`, empty caches: {c['wall_s']:.1f} s wall, "
                     f"{c['cpu_s']:.1f} s CPU (load {c['load']}); again, cached: {w['wall_s']:.1f} s wall, "
                     f"{w['cpu_s']:.1f} s CPU (load {w['load']})")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--child"]:
        sys.stdout.write(json.dumps(_child_compile(argv[1], json.loads(argv[2]))) + "\n")
        return 0
    ap = argparse.ArgumentParser(prog="python -m benchmarks startup", description=__doc__.splitlines()[0])
    ap.add_argument("--no-quickstart", action="store_true", help="skip the quickstart run (the longest row)")
    ap.add_argument("--repeat", type=int, default=3, help="repetitions of the import and warm rows (the least kept)")
    ap.add_argument("--out", type=Path, default=RESULTS, help="directory for startup.md and startup.json")
    args = ap.parse_args(argv)
    result = measure(quickstart=not args.no_quickstart, repeat=args.repeat,
                     log=lambda msg: print(msg, file=sys.stderr, flush=True),
                     command=" ".join(["python -m benchmarks startup", *argv]))
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "startup.json").write_text(json.dumps(result, indent=1), encoding="utf-8")
    (args.out / "startup.md").write_text(markdown(result), encoding="utf-8")
    print(markdown(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
