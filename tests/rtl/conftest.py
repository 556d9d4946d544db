"""Options and fixtures of the RTL suite.

``pytest tests/rtl --rtl-sim verilator`` (or ``COEX_RTL_SIM=verilator``) runs the benches on Verilator
instead of Icarus.  The option is registered here, so it is known when ``tests/rtl`` (or a file in it) is
named on the command line; from the repository root without a path use the environment variable.
"""

from __future__ import annotations

import os

import pytest

SIMULATORS = ("icarus", "verilator")


def pytest_addoption(parser):
    parser.addoption("--rtl-sim", choices=SIMULATORS, default=None,
                     help="simulator for the cocotb benches (default: $COEX_RTL_SIM or icarus)")


@pytest.fixture(scope="session")
def rtl_sim(request) -> str:
    try:
        chosen = request.config.getoption("--rtl-sim")
    except ValueError:  # option not registered: conftest loaded late
        chosen = None
    chosen = chosen or os.environ.get("COEX_RTL_SIM", "icarus")
    if chosen not in SIMULATORS:
        raise pytest.UsageError(f"COEX_RTL_SIM must be one of {SIMULATORS}, got {chosen!r}")
    return chosen


@pytest.fixture(scope="session")
def objcache(tmp_path_factory):
    """Where Verilator's runtime objects are compiled once per session (shared by xdist workers)."""
    base = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        base = base.parent  # the session's folder, above the per-worker ones
    return base / "verilator-objcache"
