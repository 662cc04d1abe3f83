"""Start-up: `--help` loads none of the heavy libraries (gymnasium's registry aside: `import envs`
registers the environments), the packages' public names load on first use."""

import subprocess
import sys

import pytest

HEAVY = ("torch", "torch_geometric", "pymunk", "highspy", "pyomo", "scipy", "matplotlib", "tqdm", "PIL")


def run_python(code: str) -> str:
    """stdout of `code` in a fresh interpreter (nothing this test process has imported counts)."""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.parametrize("command", [[], ["collect"], ["train"], ["inspect"], ["record-ranges"], ["control"], ["demo"]])
def test_help_loads_no_heavy_library(command):
    out = run_python(
        "import sys\n"
        "from mpc.main import main\n"
        "try:\n"
        f"    main({[*command, '--help']!r})\n"
        "except SystemExit as exit:\n"
        "    assert exit.code == 0, exit.code\n"
        f"print(sorted(name for name in {HEAVY!r} if name in sys.modules))\n"
    )
    assert "usage: sparsedyn" in out
    assert out.splitlines()[-1] == "[]"


def test_public_names_load_on_first_use():
    out = run_python(
        "import sys\n"
        "import dynamics, envs, mpc, dynamics.checkpoint, dynamics.frozen, dynamics.evaluate, dynamics.train\n"
        "import mpc.planners, mpc.milp.anytime, mpc.control.runner\n"
        "assert mpc.make_planner is mpc.planners.make_planner\n"
        "assert mpc.run_closed_loop is mpc.control.runner.run_closed_loop\n"
        "assert mpc.AnytimeMILPPlanner is mpc.milp.anytime.AnytimeMILPPlanner\n"
        "assert dynamics.load_checkpoint is dynamics.checkpoint.load_checkpoint\n"
        "assert dynamics.rollout is dynamics.evaluate.rollout and dynamics.frozen_rollout is dynamics.frozen.rollout\n"
        "assert dynamics.TrainConfig is dynamics.train.TrainConfig\n"
        "assert envs.ObjectSortingEnv.__module__ == 'envs.sorting' and envs.Transitions.__module__ == 'envs.dataset'\n"
        "assert set(dynamics.__all__) <= set(dir(dynamics)) and set(envs.__all__) <= set(dir(envs))\n"
        "assert set(mpc.__all__) <= set(dir(mpc))\n"
        "for package in (dynamics, envs, mpc):\n"
        "    try:\n"
        "        package.no_such_name\n"
        "    except AttributeError:\n"
        "        pass\n"
        "    else:\n"
        "        raise AssertionError(package)\n"
        "print('ok')\n"
    )
    assert out.strip() == "ok"


def test_public_names_of_dynamics_without_torch():
    out = run_python(
        "import sys\n"
        "from dynamics import DynamicsError, TrainConfig\n"
        "TrainConfig(model='graph').validate()\n"
        "print('torch' in sys.modules)\n"
    )
    assert out.strip() == "False"


def test_import_envs_registers_the_environments():
    out = run_python(
        "import envs, gymnasium\n"
        "print(gymnasium.make('sparsedyn/ObjectPushing-v0').spec.max_episode_steps,\n"
        "      gymnasium.make('sparsedyn/ObjectSorting-v0').spec.max_episode_steps)\n"
    )
    assert out.split() == ["60", "100"]
