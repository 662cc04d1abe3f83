"""Planning on learned dynamics: the planning problem (seam 3), the MILP planners, the sampling
planners, receding-horizon control and sweeps.

The public names are re-exported here. All but the errors and the problem types load their module
on first use (PEP 562): most pull in torch or HiGHS, and importing the package runs on every import
of one of its modules, such as `mpc.errors` for the CLI's `--help`.

    from mpc import PlanningProblem, make_planner, run_closed_loop, ControlSettings
"""

from envs.exports import lazy_exports
from mpc.errors import InfeasibleError, MPCError, NoIncumbentError, NonFiniteError, NumericsError, ProblemError
from mpc.problem import PLAN_STATUSES, Plan, PlanningProblem, Task

_LAZY = {  # public name -> "module" that defines it, or "module:name there"
    "trajectory_cost": "mpc.problem",
    "step_costs": "mpc.problem",
    "PLANNER_NAMES": "mpc.planners",
    "make_planner": "mpc.planners",
    "make_fallback_planner": "mpc.planners",
    "frozen_dynamics": "mpc.planners",
    "MILPPlanner": "mpc.milp.planner",
    "AnytimeMILPPlanner": "mpc.milp.anytime",
    "SamplingWarmStartedPlanner": "mpc.milp.warm_started",
    "RegionSearch": "mpc.milp.region",
    "to_pyomo": "mpc.milp.pyomo_export",
    "SamplingPlanner": "mpc.sampling.base",
    "MPPIPlanner": "mpc.sampling.mppi",
    "CEMPlanner": "mpc.sampling.cem",
    "RandomShootingPlanner": "mpc.sampling.random_shooting",
    "GradientDescentPlanner": "mpc.sampling.gradient_descent",
    "ControlSettings": "mpc.control.task",
    "control_task": "mpc.control.task",
    "goal_features": "mpc.control.task",
    "observed_task": "mpc.control.task",
    "RecedingHorizonController": "mpc.control.controller",
    "run_closed_loop": "mpc.control.runner",
    "env_metadata": "mpc.control.runner",
    "SweepSpec": "mpc.control.sweep",
    "run_sweep": "mpc.control.sweep",
}

__getattr__, __dir__ = lazy_exports(__name__, _LAZY)

__all__ = [
    "InfeasibleError",
    "MPCError",
    "NoIncumbentError",
    "NonFiniteError",
    "NumericsError",
    "PLAN_STATUSES",
    "Plan",
    "PlanningProblem",
    "ProblemError",
    "Task",
    *_LAZY,
]
