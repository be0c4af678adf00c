/*
 * test_train_adamw_bits.c — es_adamw_step (src/train/optim.c, compiled
 * with -fno-math-errno so the update loop vectorizes) must give exactly the
 * bits of the plain scalar update written out here (this file is compiled
 * with the default errno semantics, so its sqrtf stays scalar): 3 steps on
 * two tensors (one with weight decay, one without), lengths that leave
 * vector tails, gradients spanning many magnitudes and zeros.
 */
#include "test.h"

#include "nn/params.h"
#include "train/optim.h"

#include <math.h>

static uint64_t g_rng = 0x94d049bb133111ebull;
static float frand(void) { return test_frand(&g_rng); }

int main(void) {
    es_params ps;
    memset(&ps, 0, sizeof ps);
    es_error err;
    int i0, i1;
    const int64_t s0[2] = {37, 29}, s1[1] = {1003};
    REQUIRE(es_params_add(&ps, &i0, "w", 2, s0, ES_INIT_ZERO, 0, 0, 0, 1, &err) == ES_OK, "add");
    REQUIRE(es_params_add(&ps, &i1, "b", 1, s1, ES_INIT_ZERO, 0, 0, 0, 0, &err) == ES_OK, "add");
    REQUIRE(es_params_alloc(&ps, 1, &err) == ES_OK, "alloc");
    const size_t n = ps.total;
    float *x = malloc(n * sizeof(float)), *m = calloc(n, sizeof(float)), *v = calloc(n, sizeof(float));
    REQUIRE(x && m && v, "malloc");
    for (size_t k = 0; k < n; k++) ps.data[k] = x[k] = frand();
    es_adamw o;
    REQUIRE(es_adamw_init(&o, &ps, &err) == ES_OK, "adamw init");
    const float lr = 1e-3f, b1 = 0.9f, b2 = 0.999f, eps = 1e-8f, wd = 0.01f;
    for (int t = 1; t <= 3; t++) {
        for (size_t k = 0; k < n; k++) {
            float g = frand() * powf(10.0f, (float)((int)(k % 9) - 4));
            if (k % 17 == 0) g = 0.0f;
            ps.grad[k] = g;
        }
        /* the scalar update (optim.h), written independently */
        double bc1 = 1.0 - pow((double)b1, (double)t), bc2 = 1.0 - pow((double)b2, (double)t);
        float step = (float)((double)lr / bc1), bc2s = (float)sqrt(bc2);
        float decay = (float)(1.0 - (double)lr * (double)wd);
        float o1 = (float)(1.0 - (double)b1), o2 = (float)(1.0 - (double)b2);
        for (int i = 0; i < ps.n; i++) {
            const es_param *p = &ps.p[i];
            for (size_t k = p->offset; k < p->offset + p->numel; k++) {
                float g = ps.grad[k];
                if (p->decay) x[k] *= decay;
                m[k] = m[k] * b1 + o1 * g;
                v[k] = v[k] * b2 + o2 * g * g;
                float denom = sqrtf(v[k]) / bc2s + eps;
                x[k] = x[k] - step * (m[k] / denom);
            }
        }
        es_adamw_step(&o, &ps, lr, b1, b2, eps, wd, 0);
        CHECK(memcmp(x, ps.data, n * sizeof(float)) == 0, "step %d: parameters differ", t);
        CHECK(memcmp(m, o.m, n * sizeof(float)) == 0 && memcmp(v, o.v, n * sizeof(float)) == 0,
              "step %d: moments differ", t);
    }
    es_adamw_free(&o);
    es_params_free(&ps);
    free(x);
    free(m);
    free(v);
    TEST_MAIN_END();
}
