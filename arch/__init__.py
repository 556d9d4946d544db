"""Hardware as data: pydantic models (`Accelerator`, units, `MemoryTier`, `DramTiming`, `Tech`),
PE types, technology tables and YAML presets.  No cost formulas live here."""

from arch.loader import ArchError, apply_overrides, load, preset_names
from arch.pe import PE_TYPES, PEType
from arch.spec import (
    Accelerator, DramTiming, FpgaUnit, GpuUnit, Link, MemoryTier, PimUnit, RduUnit, SystolicArray, Tech, Unit,
    VectorUnit, parse_size,
)

__all__ = [
    "load", "preset_names", "apply_overrides", "ArchError", "Accelerator", "Unit", "SystolicArray", "VectorUnit",
    "PimUnit", "RduUnit", "FpgaUnit", "GpuUnit", "MemoryTier", "DramTiming", "Link", "Tech", "PEType", "PE_TYPES",
    "parse_size",
]
