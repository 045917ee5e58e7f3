"""The DSMTS from its SBML files (tests/dsmts_all.py's check, the suite's criteria, n = 10,000, exact SSA):
the CI subset of cases not covered elsewhere whose models share compiled code with test_sbml.py's cases
(00003 skewed birth-death, 00004 small copy number, 00019 the rule-defined species y = 2X recorded as an
observable, 00021 immigration-death, 00031 dimerisation from 1,000). The whole suite: ``python
tests/dsmts_all.py`` (README, DSMTS status). The event cases: tests/test_events.py.
"""

from __future__ import annotations

import pytest

pytest.importorskip("libsbml")

from dsmts_all import check_case  # noqa: E402
from test_dsmts import DSMTS  # noqa: E402

SBML = DSMTS.parent / "sbml"
CI_CASES = ["00003", "00004", "00019", "00021", "00031"]


@pytest.mark.parametrize("case", CI_CASES)
def test_dsmts_case_from_sbml(case):
    r = check_case(case, SBML / f"{case}-sbml-l3v1.xml", DSMTS / f"{case}-mean.csv", DSMTS / f"{case}-sd.csv",
                   n=10_000, seed=2008)
    assert r.status == "pass", r.detail


def test_rule_defined_species_is_checked_as_an_observable():
    r = check_case("00019", SBML / "00019-sbml-l3v1.xml", DSMTS / "00019-mean.csv", DSMTS / "00019-sd.csv",
                   n=2_000, seed=7)
    assert r.status == "pass" and "2 species" in r.detail, r.detail


def test_criteria_reject_a_wrong_model():
    """Power: 00021's reference (immigration 10) against 00020's model (immigration 1) fails."""
    r = check_case("00021", SBML / "00020-sbml-l3v1.xml", DSMTS / "00021-mean.csv", DSMTS / "00021-sd.csv",
                   n=2_000, seed=1)
    assert r.status == "FAIL"
