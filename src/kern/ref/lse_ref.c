/*
 * lse_ref.c — scalar reference of log-sum-exp (kern.h es_lse_fn): the max
 * in float, then Σ exp(x_i − max) in double with libm's exp, in index
 * order, and max + log(sum).
 */
#include "kern/kern.h"

#include <math.h>

double es_lse_ref(const float *x, int n) {
    float mx = x[0];
    for (int i = 1; i < n; i++)
        if (x[i] > mx) mx = x[i];
    double sum = 0.0;
    for (int i = 0; i < n; i++) sum += exp((double)x[i] - (double)mx);
    return (double)mx + log(sum);
}
