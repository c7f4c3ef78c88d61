/* Every misuse returns an error code and a readable message; none aborts.
 * Build: cc -DMODEL=lorenz errors.c -I. -L. -llorenz -Wl,-rpath,'$ORIGIN' -o errors
 * Prints one line per case and exits 1 if any case got the wrong code or no message. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#ifndef MODEL
#define MODEL lorenz
#endif
#define STR2(x) #x
#define STR(x) STR2(x)
#define CAT2(a, b) a##_##b
#define CAT(a, b) CAT2(a, b)
#define API(f) CAT(MODEL, f)
#include STR(MODEL.h)

static int failures = 0;

static void expect(const char *what, int got, int want) {
    const char *msg = API(last_error)();
    int ok = got == want && msg && strlen(msg) > 0;
    printf("%-28s code %d (%s): %s%s\n", what, got, API(error_message)(got), msg, ok ? "" : "   <-- WRONG");
    failures += !ok;
}

int main(void) {
    const size_t N = API(n_state)(), NP = API(n_param)();
    API(model) *m = API(new)();
    if (!m) return 1;
    double y[N], dy[N], t[2] = {0.0, 1.0}, out[2 * N], p[NP];
    for (int i = 0; i < N; i++) y[i] = 1.0;

    expect("null handle", API(rhs)(NULL, 0.0, y, N, dy, N), NDE_ERR_NULL);
    expect("null state", API(rhs)(m, 0.0, NULL, N, dy, N), NDE_ERR_NULL);
    expect("null output", API(rhs)(m, 0.0, y, N, NULL, N), NDE_ERR_NULL);
    expect("null t_out", API(solve)(m, NULL, 0, 0, 0, 0.0, NULL, 2, y, 1, out, 2 * N), NDE_ERR_NULL);
    expect("null params", API(set_params)(m, NULL, NP), NDE_ERR_NULL);
    expect("short state", API(rhs)(m, 0.0, y, N - 1, dy, N), NDE_ERR_LENGTH);
    expect("long output", API(rhs)(m, 0.0, y, N, dy, N + 1), NDE_ERR_LENGTH);
    expect("wrong params length", API(get_params)(m, p, NP + 1), NDE_ERR_LENGTH);
    expect("wrong solve output", API(solve)(m, NULL, 0, 0, 0, 0.0, t, 2, y, 1, out, N), NDE_ERR_LENGTH);
    expect("wrong jac length", API(jac)(m, 0.0, y, N, dy, N), NDE_ERR_LENGTH);
    y[0] = NAN;
    expect("NaN state", API(rhs)(m, 0.0, y, N, dy, N), NDE_ERR_NONFINITE);
    expect("NaN initial state", API(solve)(m, NULL, 0, 0, 0, 0.0, t, 2, y, 1, out, 2 * N), NDE_ERR_NONFINITE);
    y[0] = 1.0;
    expect("infinite time", API(rhs)(m, INFINITY, y, N, dy, N), NDE_ERR_NONFINITE);
    expect("NaN rtol", API(solve)(m, "tsit5", NAN, 0, 0, 0.0, t, 2, y, 1, out, 2 * N), NDE_ERR_NONFINITE);
    API(get_params)(m, p, NP);
    p[0] = NAN;
    expect("NaN parameter", API(set_params)(m, p, NP), NDE_ERR_NONFINITE);
    expect("unknown method", API(solve)(m, "rk45", 0, 0, 0, 0.0, t, 2, y, 1, out, 2 * N), NDE_ERR_METHOD);
    expect("negative tolerance", API(solve)(m, "tsit5", -1e-6, 0, 0, 0.0, t, 2, y, 1, out, 2 * N), NDE_ERR_OPTION);
    expect("fixed step without dt", API(solve)(m, "rk4", 0, 0, 0, 0.0, t, 2, y, 1, out, 2 * N), NDE_ERR_OPTION);
    double back[2] = {1.0, 0.0};
    expect("times out of order", API(solve)(m, "tsit5", 0, 0, 0, 0.0, back, 2, y, 1, out, 2 * N), NDE_ERR_OPTION);
    double far[2] = {0.0, 1e6};
    expect("too many steps", API(solve)(m, "euler", 0, 0, 1e-3, 0.0, far, 2, y, 1, out, 2 * N), NDE_ERR_SOLVE);

    /* After all that the handle still works. */
    int ok = API(rhs)(m, 0.0, y, N, dy, N);
    printf("%-28s code %d\n", "a valid call", ok);
    failures += ok != NDE_OK;
    API(free)(m);
    printf("%d failures\n", failures);
    return failures != 0;
}
