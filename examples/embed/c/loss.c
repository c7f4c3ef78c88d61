/* A loss of a model file, exported by `nde build` as NAME_loss_LOSS: its value and gradient
 * over the data bundled in the library, a check of the gradient against finite differences,
 * and the error codes of misuse.
 *
 * Build (see README.md): nde build ../../spiral.nde --model spiral -o libspiral.so
 *   cc -O2 -DMODEL=spiral -DLOSS=fit loss.c -I. -L. -lspiral -Wl,-rpath,'$ORIGIN' -o loss
 * Run:   ./loss [h [i ...]]
 * Prints `value V` (the gradient pass's value), `value_only V` (without a gradient), one
 * `grad i G` line per parameter, and with a step h, `fd i D` lines: central differences
 * (f(p + e) - f(p - e)) / 2e with e = h max(1, |p_i|) for the parameters i listed (all
 * when none is). Numbers with %.17g (exact round trip). Exits 1 when a misuse gets the
 * wrong code.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#ifndef MODEL
#define MODEL spiral
#endif
#ifndef LOSS
#define LOSS fit
#endif
#define STR2(x) #x
#define STR(x) STR2(x)
#define CAT2(a, b) a##_##b
#define CAT(a, b) CAT2(a, b)
#define API(f) CAT(MODEL, f)
#define LOSS_FN CAT(API(loss), LOSS)
#include STR(MODEL.h)

static int failures = 0;

static void expect(const char *what, int got, int want) {
    fprintf(stderr, "%-24s code %d: %s%s\n", what, got, API(last_error)(), got == want ? "" : "   <-- WRONG");
    failures += got != want;
}

/* The loss at p (the handle's parameters are replaced). */
static double value_at(API(model) * m, const double *p, size_t np) {
    double v;
    if (API(set_params)(m, p, np) != NDE_OK || LOSS_FN(m, &v, NULL, 0) != NDE_OK) {
        fprintf(stderr, "error: %s\n", API(last_error)());
        exit(3);
    }
    return v;
}

int main(int argc, char **argv) {
    const size_t np = API(n_param)();
    API(model) *m = API(new)();
    if (!m) {
        fprintf(stderr, "error: %s\n", API(last_error)());
        return 1;
    }
    double *p = malloc(np * sizeof *p), *q = malloc(np * sizeof *q), *grad = malloc(np * sizeof *grad);
    double value, value_only;
    API(get_params)(m, p, np);

    expect("null value", LOSS_FN(m, NULL, grad, np), NDE_ERR_NULL);
    expect("null grad, grad_len", LOSS_FN(m, &value, NULL, np), NDE_ERR_NULL);
    expect("short grad", LOSS_FN(m, &value, grad, np - 1), NDE_ERR_LENGTH);
    expect("null handle", LOSS_FN(NULL, &value, grad, np), NDE_ERR_NULL);

    int code = LOSS_FN(m, &value, grad, np);
    if (code == NDE_OK) code = LOSS_FN(m, &value_only, NULL, 0);
    if (code != NDE_OK) {
        fprintf(stderr, "error %d: %s\n", code, API(last_error)());
        return 3;
    }
    printf("value %.17g\nvalue_only %.17g\n", value, value_only);
    for (size_t i = 0; i < np; i++) printf("grad %zu %.17g\n", i, grad[i]);

    if (argc > 1) {
        double h = atof(argv[1]);
        size_t count = argc > 2 ? (size_t)(argc - 2) : np;
        for (size_t k = 0; k < count; k++) {
            size_t i = argc > 2 ? (size_t)atol(argv[2 + k]) : k;
            if (i >= np) continue;
            double e = h * fmax(1.0, fabs(p[i]));
            for (size_t j = 0; j < np; j++) q[j] = p[j];
            q[i] = p[i] + e;
            double up = value_at(m, q, np);
            q[i] = p[i] - e;
            double down = value_at(m, q, np);
            printf("fd %zu %.17g\n", i, (up - down) / (2 * e));
        }
        API(set_params)(m, p, np);
    }
    API(free)(m);
    free(p);
    free(q);
    free(grad);
    return failures ? 1 : 0;
}
