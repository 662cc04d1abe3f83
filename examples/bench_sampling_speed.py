"""Sampling planners' speed on a sparsified model's compact copy against its full-width gated layers.

    python examples/bench_sampling_speed.py --out runs/bench_sampling_speed   # about 1.5 minutes

Every sampling planner plans the first state of the held-out episode --seed, --repeats times per model, at
--budget seconds per plan, on the CPU with 1 torch thread, once on each of two forms of the same model,
interleaved:

- gated: the model as training leaves it, every hidden layer at full width with its neurons gated (ReLU,
  identity or removed), as the sampling planners evaluated it before `dynamics.compact`;
- compact: its compact copy (`dynamics.compact.compact`: removed neurons dropped, ReLU-free layers
  folded), which every sampling planner evaluates now.

The models are the planning suite's (examples/bench_planners.py): the sparse pushing MLPs with 16, 32 and
64 ReLUs (H = 8), the sparse sorting graph model on 4 objects (H = 4) and the sparse rope graph model
(H = 8). Reported per model and planner: iterations per second (median over the repeats) of each form,
their ratio, and the plans' median objective (the same search, so a faster form reaches lower costs
within the budget).

Writes OUT/bench_sampling_speed.json (every plan's figures and the settings) and OUT/bench_sampling_speed.md
(the table, also printed).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import torch  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_device import first_problem  # noqa: E402
from bench_planners import CHECKPOINTS, SETTINGS  # noqa: E402

MODELS = ("pushing16-h8", "pushing32-h8", "pushing64-h8", "sorting4-h4", "rope-h8")  # bench_planners' settings
PLANNERS = ("mppi", "cem", "random", "gd")


class Gated(torch.nn.Module):
    """The model evaluated as it is, full-width gated layers: held in a plain attribute, out of `compact`'s reach."""

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.held = (model.eval(),)

    def forward(self, state: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        return self.held[0](state, action)


def measure(args: argparse.Namespace) -> list[dict]:
    from dynamics.checkpoint import load_checkpoint
    from mpc.planners import make_planner

    torch.set_num_threads(1)
    records = []
    for name in args.models:
        checkpoint_name, horizon, env_kwargs = SETTINGS[name]
        checkpoint = load_checkpoint(CHECKPOINTS / checkpoint_name)
        problem = first_problem(checkpoint, horizon, args.budget, args.seed, env_kwargs)
        forms = {"gated": Gated(checkpoint.model), "compact": checkpoint.model}  # the planner compacts the latter
        for planner in args.planners:
            for repeat in range(args.repeats):
                for form, model in forms.items():
                    plan = make_planner(planner, model, seed=repeat).plan(problem)
                    iterations = plan.extras["iterations"]
                    records.append(
                        {
                            "model": name,
                            "planner": planner,
                            "form": form,
                            "repeat": repeat,
                            "iterations": iterations,
                            "iterations_per_second": iterations / plan.wall_time,
                            "objective": plan.objective,
                        }
                    )
    return records


def table(records: list[dict]) -> str:
    lines = [
        "| model | planner | gated it/s | compact it/s | ratio | gated objective | compact objective |",
        "|---|---|---|---|---|---|---|",
    ]
    for name in dict.fromkeys(record["model"] for record in records):
        for planner in dict.fromkeys(record["planner"] for record in records):

            def median(form: str, key: str) -> float:
                return statistics.median(
                    r[key] for r in records if (r["model"], r["planner"], r["form"]) == (name, planner, form)
                )

            gated, fast = median("gated", "iterations_per_second"), median("compact", "iterations_per_second")
            lines.append(
                f"| {name} | {planner} | {gated:.0f} | {fast:.0f} | {fast / gated:.2f}x "
                f"| {median('gated', 'objective'):.3f} | {median('compact', 'objective'):.3f} |"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--out",
        type=Path,
        default=Path("runs/bench_sampling_speed"),
        help="folder for JSON and table (default: %(default)s)",
    )
    parser.add_argument(
        "--models", nargs="+", default=list(MODELS), choices=list(MODELS), help="models (default: all: %(default)s)"
    )
    parser.add_argument(
        "--planners", nargs="+", default=list(PLANNERS), choices=PLANNERS, help="planners (default: %(default)s)"
    )
    parser.add_argument("--budget", type=float, default=0.5, help="seconds per plan (default: %(default)s)")
    parser.add_argument(
        "--repeats",
        type=int,
        default=3,
        help="plans per model, planner and form, seeds 0, 1, ... (default: %(default)s)",
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=5000,
        help="the held-out episode whose first state is planned (default: %(default)s)",
    )
    args = parser.parse_args(argv)
    records = measure(args)
    text = table(records)
    args.out.mkdir(parents=True, exist_ok=True)
    settings = {key: value for key, value in vars(args).items() if key != "out"}
    (args.out / "bench_sampling_speed.json").write_text(json.dumps({"settings": settings, "plans": records}, indent=1))
    (args.out / "bench_sampling_speed.md").write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
