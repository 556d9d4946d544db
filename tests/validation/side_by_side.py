"""Printing measured-vs-published tables from validation modules, past pytest's output capture."""

from __future__ import annotations

from collections.abc import Iterable


def write_lines(config, lines: Iterable[str]) -> None:
    """Write `lines` to the terminal even under capture; no-op where there is no terminal reporter."""
    lines = list(lines)
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if reporter is None or not lines:
        return
    capture = config.pluginmanager.get_plugin("capturemanager")
    with capture.global_and_fixture_disabled():
        for line in lines:
            reporter.write_line(line)
