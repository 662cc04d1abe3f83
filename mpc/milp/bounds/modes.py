"""The names of the neuron-bound methods a MILP planner offers (see `mpc.milp.planner.MILPPlanner`).

Only names, so that the CLI can list them without loading torch or the solver.
"""

BOUND_MODES = ("interval", "linear", "lp")
DEFAULT_BOUNDS = "lp"  # chosen by measurement, see examples/bench_milp.py
