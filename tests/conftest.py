"""Suite-wide settings: Hypothesis without per-example deadlines (first numba calls compile, and CI
machines are shared), a fixed derandomised profile for CI reproducibility."""

from hypothesis import settings

settings.register_profile("coex", deadline=None, derandomize=True, print_blob=True)
settings.load_profile("coex")
