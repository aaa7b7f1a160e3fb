"""A distributed training script: logistic regression in torch, DistributedDataParallel
over the gloo backend (CPU), for ``torchrun --nproc-per-node N ddp_train.py [RECIPE]``.

Every rank reads the same version with ``run.read`` (so ``assay test smoke`` samples it
and ``assay test reproduce`` pins it), trains on its own shard of the training rows
(row i goes to rank i mod N), and logs every step's loss; DDP averages the gradients,
so the ranks keep one model. Rank 0 evaluates on the test rows and saves the model.
With ``TRAIN_IDS_OUT`` set, each rank writes the ids it trained on to
``TRAIN_IDS_OUT.<rank>``.
"""

from __future__ import annotations

import os
import sys
import tempfile

import numpy as np
import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

import assay

FEATURES = ["AGEP", "SCHL", "SEX", "MAR", "DIS", "CIT", "MIL", "NATIVITY"]
LABEL = "employed"
EPOCHS = 2
BATCH = 32
LR = 0.5


def main(recipe: str) -> None:
    dist.init_process_group("gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    torch.manual_seed(0)
    with assay.start_run(params={"lr": LR, "batch": BATCH, "epochs": EPOCHS}) as run:
        data = run.read(recipe)
        train = data.to_pandas(split="train")
        test = data.to_pandas(split="test")
        x_all = train[FEATURES].to_numpy(dtype=np.float64)
        mean, std = x_all.mean(axis=0), x_all.std(axis=0) + 1e-9
        mine = train.iloc[rank::world]
        if out := os.environ.get("TRAIN_IDS_OUT"):
            with open(f"{out}.{rank}", "w") as f:
                f.writelines(f"{i}\n" for i in mine["id"])
        x = torch.tensor((mine[FEATURES].to_numpy(dtype=np.float64) - mean) / std)
        y = torch.tensor(mine[LABEL].to_numpy(dtype=np.float64))
        model = DistributedDataParallel(torch.nn.Linear(len(FEATURES), 1, dtype=torch.float64))
        optimiser = torch.optim.SGD(model.parameters(), lr=LR)
        loss_fn = torch.nn.BCEWithLogitsLoss()
        # Every rank takes the same number of steps: DDP's all-reduce needs each of them.
        steps_per_epoch = -(-(len(train) // world) // BATCH)
        step = 0
        for _ in range(run.max_epochs or EPOCHS):
            for s in range(steps_per_epoch):
                xb, yb = x[s * BATCH : (s + 1) * BATCH], y[s * BATCH : (s + 1) * BATCH]
                optimiser.zero_grad()
                loss = loss_fn(model(xb).squeeze(1), yb)
                loss.backward()
                optimiser.step()
                run.log_metrics({"loss": float(loss)}, step=step)
                step += 1
        if rank == 0:
            xt = torch.tensor((test[FEATURES].to_numpy(dtype=np.float64) - mean) / std)
            yt = test[LABEL].to_numpy(dtype=np.float64)
            with torch.no_grad():
                pt = torch.sigmoid(model.module(xt).squeeze(1)).numpy()
            run.log_metrics({"accuracy": float(np.mean((pt > 0.5) == yt)), "world": world})
        # Outside the code folder: a file left there would make the tree dirty.
        saved = os.path.join(tempfile.mkdtemp(), f"model.{rank}.pt")
        torch.save(model.module.state_dict(), saved)
        run.log_artifact(saved, name="model.pt")
    dist.destroy_process_group()


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "train.yaml")
