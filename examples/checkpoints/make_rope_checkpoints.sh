#!/usr/bin/env bash
# The exact commands that made the rope graph-model checkpoints (run from the repository root).
# Data: 400 episodes x 50 steps of rope exploration (10 particles), seed 0 (20,000 transitions; the collect
# line below reproduces the data the models were trained on bit for bit, also with --workers 1).
# Both models train on the rope's chain graph (pusher -> every particle, particle -> its neighbours
# along the rope; the edge set comes from the data's metadata) without the message penalty: on a chain
# no edge joins far-apart particles, which is what the penalty is for. The sparse model keeps 16 ReLUs
# (9 edge, 7 node). These two runs are the dense and relu16 rows of
#   python examples/sparsity_figures.py --data runs/rope_data.npz --model graph --message-penalty 0 \
#       --targets 32,16,8 --out-dir runs/rope-graph   (its relu8 run was stopped unfinished)
# (the same options through TrainConfig, 1 thread), copied here.
set -euo pipefail
mkdir -p runs
sparsedyn collect RopeShaping-v0 --episodes 400 --steps 50 --seed 0 --out runs/rope_data.npz
sparsedyn train runs/rope_data.npz --model graph --message-penalty 0 --seed 0 --quiet \
    --out examples/checkpoints/rope_graph_dense.pt
sparsedyn train runs/rope_data.npz --model graph --message-penalty 0 --relu-target 16 --seed 0 --quiet \
    --out examples/checkpoints/rope_graph_sparse.pt
sparsedyn inspect examples/checkpoints/rope_graph_dense.pt
sparsedyn inspect examples/checkpoints/rope_graph_sparse.pt
