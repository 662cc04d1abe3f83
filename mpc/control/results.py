"""What a closed-loop run leaves behind: its summary, the results JSON, a GIF, a table and a cost plot."""

from __future__ import annotations

import io
import json
import math
import statistics
from pathlib import Path

import numpy as np
from PIL import Image

from envs.files import write_atomically
from mpc.errors import MPCError


def summarise(episodes: list[dict]) -> dict:
    """Medians and spreads over finished episodes (run_episode's dicts); {"episodes": 0} if there are none.

    Costs are the env's task cost, times in seconds; "milp_improved_steps" counts the steps where a
    sampling-warm-started MILP beat its sampled plan (None for other planners). With obstacles
    ("obstacles": True), "collision_episodes" counts the episodes in which the object or the pusher
    touched an obstacle in the simulator, "predicted_collision_plans" the plans whose predicted states
    take a point past its hard limit (PlanningProblem.predicts_collision).
    """
    if not episodes:
        return {"episodes": 0}
    final = [episode["final_cost"] for episode in episodes]
    times = [step["planning_time"] for episode in episodes for step in episode["steps"]]
    fallbacks = sum(step["fallback"] for episode in episodes for step in episode["steps"])
    warm_started = [
        step for episode in episodes for step in episode["steps"] if step.get("sampled_objective") is not None
    ]
    improved = sum(step["objective"] < step["sampled_objective"] - 1e-9 for step in warm_started)
    quartiles = np.percentile(final, [25, 75])
    return {
        "episodes": len(episodes),
        "median_initial_cost": statistics.median(episode["initial_cost"] for episode in episodes),
        "median_final_cost": statistics.median(final),
        "final_cost_q25": float(quartiles[0]),
        "final_cost_q75": float(quartiles[1]),
        "success_rate": sum(episode["success"] for episode in episodes) / len(episodes),
        "success_threshold": episodes[0]["success_threshold"],
        "median_planning_time": statistics.median(times) if times else None,
        "max_planning_time": max(times) if times else None,
        "fallback_steps": int(fallbacks),
        "milp_improved_steps": int(improved) if warm_started else None,  # over the sampled warm start
        "steps": len(times),
        "obstacles": any(episode.get("obstacles") for episode in episodes),
        "collision_episodes": sum(episode.get("collision_steps", 0) > 0 for episode in episodes),
        "predicted_collision_plans": sum(
            bool(step.get("predicted_collision")) for episode in episodes for step in episode["steps"]
        ),
    }


def video_format(path) -> str:
    """The image format (PIL's name) an animation at `path` is written in, chosen by its suffix.

    Raises:
        MPCError: the suffix names no format PIL can write animations in (check it before the episodes run).
    """
    Image.init()
    image_format = Image.registered_extensions().get(Path(path).suffix.lower())
    if image_format not in Image.SAVE_ALL:
        animated = sorted(
            suffix
            for suffix, name in Image.registered_extensions().items()
            if name in Image.SAVE_ALL and suffix != ".gif"
        )
        raise MPCError(
            f"cannot write the video {path}: its suffix names no animated image format; use .gif "
            f"(or one of {', '.join(animated)})"
        )
    return image_format


def save_gif(frames: list[np.ndarray], path, fps: int = 10) -> None:
    """Write rendered rgb_array frames, each (height, width, 3) uint8, as an animation at `fps` frames per
    second, atomically (see envs.files): a GIF, or the animated format `video_format` finds for the suffix.

    Raises:
        MPCError: `path` cannot be written, or its suffix names no animated format.
    """
    image_format = video_format(path)
    images = [Image.fromarray(frame) for frame in frames]
    write_atomically(
        path,
        lambda file: images[0].save(
            file, format=image_format, save_all=True, append_images=images[1:], duration=round(1000 / fps), loop=0
        ),
        MPCError,
    )


def save_json(data: dict, path) -> None:
    """Write results as strict JSON (NaN and inf become null), atomically (see envs.files).

    Raises:
        MPCError: `path` is a directory, or its directory does not exist or is not writable.
    """
    text = json.dumps(_finite(data), indent=1)
    write_atomically(path, lambda file: file.write(text.encode()), MPCError)


def _finite(value):
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(item) for item in value]
    if isinstance(value, np.generic):
        return _finite(value.item())
    return value


def summary_table(summaries: dict[str, dict]) -> str:
    """A markdown table: one row per labelled run summary (summarise's dicts); with obstacles in any run,
    also the episodes with a collision in the simulator and the plans that predicted one (of all plans)."""
    obstacles = any(summary.get("obstacles") for summary in summaries.values())
    extra = " collision episodes | plans predicting a collision |" if obstacles else ""
    lines = [
        "| run | episodes | median final cost | IQR | success | median plan time (s) | fallbacks |" + extra,
        "|---|---|---|---|---|---|---|" + "---|---|" * obstacles,
    ]
    for label, summary in summaries.items():
        if not summary.get("episodes"):
            lines.append(f"| {label} | 0 | - | - | - | - | - |" + " - | - |" * obstacles)
            continue
        lines.append(
            f"| {label} | {summary['episodes']} | {summary['median_final_cost']:.2f} "
            f"| {summary['final_cost_q25']:.2f}-{summary['final_cost_q75']:.2f} "
            f"| {summary['success_rate']:.0%} | {summary['median_planning_time']:.3f} | {summary['fallback_steps']} |"
            + (
                f" {summary['collision_episodes']} | {summary['predicted_collision_plans']}/{summary['steps']} |"
                if obstacles
                else ""
            )
        )
    return "\n".join(lines)


def plot_costs(runs: dict[str, dict], path: Path) -> None:
    """Plot task cost against control step, the median over episodes for every run, to a PNG at `path`
    (written atomically, see envs.files).

    Args:
        runs: run_closed_loop results by label; the curves are cut to the shortest episode of each run.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(6, 4))
    for label, results in runs.items():
        curves = [episode["cost_curve"] for episode in results["episodes"]]
        if curves:
            length = min(len(curve) for curve in curves)
            axes.plot(np.median([curve[:length] for curve in curves], axis=0), label=label)
    axes.set_xlabel("control step")
    axes.set_ylabel("task cost (median over episodes)")
    axes.legend()
    figure.tight_layout()
    image = io.BytesIO()
    figure.savefig(image, format="png", dpi=100)
    plt.close(figure)
    write_atomically(path, lambda file: file.write(image.getvalue()), MPCError)
