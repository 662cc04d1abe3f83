"""Bounds on every neuron and state of a planning program: one module per method, one step loop.

    boxes.py     what every method produces: NetworkBounds (K copies of a network), GraphBounds (K
                 applications of a graph model), RolloutBounds (plus the state boxes), intersect
    interval.py  interval propagation through K network copies
    crown.py     back-substitution (CROWN): within each copy, or through an MLP's unrolled horizon
    lp.py        LP-based tightening over the relaxation of the program so far
    rollout.py   the one step loop over the horizon, for every model kind (mpc.milp.kinds) and method
    data_ranges.py  optional, not sound: neuron bounds cut to the ranges the model took on its data

The planner's bound modes ("interval", "linear", "lp") are combinations of these, per model kind
(`mpc.milp.kinds.ModelKind.modes`). Import from the modules themselves: this package's modules are
imported by the model-kind table, which the step loop imports in turn.
"""
