"""Imports every cost-model family so that each registers itself (one line per family)."""

import sim.dataflow  # noqa: F401
import sim.fpga  # noqa: F401
import sim.gpu  # noqa: F401
import sim.pim  # noqa: F401
import sim.systolic  # noqa: F401
import sim.vector  # noqa: F401
