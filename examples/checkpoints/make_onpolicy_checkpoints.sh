#!/usr/bin/env bash
# Data aggregation for pushing (docs/models.md, "On-policy data"): the exact commands that made the models
# compared by examples/sweeps/pushing_model_selection.json (run from the repository root, after
# make_checkpoints.sh, which leaves runs/pushing_demo_data.npz: 200 x 50 exploration transitions, seed 0).
set -euo pipefail
mkdir -p runs/models
cp runs/pushing_demo_data.npz runs/models/pushing_demo_data.npz
cd runs/models
# Exploration data only, 8 ReLUs (16, 32, 64 and dense are in examples/checkpoints).
sparsedyn train pushing_demo_data.npz --relu-target 8 --seed 0 --quiet --device cpu --out pushing_relu8.pt
# Transitions where a controller goes: MPPI (8 iterations per step) on the dense model, 30% exploration steps.
sparsedyn collect-onpolicy ../../examples/checkpoints/pushing_dense.pt --episodes 200 --steps 50 --seed 1 \
    --out onpolicy_dense.npz --no-progress
# Held-out files for the prediction errors: controller-visited (seed 2) and exploration (seed 3).
sparsedyn collect-onpolicy ../../examples/checkpoints/pushing_dense.pt --episodes 40 --steps 50 --seed 2 \
    --out onpolicy_heldout.npz --no-progress
sparsedyn collect ObjectPushing-v0 --episodes 40 --steps 50 --seed 3 --out explore_heldout.npz --no-progress
# Trained on both files together.
sparsedyn train pushing_demo_data.npz onpolicy_dense.npz --seed 0 --quiet --device cpu --out agg_dense.pt
for relu in 8 16 32 64; do
    sparsedyn train pushing_demo_data.npz onpolicy_dense.npz --relu-target "$relu" --seed 0 --quiet --device cpu \
        --out "agg_relu$relu.pt"
done
# The closed-loop choice (examples/sweeps/pushing_model_selection.json, docs/benchmarks.md): the 64-ReLU target
# on both files is the bundled sparse pushing model of the closed-loop benchmarks and the demo; its dense twin too.
cp agg_relu64.pt ../../examples/checkpoints/pushing_onpolicy_relu64.pt
cp agg_dense.pt ../../examples/checkpoints/pushing_onpolicy_dense.pt
# The same recipe with another seed: the second model of a pair whose disagreement the planners pay for
# (`sparsedyn control ... --disagreement`, docs/control.md). Trained on the two files as this script makes them
# today (the on-policy file's MPPI rounds differently since the bundled model was made, so it is not bit for bit
# the file the bundled model saw), one torch thread.
sparsedyn train pushing_demo_data.npz onpolicy_dense.npz --relu-target 64 --seed 1 --quiet --device cpu --threads 1 \
    --out agg_relu64_seed1.pt
cp agg_relu64_seed1.pt ../../examples/checkpoints/pushing_onpolicy_relu64_seed1.pt
