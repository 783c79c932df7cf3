/* What a new input shape costs a CPU session: runs two sizes in the order
 * A A A B A B A B B B on one session and prints each run's time; the runs
 * right after a switch include the replan
 * (bench/results/2026-12-07-cpu-replan.md).
 *   cuseg_replan_bench [--model ARCH[:options] | FILE] [--threads N]
 *                      [--sizes HxW,HxW] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench_model.h"
#include "cuseg.h"

static double now_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e3 + t.tv_nsec * 1e-6;
}

int main(int argc, char **argv) {
    const char *model = "deeplabv3plus:backbone=resnet50,classes=21";
    int threads = 2, size[2][2] = {{360, 480}, {352, 448}};
    for (int i = 1; i < argc; ++i) {
        if (!strcmp(argv[i], "--model") && i + 1 < argc) {
            model = argv[++i];
        } else if (!strcmp(argv[i], "--threads") && i + 1 < argc) {
            threads = atoi(argv[++i]);
        } else if (!strcmp(argv[i], "--sizes") && i + 1 < argc &&
                   sscanf(argv[++i], "%dx%d,%dx%d", &size[0][0], &size[0][1], &size[1][0], &size[1][1]) == 4) {
        } else {
            fprintf(stderr, "usage: %s [--model ARCH[:options] | FILE] [--threads N] [--sizes HxW,HxW]\n", argv[0]);
            return 2;
        }
    }
    cuseg_model *m = NULL;
    cuseg_context *ctx = NULL;
    cuseg_session *s = NULL;
    cuseg_tensor *x[2] = {NULL, NULL};
    const cuseg_context_options o = {.device = "cpu", .cpu_threads = threads};
    cuseg_status st = bench_build_model(model, NULL, &m);
    if (st == CUSEG_OK) st = cuseg_context_create(&o, &ctx);
    if (st == CUSEG_OK) st = cuseg_session_create(m, ctx, &s);
    for (int k = 0; k < 2 && st == CUSEG_OK; ++k) {
        st = cuseg_tensor_create(CUSEG_F32, 1, size[k][0], size[k][1], 3, &x[k]);
        if (st == CUSEG_OK) memset(cuseg_tensor_data(x[k]), 0, sizeof(float) * 3 * size[k][0] * size[k][1]);
    }
    const char order[] = "AAABABABBB";
    printf("%s, %d threads, A = %dx%d, B = %dx%d\n", model, threads, size[0][0], size[0][1], size[1][0], size[1][1]);
    for (int i = 0; order[i] && st == CUSEG_OK; ++i) {
        const cuseg_tensor *in[1] = {x[order[i] - 'A']};
        const double t0 = now_ms();
        st = cuseg_session_run(s, in, 1);
        if (st == CUSEG_OK) printf("%c %8.1f ms%s\n", order[i], now_ms() - t0, i && order[i] != order[i - 1] ? "  (new shape)" : "");
    }
    if (st != CUSEG_OK) fprintf(stderr, "cuseg_replan_bench: %s\n", cuseg_last_error());
    cuseg_tensor_release(x[0]);
    cuseg_tensor_release(x[1]);
    cuseg_session_release(s);
    cuseg_context_release(ctx);
    cuseg_model_release(m);
    return st == CUSEG_OK ? 0 : 1;
}
