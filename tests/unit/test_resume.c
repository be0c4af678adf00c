/*
 * Kill-and-resume: a child process trains a tiny ByteQRNN (dropout and
 * zoneout on, gradient accumulation, 2 threads) with a checkpoint after
 * every step and is SIGKILLed at random moments, several times; each new
 * child resumes from whatever checkpoint survived. The parent finally
 * resumes and finishes the run, and the final parameters must equal,
 * byte for byte, those of an uninterrupted run in this process.
 */
#include "test.h"

#include "model/byte_model.h"
#include "nn/params.h"
#include "train/trainer.h"

#include <signal.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define N_EX 64
static uint8_t g_buf[N_EX][48];
static es_example g_ex[N_EX];

static void make_data(void) {
    uint32_t st = 7;
    for (int i = 0; i < N_EX; i++) {
        st = st * 1664525u + 1013904223u;
        size_t len = 4 + (st >> 8) % 40;
        int score = 0;
        for (size_t k = 0; k < len; k++) {
            st = st * 1664525u + 1013904223u;
            g_buf[i][k] = (uint8_t)("abcdxyz!$ "[(st >> 12) % 10]);
            score += g_buf[i][k] == '$' || g_buf[i][k] == '!';
        }
        g_ex[i].bytes = g_buf[i];
        g_ex[i].len = len;
        g_ex[i].label = score >= 3;
    }
}

static es_byte_config cfg(void) {
    es_byte_config c;
    es_byte_config_default(&c, ES_BYTE_QRNN);
    c.max_bytes = 48;
    c.d_embed = 4;
    c.d_model = 8;
    c.gbst_kernel = 3;
    c.gbst_blocks = 2;
    c.downsample = 2;
    c.qrnn_layers = 2;
    c.qrnn_hidden = 6;
    c.zoneout = 0.1f;
    c.dropout = 0.1f;
    return c;
}

static es_train_params tparams(const char *out) {
    es_train_params p = es_train_params_default();
    p.batch_size = 4;
    p.grad_accum = 2;
    p.max_steps = 80;
    p.warmup_steps = 5;
    p.lr = 5e-3f;
    p.n_threads = 2;
    p.save_every = 1;
    p.log_every = 0;
    p.out_dir = out;
    p.seed = 42;
    return p;
}

/* Runs (resuming if a checkpoint exists) to max_steps; returns the status. */
static es_status train_run(const char *out, es_byte_model **keep, uint64_t *hash) {
    es_error e;
    es_byte_config c = cfg();
    es_byte_model *m = NULL;
    es_status s = es_byte_model_new(&m, &c, 1234, &e);
    if (s) return s;
    es_train_params p = tparams(out);
    es_trainer *tr = NULL;
    s = es_trainer_new(&tr, m, &p, &e);
    if (!s && out) {
        es_status r = es_trainer_resume(tr, NULL, &e);
        if (r && r != ES_ERR_IO) {
            fprintf(stderr, "resume failed: %s\n", e.msg);
            s = r;
        }
    }
    es_example_source src = {N_EX, g_ex, NULL, NULL};
    if (!s) s = es_trainer_run(tr, &src, &e);
    if (s) fprintf(stderr, "train_run: %s\n", e.msg);
    es_trainer_free(tr);
    if (hash) *hash = es_params_hash(es_byte_model_params(m));
    if (keep) *keep = m;
    else es_byte_model_free(m);
    return s;
}

static int64_t latest_step(const char *out) {
    char pf[600], line[64] = "";
    snprintf(pf, sizeof pf, "%s/checkpoint", out);
    FILE *f = fopen(pf, "r");
    if (!f) return -1;
    if (!fgets(line, sizeof line, f)) line[0] = 0;
    fclose(f);
    long long st = -1;
    if (sscanf(line, "step-%lld", &st) != 1) return -1;
    return st;
}

int main(void) {
    make_data();
    es_byte_model *ref = NULL;
    uint64_t href = 0;
    es_status rs = train_run(NULL, &ref, &href); /* REQUIRE evaluates twice */
    REQUIRE(rs == ES_OK, "reference run");

    char dir[] = "/tmp/es_resume_XXXXXX";
    char *made = mkdtemp(dir);
    REQUIRE(made != NULL, "mkdtemp");
    char out[512];
    snprintf(out, sizeof out, "%s/run", dir);

    srand((unsigned)time(NULL) ^ (unsigned)getpid());
    int kills = 0, finished_in_child = 0;
    for (int round = 0; round < 5 && !finished_in_child; round++) {
        fflush(NULL);
        pid_t pid = fork();
        if (pid < 0) return 1;
        if (pid == 0) {
            es_status s = train_run(out, NULL, NULL);
            _exit(s == ES_OK ? 0 : 3);
        }
        /* wait until the child has published a new checkpoint (so every
         * round makes progress whatever the disk speed), then kill it at a
         * random moment within the next few steps */
        int64_t before = latest_step(out);
        for (int w = 0; w < 20000 && latest_step(out) <= before; w++) usleep(1000);
        usleep((useconds_t)(rand() % 250000));
        kill(pid, SIGKILL);
        int st = 0;
        waitpid(pid, &st, 0);
        if (WIFSIGNALED(st)) {
            kills++;
            char pf[600], line[64] = "";
            snprintf(pf, sizeof pf, "%s/checkpoint", out);
            FILE *f = fopen(pf, "r");
            if (f) {
                if (!fgets(line, sizeof line, f)) line[0] = 0;
                fclose(f);
            }
            printf("kill %d: latest checkpoint %s", kills, line[0] ? line : "(none)\n");
        }
        else {
            CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child failed with status %d", st);
            finished_in_child = 1;
        }
    }
    printf("killed %d time(s)%s\n", kills, finished_in_child ? ", a child finished" : "");
    CHECK(kills >= 1, "no child was killed: the test did not exercise resume");

    es_byte_model *res = NULL;
    uint64_t hres = 0;
    rs = train_run(out, &res, &hres);
    CHECK(rs == ES_OK, "final resumed run");
    es_params *a = es_byte_model_params(ref), *b = es_byte_model_params(res);
    CHECK(a->total == b->total && memcmp(a->data, b->data, a->total * sizeof(float)) == 0,
          "resumed parameters differ from the uninterrupted run (hash %016llx vs %016llx)",
          (unsigned long long)href, (unsigned long long)hres);
    /* The final model folder loads and equals the trained parameters. */
    es_byte_model *ld = NULL;
    es_error e;
    es_status s = es_byte_model_load_dir(&ld, out, &e);
    CHECK(s == ES_OK, "load final model: %s", e.msg);
    if (!s) {
        CHECK(memcmp(es_byte_model_params(ld)->data, a->data, a->total * sizeof(float)) == 0,
              "saved final model differs");
        es_byte_model_free(ld);
    }
    es_byte_model_free(ref);
    es_byte_model_free(res);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    CHECK(system(cmd) == 0, "cleanup");
    TEST_MAIN_END();
}
