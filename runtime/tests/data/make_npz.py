"""Writes the .npz fixtures of runtime/tests/data.rs (numpy 2.x).

Run from this folder: python3 make_npz.py
"""
import numpy as np

t = np.array([0.0, 0.1, 0.35, 1.0, 2.5])
# one trajectory, y[T, m], with a missing value
single = np.array([[1.0, 0.0], [0.9, -0.5], [np.nan, -1.0], [0.25, -2.0], [-1.0, 0.5]])
np.savez("single.npz", t=t, y=single)
# three trajectories, y[B, T, m]: y[b, i, j] = 100 b + 10 i + j, with a NaN
multi = (100 * np.arange(3)[:, None, None] + 10 * np.arange(5)[None, :, None] + np.arange(2)[None, None, :]).astype(float)
multi[1, 2, 0] = np.nan
np.savez_compressed("multi.npz", t=t, y=multi)
# the same single trajectory in Fortran order, float32, times as integers
np.savez("fortran.npz", t=np.array([0, 1, 3, 4, 10], dtype=np.int64), y=np.asfortranarray(single.astype(np.float32)))
# y's time axis (4) does not match t (5)
np.savez("bad_shape.npz", t=t, y=np.zeros((2, 4, 3)))
# t decreases at entry 3
np.savez("decreasing_t.npz", t=np.array([0.0, 0.5, 1.0, 0.75, 2.0]), y=np.ones((5, 1)))
# no `y`
np.savez("missing_y.npz", t=t, x=np.ones((5, 2)))
# column y1 missing in every trajectory
all_nan = np.ones((2, 5, 2))
all_nan[:, :, 1] = np.nan
np.savez("all_nan.npz", t=t, y=all_nan)
