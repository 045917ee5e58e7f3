"""Run the whole DSMTS from its SBML files with the exact SSA and apply the suite's pass criteria.

``python tests/dsmts_all.py DIR [-n 10000] [--seed 2008] [--cases 00001,00019]`` reads the upstream
layout (one folder per case: ``<case>-sbml-l3v1.xml``, ``<case>-settings.txt``, ``dsmts-*-mean.csv``,
``dsmts-*-sd.csv``; e.g. the project's shared/dsmts, which a plain clone does not have) and prints one line per case. Criteria (DSMTS user
guide §3, tests/data/README.md): |Z_t| < 3 for means and |Y_t| < 5 for SDs at t = 0..50, exact
equality where the reference SD is 0; a correct simulator fails a few of these by chance, so a case
passes with at most MAX_MEAN / MAX_SD excursions per species (never wider ranges). A case the
importer or the engine refuses is reported with its one-line reason, never simulated wrongly.
Cases that differ only in parameter values share their compiled code (values are runtime arrays).
``tests/test_dsmts_all.py`` runs the same check in CI on the cases whose files are in tests/data.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import stochins
from stochins import ModelError

MAX_MEAN, MAX_SD = 2, 3  # chance excursions allowed per species (of 51 time points), as in test_dsmts.py
#: cases whose distribution is so skewed that the guide's SD statistic (which assumes normal kurtosis,
#: Var S² = 2σ⁴/n) fails for a correct simulator; the guide says so for 001-03 (λ = 1, μ = 1.1 from 100:
#: most lines die out, a few grow). For these the SD test is also run with the sample's own fourth
#: moment, Var S² = (m4 − S⁴)/n, the same range (−5, 5); both results are printed.
SKEWED = {"00003"}


def read_reference(path: Path) -> tuple[np.ndarray, list[str], np.ndarray]:
    """time, species names, values (T, S) of a DSMTS mean or SD file (quoted headers allowed)."""
    rows = [line.split(",") for line in path.read_text(encoding="utf-8").strip().splitlines()]
    header = [h.strip().strip('"') for h in rows[0]]
    values = np.array([[float(v) for v in row] for row in rows[1:]])
    return values[:, 0], header[1:], values[:, 1:]


def read_settings(path: Path) -> dict[str, str]:
    out = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if ":" in line:
            key, value = line.split(":", 1)
            out[key.strip()] = value.strip()
    return out


def dsmts_statistics(x: np.ndarray, mu: np.ndarray, sigma: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Z_t and Y_t of the DSMTS guide for samples x (n, T); NaN where sigma = 0."""
    n = x.shape[0]
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.sqrt(n) * (x.mean(0) - mu) / sigma
        y = np.sqrt(n / 2) * (((x - mu) ** 2).mean(0) / sigma**2 - 1)
    return np.where(sigma > 0, z, np.nan), np.where(sigma > 0, y, np.nan)


def kurtosis_corrected_y(x: np.ndarray, mu: np.ndarray, sigma: np.ndarray) -> np.ndarray:
    """(S² − σ²) / sd(S²) with sd(S²) from the sample's fourth moment about the reference mean."""
    n = x.shape[0]
    d2 = (x - mu) ** 2
    s2 = d2.mean(0)
    with np.errstate(divide="ignore", invalid="ignore"):
        y = (s2 - sigma**2) / np.sqrt(((d2 ** 2).mean(0) - s2**2) / n)
    return np.where(sigma > 0, y, np.nan)


@dataclass
class CaseResult:
    case: str
    status: str              # "pass", "FAIL" or "refused"
    detail: str              # excursions, or the refusal's one-line reason
    mean_excursions: int = 0
    sd_excursions: int = 0
    seconds: float = 0.0


def check_case(case: str, sbml: Path, mean_csv: Path, sd_csv: Path, *, n: int = 10_000, seed: int = 2008,
               duration: float = 50.0, steps: int = 50, species: list[str] | None = None,
               method: str = "ssa") -> CaseResult:
    """Simulate one case with an exact method (the SSA unless told) and apply the criteria to every output species."""
    start = time.perf_counter()
    times, names, mean = read_reference(mean_csv)
    _, sd_names, sd = read_reference(sd_csv)
    if species is not None and (species != names or species != sd_names):
        raise ValueError(f"{case}: settings list {species}, reference files {names} / {sd_names}")
    try:
        model = stochins.load_model(sbml)
        res = stochins.simulate(model, cells=n, t_end=duration, samples=steps + 1, seed=seed, record=names,
                                method=method)
    except ModelError as exc:
        return CaseResult(case, "refused", str(exc).replace(str(sbml), sbml.name), seconds=time.perf_counter() - start)
    if not np.allclose(res.time, times):
        raise ValueError(f"{case}: reference times differ from the recorded grid")
    status, detail, n_mean, n_sd = judge(case, names, mean, sd, lambda name: res[name].astype(float))
    return CaseResult(case, status, detail, n_mean, n_sd, time.perf_counter() - start)


def judge(case: str, names: list[str], mean: np.ndarray, sd: np.ndarray, samples) -> tuple[str, str, int, int]:
    """(status, detail, mean and SD excursions) of the criteria on samples(name) (n, T) for every output species
    (one judge for our SSA and for the peers in benchmarks/peer_dsmts.py)."""
    problems, notes, n_mean, n_sd = [], [], 0, 0
    for k, name in enumerate(names):
        x = samples(name)
        exact = sd[:, k] == 0
        if not (x[:, exact] == mean[exact, k]).all():
            problems.append(f"{name}: deterministic points differ")
        z, y = dsmts_statistics(x, mean[:, k], sd[:, k])
        bad_mean, bad_sd = int((np.abs(z[~exact]) >= 3).sum()), int((np.abs(y[~exact]) >= 5).sum())
        if case in SKEWED and bad_sd > MAX_SD:
            yk = kurtosis_corrected_y(x, mean[:, k], sd[:, k])
            corrected = int((np.abs(yk[~exact]) >= 5).sum())
            notes.append(f"{name}: {bad_sd} SD excursions by the guide's Y (skewed case, expected), "
                         f"{corrected} with the kurtosis-corrected Y (max {np.nanmax(np.abs(yk)):.2f})")
            bad_sd = corrected
        n_mean, n_sd = n_mean + bad_mean, n_sd + bad_sd
        if bad_mean > MAX_MEAN or bad_sd > MAX_SD:
            problems.append(f"{name}: {bad_mean} mean / {bad_sd} SD excursions (max |Z| {np.nanmax(np.abs(z)):.2f}, "
                            f"max |Y| {np.nanmax(np.abs(y)):.2f})")
    detail = "; ".join(problems + notes) or \
        f"{n_mean} mean, {n_sd} SD excursions over {len(names)} species x {mean.shape[0]} times"
    return ("FAIL" if problems else "pass"), detail, n_mean, n_sd


def upstream_case(folder: Path, **kw) -> CaseResult:
    """A case in the upstream layout (one folder per case)."""
    case = folder.name
    settings = read_settings(folder / f"{case}-settings.txt")
    return check_case(case, folder / f"{case}-sbml-l3v1.xml", next(folder.glob("dsmts-*-mean.csv")),
                      next(folder.glob("dsmts-*-sd.csv")), duration=float(settings["duration"]),
                      steps=int(settings["steps"]), species=[v.strip() for v in settings["variables"].split(",")], **kw)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("dir", help="folder of the upstream DSMTS cases (one folder per case)")
    p.add_argument("-n", type=int, default=10_000, help="realisations per case (the suite's standard: 10,000)")
    p.add_argument("--seed", type=int, default=2008)
    p.add_argument("--cases", help="comma-separated case numbers (default: every folder)")
    args = p.parse_args(argv)
    root = Path(args.dir)
    folders = sorted(f for f in root.iterdir() if f.is_dir() and f.name.isdigit())
    if args.cases:
        wanted = set(args.cases.split(","))
        folders = [f for f in folders if f.name in wanted]
    results = []
    total = time.perf_counter()
    for folder in folders:
        r = upstream_case(folder, n=args.n, seed=args.seed)
        results.append(r)
        print(f"{r.case}  {r.status:7s}  {r.seconds:6.1f} s  {r.detail}", flush=True)
    counts = {s: sum(r.status == s for r in results) for s in ("pass", "FAIL", "refused")}
    print(f"{len(results)} cases, n = {args.n}, seed {args.seed}: {counts['pass']} pass, {counts['FAIL']} fail, "
          f"{counts['refused']} refused; {sum(r.mean_excursions for r in results)} mean and "
          f"{sum(r.sd_excursions for r in results)} SD excursions in all; {time.perf_counter() - total:.0f} s")
    return 1 if counts["FAIL"] else 0


if __name__ == "__main__":
    sys.exit(main())
