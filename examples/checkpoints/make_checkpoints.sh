#!/usr/bin/env bash
# The exact commands that made the demo's pushing checkpoints (run from the repository root).
# Data: 200 episodes x 50 steps of contact-seeking exploration, seed 0 (10,000 transitions).
set -euo pipefail
mkdir -p runs
sparsedyn collect ObjectPushing-v0 --episodes 200 --steps 50 --seed 0 --out runs/pushing_demo_data.npz
sparsedyn train runs/pushing_demo_data.npz --seed 0 --quiet --out examples/checkpoints/pushing_dense.pt
sparsedyn train runs/pushing_demo_data.npz --relu-target 16 --seed 0 --quiet --out examples/checkpoints/pushing_sparse.pt
# Moderately sparse models for the planner benchmark (examples/bench_planners.py) and the closed-loop sweeps.
sparsedyn train runs/pushing_demo_data.npz --relu-target 32 --seed 0 --quiet --out examples/checkpoints/pushing_relu32.pt
sparsedyn train runs/pushing_demo_data.npz --relu-target 64 --seed 0 --quiet --out examples/checkpoints/pushing_relu64.pt
# The pre-activation ranges of each sparse model on its training data, for the MILP planners' --data-ranges
# (docs/milp.md; `train` records them itself now: these add them to the checkpoints trained before it did).
for model in pushing_sparse pushing_relu32 pushing_relu64; do
    sparsedyn record-ranges "examples/checkpoints/$model.pt" runs/pushing_demo_data.npz
done
