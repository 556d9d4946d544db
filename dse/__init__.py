"""Design-space exploration and the `dse` command line."""
