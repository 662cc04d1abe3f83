"""Record what the bundled sorting graph checkpoints predict, with the code of another checkout (the reference
test_dynamics_graph.py compares today's predictions with).

sorting_graph_predictions.npz was made with the code of commit 18ddc6e, before graph models had edge sets:

    git worktree add OLD 18ddc6e
    PYTHONPATH=OLD python tests/data/make_sorting_graph_predictions.py OLD tests/data/sorting_graph_predictions.npz

It holds seeded states and actions for 4 and 6 objects and, per checkpoint (dense, sparse), the torch model's
predictions (float32) and the frozen export's (float64).
"""

import sys

import numpy as np
import torch

import dynamics
from dynamics.checkpoint import load_checkpoint


def main(checkout: str, out: str) -> None:
    assert dynamics.__file__.startswith(checkout), f"put {checkout} first on PYTHONPATH"
    torch.set_num_threads(1)
    rng = np.random.default_rng(20240615)
    arrays = {}
    for num_objects in (4, 6):
        states = rng.uniform(-12, 12, (16, 2 * (num_objects + 1))).astype(np.float32)
        actions = rng.uniform(-2.5, 2.5, (16, 2)).astype(np.float32)
        arrays[f"states{num_objects}"], arrays[f"actions{num_objects}"] = states, actions
        for name in ("dense", "sparse"):
            model = load_checkpoint(f"{checkout}/examples/checkpoints/sorting_graph_{name}.pt").model
            with torch.no_grad():
                arrays[f"{name}_torch{num_objects}"] = model(torch.as_tensor(states), torch.as_tensor(actions)).numpy()
            inputs = np.concatenate([states, actions], axis=1).astype(np.float64)
            arrays[f"{name}_frozen{num_objects}"] = model.export(num_objects).forward(inputs)
    np.savez_compressed(out, **arrays)


if __name__ == "__main__":
    main(*sys.argv[1:])
