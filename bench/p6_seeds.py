"""The spiral demo (P6) with torchdiffeq over several seeds, for the loss
comparison in bench/README.md: the same setup as the peers' P6 (torchdiffeq's
examples/ode_demo.py, float32, dopri5 rtol 1e-7 atol 1e-9, 20 windows of 10,
RMSprop 1e-3), with the seed as a parameter (the peers' script fixes 0).

    $HOME/peers-venv/bin/python bench/p6_seeds.py --seeds 0 1 2 3 4 --iters 2000

Prints one JSON line per seed: the full-trajectory mean absolute error and
the NFE of that solve.
"""
import argparse
import json
import time

import numpy as np
import torch
from torch import nn
from torchdiffeq import odeint

ap = argparse.ArgumentParser()
ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
ap.add_argument("--iters", type=int, default=2000)
args = ap.parse_args()
torch.set_num_threads(1)

data_size, batch_time, batch_size = 1000, 10, 20
true_y0 = torch.tensor([[2.0, 0.0]])
t = torch.linspace(0.0, 25.0, data_size)
true_A = torch.tensor([[-0.1, 2.0], [-2.0, -0.1]])


class Truth(nn.Module):
    def forward(self, t, y):
        return torch.mm(y ** 3, true_A)


with torch.no_grad():
    true_y = odeint(Truth(), true_y0, t, method="dopri5")


class Func(nn.Module):
    def __init__(self, seed):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(2, 50), nn.Tanh(), nn.Linear(50, 2))
        rng = np.random.default_rng(seed)
        with torch.no_grad():
            self.net[0].weight.copy_(torch.from_numpy(rng.normal(0.0, 0.1, size=(50, 2)).astype(np.float32)))
            self.net[0].bias.zero_()
            self.net[2].weight.copy_(torch.from_numpy(rng.normal(0.0, 0.1, size=(2, 50)).astype(np.float32)))
            self.net[2].bias.zero_()
        self.nfe = 0

    def forward(self, t, y):
        self.nfe += 1
        return self.net(y ** 3)


for seed in args.seeds:
    np.random.seed(seed)
    torch.manual_seed(seed)
    func = Func(seed)
    opt = torch.optim.RMSprop(func.parameters(), lr=1e-3)
    start = time.perf_counter()
    for _ in range(args.iters):
        s = torch.from_numpy(np.random.choice(np.arange(data_size - batch_time, dtype=np.int64), batch_size,
                                              replace=False))
        by0, bt = true_y[s], t[:batch_time]
        by = torch.stack([true_y[s + i] for i in range(batch_time)], dim=0)
        opt.zero_grad()
        loss = torch.mean(torch.abs(odeint(func, by0, bt) - by))
        loss.backward()
        opt.step()
    train_s = time.perf_counter() - start
    with torch.no_grad():
        func.nfe = 0
        pred = odeint(func, true_y0, t)
        full = float(torch.mean(torch.abs(pred - true_y)))
    print(json.dumps({"peer": "torchdiffeq", "problem": "P6-seeds", "seed": seed, "iters": args.iters,
                      "full_traj_loss": full, "nfe_full_traj": func.nfe, "train_s": train_s}), flush=True)
