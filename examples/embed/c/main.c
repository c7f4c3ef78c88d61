/* Solve a model compiled by `nde build` from C: metadata, a batch solve
 * printed as CSV in `nde run`'s layout, and what an error looks like.
 *
 * Build (see README.md): nde build ../../lorenz.nde -o liblorenz.so
 *   cc -O2 -DMODEL=lorenz main.c -I. -L. -llorenz -Wl,-rpath,'$ORIGIN' -o solve
 * Run:   ./solve y0.csv 0:10:11 [method [rtol atol]]
 *   y0.csv: a header line, then one initial state per row (as `nde run --y0`).
 *   Output times START:STOP:COUNT, equally spaced like `nde run --at`.
 * Prints `traj,t,<states>` rows with %.17g (exact round trip).
 */
#include <stdio.h>
#include <stdlib.h>
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

/* Reads a CSV of initial states (header line skipped); returns the number of rows. */
static size_t read_states(const char *path, size_t n, double **out) {
    FILE *f = fopen(path, "r");
    if (!f) {
        perror(path);
        exit(4);
    }
    char line[1 << 16];
    size_t rows = 0, cap = 16;
    double *y = malloc(cap * n * sizeof *y);
    if (!fgets(line, sizeof line, f)) { /* header */
        fprintf(stderr, "%s: empty file\n", path);
        exit(4);
    }
    while (fgets(line, sizeof line, f)) {
        if (line[0] == '\n' || line[0] == '\0') continue;
        if (rows == cap) y = realloc(y, (cap *= 2) * n * sizeof *y);
        char *p = line;
        for (size_t j = 0; j < n; j++) {
            char *end;
            y[rows * n + j] = strtod(p, &end);
            if (end == p) {
                fprintf(stderr, "%s: row %zu has fewer than %zu numbers\n", path, rows + 1, n);
                exit(4);
            }
            p = (*end == ',') ? end + 1 : end;
        }
        rows++;
    }
    fclose(f);
    *out = y;
    return rows;
}

/* START:STOP:COUNT, spaced like `nde run --at` (the last time is STOP exactly). */
static size_t times(const char *spec, double **out) {
    double a, b;
    size_t count;
    if (sscanf(spec, "%lf:%lf:%zu", &a, &b, &count) != 3 || count == 0) {
        fprintf(stderr, "times: expected START:STOP:COUNT, got %s\n", spec);
        exit(2);
    }
    double *t = malloc(count * sizeof *t);
    for (size_t i = 0; i < count; i++)
        t[i] = (count == 1 || i == count - 1) ? b : a + (b - a) * (double)i / (double)(count - 1);
    *out = t;
    return count;
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: %s y0.csv START:STOP:COUNT [method [rtol atol]]\n", argv[0]);
        return 2;
    }
    const size_t n = API(n_state)();
    fprintf(stderr, "model %s (ABI %u): %zu states, %zu parameters in %zu arrays\n", API(name)(),
            (unsigned)API(abi_version)(), n, API(n_param)(), API(n_param_arrays)());

    double *y0, *t;
    size_t batch = read_states(argv[1], n, &y0);
    size_t nt = times(argv[2], &t);
    const char *method = argc > 3 ? argv[3] : NULL; /* NULL: the model file's solver */
    double rtol = argc > 5 ? atof(argv[4]) : 0.0, atol = argc > 5 ? atof(argv[5]) : 0.0;

    API(model) *m = API(new)();
    if (!m) {
        fprintf(stderr, "error: %s\n", API(last_error)());
        return 1;
    }
    size_t len = batch * nt * n;
    double *out = malloc(len * sizeof *out);
    /* An error is a code and a message, never an abort: here an unknown method. */
    int code = API(solve)(m, "no_such_method", 0, 0, 0, 0.0, t, nt, y0, batch, out, len);
    fprintf(stderr, "an unknown method gives code %d (%s): %s\n", code, API(error_message)(code), API(last_error)());

    code = API(solve)(m, method, rtol, atol, 0.0, 0.0, t, nt, y0, batch, out, len);
    if (code != NDE_OK) {
        fprintf(stderr, "error %d: %s\n", code, API(last_error)());
        API(free)(m);
        return 3;
    }
    printf("traj,t");
    for (size_t j = 0; j < n; j++) printf(",%s", API(state_name)(j));
    printf("\n");
    for (size_t b = 0; b < batch; b++)
        for (size_t i = 0; i < nt; i++) {
            printf("%zu,%.17g", b, t[i]);
            for (size_t j = 0; j < n; j++) printf(",%.17g", out[(b * nt + i) * n + j]);
            printf("\n");
        }
    API(free)(m);
    free(out);
    free(y0);
    free(t);
    return 0;
}
