"""Solve a model compiled by `nde build` from Python: ctypes and numpy arrays in and out.

    nde build ../../lorenz.nde -o liblorenz.so
    python3 solve.py ./liblorenz.so y0.csv 0:10:11 [method [rtol atol]]
    nde build ../../spiral.nde --model spiral -o libspiral.so
    python3 solve.py ./libspiral.so --loss fit

y0.csv holds a header line and one initial state per row (as `nde run --y0`); the output times
START:STOP:COUNT are spaced like `nde run --at`. Prints `traj,t,<states>` CSV rows with repr()
(exact round trip), the layout of `nde run`. With `--loss NAME`, prints the exported loss's
`value V` and one `grad i G` line per parameter instead.
"""
import ctypes as C
import os
import sys

import numpy as np

F64P = np.ctypeslib.ndpointer(dtype=np.float64, flags="C_CONTIGUOUS")
NDE_OK = 0


class Model:
    """A handle on a model library `libNAME.so` (its own copy of the parameters)."""

    def __init__(self, path):
        base = os.path.basename(path)
        self.name = base[3:].split(".so")[0] if base.startswith("lib") else base.split(".so")[0]
        self.lib = C.CDLL(os.path.abspath(path))
        f = lambda s: getattr(self.lib, f"{self.name}_{s}")
        for s, res in [("n_state", C.c_size_t), ("n_param", C.c_size_t), ("abi_version", C.c_uint32)]:
            f(s).restype, f(s).argtypes = res, []
        f("state_name").restype, f("state_name").argtypes = C.c_char_p, [C.c_size_t]
        f("last_error").restype, f("last_error").argtypes = C.c_char_p, []
        f("new").restype, f("new").argtypes = C.c_void_p, []
        f("free").restype, f("free").argtypes = C.c_int, [C.c_void_p]
        f("get_params").argtypes = [C.c_void_p, F64P, C.c_size_t]
        f("set_params").argtypes = [C.c_void_p, F64P, C.c_size_t]
        f("rhs").argtypes = [C.c_void_p, C.c_double, F64P, C.c_size_t, F64P, C.c_size_t]
        f("solve").argtypes = [C.c_void_p, C.c_char_p, C.c_double, C.c_double, C.c_double, C.c_double,
                               F64P, C.c_size_t, F64P, C.c_size_t, F64P, C.c_size_t]
        self._f = f
        self.n_state = f("n_state")()
        self.n_param = f("n_param")()
        self.states = [f("state_name")(i).decode() for i in range(self.n_state)]
        self.handle = f("new")()
        if not self.handle:
            raise RuntimeError(f("last_error")().decode())

    def _check(self, code):
        if code != NDE_OK:
            raise RuntimeError(f"nde error {code}: {self._f('last_error')().decode()}")

    def params(self):
        p = np.empty(self.n_param)
        self._check(self._f("get_params")(self.handle, p, p.size))
        return p

    def set_params(self, p):
        p = np.ascontiguousarray(p, dtype=np.float64)
        self._check(self._f("set_params")(self.handle, p, p.size))

    def rhs(self, t, y):
        y = np.ascontiguousarray(y, dtype=np.float64)
        dy = np.empty(self.n_state)
        self._check(self._f("rhs")(self.handle, t, y, y.size, dy, dy.size))
        return dy

    def solve(self, y0, t_out, method=None, rtol=0.0, atol=0.0, dt=0.0, t0=0.0):
        """States at `t_out` from each row of `y0`: an array [batch, len(t_out), n_state]."""
        y0 = np.ascontiguousarray(np.atleast_2d(y0), dtype=np.float64)
        t_out = np.ascontiguousarray(t_out, dtype=np.float64)
        out = np.empty((y0.shape[0], t_out.size, self.n_state))
        m = method.encode() if method else None
        self._check(self._f("solve")(self.handle, m, rtol, atol, dt, t0, t_out, t_out.size, y0, y0.shape[0],
                                     out, out.size))
        return out

    def loss(self, name, gradient=True):
        """The loss `name` of the model file (exported as NAME_loss_LOSS) over the data bundled in
        the library, at the current parameters: (value, gradient array), or (value, None)."""
        fn = self._f(f"loss_{name}")  # AttributeError: the library does not export this loss
        fn.argtypes = [C.c_void_p, C.POINTER(C.c_double), C.c_void_p, C.c_size_t]
        value = C.c_double()
        grad = np.empty(self.n_param) if gradient else None
        ptr, n = (grad.ctypes.data_as(C.c_void_p), grad.size) if gradient else (None, 0)
        self._check(fn(self.handle, C.byref(value), ptr, n))
        return value.value, grad

    def __del__(self):
        if getattr(self, "handle", None):
            self._f("free")(self.handle)
            self.handle = None


def times(spec):
    a, b, n = spec.split(":")
    a, b, n = float(a), float(b), int(n)
    return np.array([b if (n == 1 or i == n - 1) else a + (b - a) * i / (n - 1) for i in range(n)])


def main(argv):
    if len(argv) < 4:
        print(__doc__, file=sys.stderr)
        return 2
    model = Model(argv[1])
    if argv[2] == "--loss":
        value, grad = model.loss(argv[3])
        print(f"value {value!r}")
        for i, g in enumerate(grad):
            print(f"grad {i} {float(g)!r}")
        return 0
    y0 = np.loadtxt(argv[2], delimiter=",", skiprows=1, ndmin=2)
    t = times(argv[3])
    method = argv[4] if len(argv) > 4 else None
    rtol, atol = (float(argv[5]), float(argv[6])) if len(argv) > 6 else (0.0, 0.0)
    try:
        model.solve(y0, t, method="no_such_method")
    except RuntimeError as e:
        print(f"an unknown method is an exception: {e}", file=sys.stderr)
    ys = model.solve(y0, t, method, rtol, atol)
    print(",".join(["traj", "t"] + model.states))
    for b in range(ys.shape[0]):
        for i, ti in enumerate(t):
            print(",".join([str(b), repr(float(ti))] + [repr(float(v)) for v in ys[b, i]]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
