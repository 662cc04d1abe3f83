#!/usr/bin/env bash
# The exact commands that made the sorting graph-model checkpoints (run from the repository root).
# Data: 400 episodes x 50 steps of sorting exploration with 4 objects, seed 0 (20,000 transitions);
# 40 episodes with 6 objects, seed 1, to measure the 4-object models on 6 objects.
# The sparse model keeps 8 ReLUs and trains without the message penalty: at 8 ReLUs the penalty
# did not help (2 seeds), for the dense model it roughly halves the 8-step error on 6 objects.
set -euo pipefail
mkdir -p runs
sparsedyn collect ObjectSorting-v0 --env-kwargs '{"num_objects": 4}' --episodes 400 --steps 50 --seed 0 --out runs/sorting4_data.npz
sparsedyn collect ObjectSorting-v0 --env-kwargs '{"num_objects": 6}' --episodes 40 --steps 50 --seed 1 --out runs/sorting6_eval.npz
sparsedyn train runs/sorting4_data.npz --model graph --seed 0 --quiet --out examples/checkpoints/sorting_graph_dense.pt
sparsedyn train runs/sorting4_data.npz --model graph --relu-target 8 --message-penalty 0 --seed 0 --quiet \
    --out examples/checkpoints/sorting_graph_sparse.pt
sparsedyn inspect examples/checkpoints/sorting_graph_dense.pt --data runs/sorting6_eval.npz
sparsedyn inspect examples/checkpoints/sorting_graph_sparse.pt --data runs/sorting6_eval.npz
