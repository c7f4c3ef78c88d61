"""Irregularly sampled spirals for examples/ncde_spirals.nde.

Writes spirals_train.npz and spirals_test.npz beside this script: each holds
`t` [64] (a common grid over [0, 4 pi]), `y` [B, 64, 2] (float32, NaN where
an observation was dropped) and `label` [B, 2] (one-hot: [1, 0]
anticlockwise, [0, 1] clockwise), B = 128.

A series is a noisy spiral x + i y = r exp(-d t) exp(i (theta0 + s w t)),
with a random start angle theta0, scale r in [0.5, 1.5], decay d in
[0.05, 0.15] per unit time, angular speed w in [0.6, 1.0], sense s = +1
(anticlockwise) or -1 (clockwise), half of each, plus Gaussian noise of
0.05 r. Then 30% of its 64 observation times (19, chosen at random per
series) are dropped: both values become NaN.

Run: python3 examples/data/make_spirals.py (numpy only, seeded: the same
files every time).
"""

import os

import numpy as np

TIMES = 64
SERIES = 128
DROPPED = round(0.3 * TIMES)


def spirals(rng, count):
    t = np.linspace(0.0, 4.0 * np.pi, TIMES)
    sense = np.repeat([1.0, -1.0], count // 2)
    rng.shuffle(sense)
    theta0 = rng.uniform(0.0, 2.0 * np.pi, count)
    scale = rng.uniform(0.5, 1.5, count)
    decay = rng.uniform(0.05, 0.15, count)
    speed = rng.uniform(0.6, 1.0, count)
    angle = theta0[:, None] + (sense * speed)[:, None] * t[None, :]
    radius = scale[:, None] * np.exp(-decay[:, None] * t[None, :])
    y = np.stack([radius * np.cos(angle), radius * np.sin(angle)], axis=-1)
    y += rng.normal(0.0, 1.0, y.shape) * 0.05 * scale[:, None, None]
    for b in range(count):
        drop = rng.choice(TIMES, DROPPED, replace=False)
        y[b, drop, :] = np.nan
    label = np.stack([sense > 0, sense < 0], axis=-1).astype(np.float64)
    return t, y.astype(np.float32), label


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    rng = np.random.default_rng(2024)
    for name in ["train", "test"]:
        t, y, label = spirals(rng, SERIES)
        np.savez_compressed(os.path.join(here, f"spirals_{name}.npz"), t=t, y=y, label=label)


if __name__ == "__main__":
    main()
