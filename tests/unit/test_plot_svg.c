/*
 * test_plot_svg.c — the SVG curve writer: a two-panel plot with NaN gaps,
 * a log axis, an empty panel and XML-special characters is written, is
 * well-formed enough to parse as XML-ish text (balanced svg tag, escaped
 * text, expected number of polylines), and bad arguments are refused.
 */
#include "test.h"

#include "train/plot_svg.h"

#include <unistd.h>

static char *slurp(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)n + 1);
    if (b && fread(b, 1, (size_t)n, f) != (size_t)n) n = 0;
    if (b) b[n] = 0;
    fclose(f);
    return b;
}

static int count(const char *s, const char *needle) {
    int c = 0;
    for (const char *p = s; (p = strstr(p, needle)) != NULL; p++) c++;
    return c;
}

int main(void) {
    char path[256];
    snprintf(path, sizeof path, "%s/test_plot_svg_%d.svg", ES_BINARY_DIR, (int)getpid());
    double x[6] = {0, 10, 20, 30, 40, 50};
    double loss[6] = {0.7, 0.5, NAN, 0.2, 0.1, 0.05};
    double auc[6] = {0.5, 0.9, 0.95, 0.99, 0.995, 0.998};
    es_plot_series s1[2] = {{"train <loss>", x, loss, 6}, {"dev & loss", x, auc, 6}};
    es_plot_series s2[1] = {{"dev AUC", x, auc, 6}};
    es_plot_series s3[1] = {{"nothing", x, loss, 0}};
    es_plot_panel panels[3] = {
        {"Loss", "step", "loss", s1, 2, 1, 0, 0},
        {"Dev \"AUC\"", "step", "AUC", s2, 1, 0, 0.5, 1.0},
        {"Empty", "step", "y", s3, 1, 0, 0, 0},
    };
    es_error err;
    CHECK(es_plot_svg_write(path, "run <1>", panels, 3, &err) == ES_OK, "%s", err.msg);
    char *svg = slurp(path);
    REQUIRE(svg != NULL, "cannot read %s", path);
    CHECK(strncmp(svg, "<?xml", 5) == 0, "xml header");
    CHECK(count(svg, "<svg") == 1 && count(svg, "</svg>") == 1, "one svg element");
    /* loss has a NaN gap -> 2 polylines; dev&loss 1; AUC 1; empty 0 */
    CHECK(count(svg, "<polyline") == 4, "polylines: %d", count(svg, "<polyline"));
    CHECK(strstr(svg, "train &lt;loss&gt;") && strstr(svg, "dev &amp; loss") &&
              strstr(svg, "Dev &quot;AUC&quot;") && strstr(svg, "run &lt;1&gt;"),
          "escaped text");
    CHECK(strstr(svg, "train <loss>") == NULL, "raw < must not appear in text");
    CHECK(strstr(svg, "no data") != NULL, "empty panel says no data");
    CHECK(strstr(svg, "(log scale)") != NULL, "log axis label");
    CHECK(strstr(svg, "nan") == NULL && strstr(svg, "inf") == NULL, "no non-finite coordinates");
    free(svg);
    if (!getenv("KEEP_SVG")) remove(path);
    CHECK(es_plot_svg_write(path, "t", panels, 0, &err) == ES_ERR_ARG, "0 panels");
    CHECK(es_plot_svg_write("/nonexistent/dir/x.svg", "t", panels, 1, &err) == ES_ERR_IO,
          "bad dir");
    TEST_MAIN_END();
}
