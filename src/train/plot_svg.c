/*
 * plot_svg.c — SVG line charts (see plot_svg.h).
 *
 * Layout: a fixed 760-px-wide canvas, one 300-px-high panel per
 * es_plot_panel. Axis ranges come from the finite data (padded 5 %), ticks
 * from the classic "nice numbers" rule (steps of 1, 2 or 5 times a power
 * of ten, about 5 per axis). Everything is written through the atomic
 * writer so a reader never sees half a file.
 */
#include "train/plot_svg.h"

#include "io/fileio.h"

#include <math.h>
#include <string.h>

enum { W = 760, PANEL_H = 300, TOP = 40, ML = 70, MR = 150, MT = 30, MB = 45 };

static const char *const k_colors[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e",
                                       "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"};

/* Appends text with &, <, >, " escaped. */
static es_status put_escaped(es_atomic_file *f, const char *s, es_error *err) {
    if (!s) return ES_OK;
    for (; *s; s++) {
        const char *rep = NULL;
        switch (*s) {
        case '&': rep = "&amp;"; break;
        case '<': rep = "&lt;"; break;
        case '>': rep = "&gt;"; break;
        case '"': rep = "&quot;"; break;
        default: break;
        }
        es_status st = rep ? es_atomic_write(f, rep, strlen(rep), err)
                           : es_atomic_write(f, s, 1, err);
        if (st) return st;
    }
    return ES_OK;
}

/* A "nice" tick step for a range split in about n parts. */
static double nice_step(double range, int n) {
    double raw = range / n;
    double p = pow(10.0, floor(log10(raw)));
    double m = raw / p;
    return (m < 1.5 ? 1 : m < 3 ? 2 : m < 7 ? 5 : 10) * p;
}

static double ty(const es_plot_panel *p, double y) { return p->log_y ? log10(y) : y; }

static int usable(const es_plot_panel *p, double x, double y) {
    return isfinite(x) && isfinite(y) && (!p->log_y || y > 0);
}

#define PUT(...)                                                  \
    do {                                                          \
        es_status st_ = es_atomic_printf(f, err, __VA_ARGS__);    \
        if (st_) return st_;                                      \
    } while (0)

static es_status panel(es_atomic_file *f, const es_plot_panel *p, int y0, es_error *err) {
    double xmin = INFINITY, xmax = -INFINITY, ymin = INFINITY, ymax = -INFINITY;
    for (int s = 0; s < p->n_series; s++) {
        const es_plot_series *se = &p->series[s];
        for (size_t i = 0; i < se->n; i++) {
            if (!usable(p, se->x[i], se->y[i])) continue;
            double yv = ty(p, se->y[i]);
            xmin = fmin(xmin, se->x[i]);
            xmax = fmax(xmax, se->x[i]);
            ymin = fmin(ymin, yv);
            ymax = fmax(ymax, yv);
        }
    }
    if (p->y_min < p->y_max) {
        ymin = ty(p, p->y_min);
        ymax = ty(p, p->y_max);
    }
    int px0 = ML, px1 = W - MR, py0 = y0 + MT, py1 = y0 + PANEL_H - MB;
    PUT("<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"none\" stroke=\"#444\"/>\n",
        px0, py0, px1 - px0, py1 - py0);
    PUT("<text x=\"%d\" y=\"%d\" font-size=\"14\" font-weight=\"bold\">", px0, y0 + 20);
    es_status st = put_escaped(f, p->title, err);
    if (st) return st;
    PUT("</text>\n<text x=\"%d\" y=\"%d\" font-size=\"12\" text-anchor=\"middle\">",
        (px0 + px1) / 2, py1 + 36);
    if ((st = put_escaped(f, p->xlabel, err))) return st;
    PUT("</text>\n<text x=\"16\" y=\"%d\" font-size=\"12\" text-anchor=\"middle\" "
        "transform=\"rotate(-90 16 %d)\">",
        (py0 + py1) / 2, (py0 + py1) / 2);
    if ((st = put_escaped(f, p->ylabel, err))) return st;
    if (p->log_y) PUT(" (log scale)");
    PUT("</text>\n");
    if (!(xmin <= xmax) || !(ymin <= ymax)) {
        PUT("<text x=\"%d\" y=\"%d\" font-size=\"14\" fill=\"#888\" text-anchor=\"middle\">"
            "no data</text>\n",
            (px0 + px1) / 2, (py0 + py1) / 2);
        return ES_OK;
    }
    if (xmax == xmin) { xmin -= 0.5; xmax += 0.5; }
    if (ymax == ymin) { ymin -= 0.5; ymax += 0.5; }
    if (!(p->y_min < p->y_max)) {
        double pad = 0.05 * (ymax - ymin);
        ymin -= pad;
        ymax += pad;
    }
    double sx = (px1 - px0) / (xmax - xmin), sy = (py1 - py0) / (ymax - ymin);
    /* ticks and grid */
    double xs = nice_step(xmax - xmin, 6), ys = nice_step(ymax - ymin, 5);
    /* integer tick counters: `v += step` could stall when step < ulp(v) */
    double k0 = ceil(xmin / xs);
    for (int k = 0; k < 50; k++) {
        double v = (k0 + k) * xs;
        if (v > xmax + 1e-9 * xs) break;
        double X = px0 + (v - xmin) * sx;
        PUT("<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"#ddd\"/>"
            "<text x=\"%.1f\" y=\"%d\" font-size=\"11\" text-anchor=\"middle\">%g</text>\n",
            X, py0, X, py1, X, py1 + 15, fabs(v) < 1e-12 * xs ? 0.0 : v);
    }
    /* log axis: ticks at 1, 2, 5 x 10^d (only 10^d when the range is wide) */
    double y_ticks[64];
    int n_yt = 0;
    if (p->log_y) {
        static const double mult[3] = {1, 2, 5};
        int wide = ymax - ymin > 3.0;
        for (double dec = floor(ymin); dec <= ceil(ymax) && n_yt < 60; dec += 1) {
            for (int j = 0; j < (wide ? 1 : 3); j++) {
                double v = dec + log10(mult[j]);
                if (v >= ymin && v <= ymax) y_ticks[n_yt++] = v;
            }
        }
    } else {
        k0 = ceil(ymin / ys);
        for (int k = 0; k < 50; k++) {
            double v = (k0 + k) * ys;
            if (v > ymax + 1e-9 * ys) break;
            y_ticks[n_yt++] = v;
        }
    }
    for (int k = 0; k < n_yt; k++) {
        double v = y_ticks[k];
        double Y = py1 - (v - ymin) * sy;
        PUT("<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"#ddd\"/>"
            "<text x=\"%d\" y=\"%.1f\" font-size=\"11\" text-anchor=\"end\">%.4g</text>\n",
            px0, Y, px1, Y, px0 - 5, Y + 4,
            p->log_y ? pow(10.0, v) : fabs(v) < 1e-12 * ys ? 0.0 : v);
    }
    /* series */
    for (int s = 0; s < p->n_series; s++) {
        const es_plot_series *se = &p->series[s];
        const char *col = k_colors[(size_t)s % ES_ARRAY_LEN(k_colors)];
        int open = 0, n_pts = 0;
        for (size_t i = 0; i < se->n; i++) {
            if (!usable(p, se->x[i], se->y[i])) {
                if (open) PUT("\"/>\n");
                open = 0;
                continue;
            }
            double X = px0 + (se->x[i] - xmin) * sx;
            double Y = py1 - (ty(p, se->y[i]) - ymin) * sy;
            Y = fmin(fmax(Y, py0), py1); /* fixed y range: clamp outliers to the frame */
            if (!open) PUT("<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"1.5\" points=\"", col);
            PUT("%.1f,%.1f ", X, Y);
            open = 1;
            n_pts++;
        }
        if (open) PUT("\"/>\n");
        if (n_pts == 1) {
            /* a single point draws no line: mark it */
            for (size_t i = 0; i < se->n; i++) {
                if (!usable(p, se->x[i], se->y[i])) continue;
                PUT("<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"%s\"/>\n",
                    px0 + (se->x[i] - xmin) * sx, py1 - (ty(p, se->y[i]) - ymin) * sy, col);
            }
        }
        int ly = py0 + 12 + 18 * s;
        PUT("<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"%s\" stroke-width=\"2\"/>"
            "<text x=\"%d\" y=\"%d\" font-size=\"12\">",
            px1 + 10, ly, px1 + 30, ly, col, px1 + 35, ly + 4);
        if ((st = put_escaped(f, se->name, err))) return st;
        PUT("</text>\n");
    }
    return ES_OK;
}

static es_status write_all(es_atomic_file *f, const char *title, const es_plot_panel *panels,
                           int n_panels, es_error *err) {
    int h = TOP + n_panels * PANEL_H;
    PUT("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
        "<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" width=\"%d\" height=\"%d\" "
        "viewBox=\"0 0 %d %d\" font-family=\"sans-serif\">\n"
        "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n"
        "<text x=\"%d\" y=\"26\" font-size=\"16\" text-anchor=\"middle\">",
        W, h, W, h, W / 2);
    es_status st = put_escaped(f, title, err);
    if (st) return st;
    PUT("</text>\n");
    for (int i = 0; i < n_panels; i++)
        if ((st = panel(f, &panels[i], TOP + i * PANEL_H, err))) return st;
    PUT("</svg>\n");
    return ES_OK;
}

es_status es_plot_svg_write(const char *path, const char *title, const es_plot_panel *panels,
                            int n_panels, es_error *err) {
    if (n_panels < 1) return es_errf(err, ES_ERR_ARG, "%s: no panels to plot", path);
    es_atomic_file *f;
    es_status st = es_atomic_begin(&f, path, err);
    if (st) return st;
    st = write_all(f, title, panels, n_panels, err);
    if (st) {
        es_atomic_abort(f);
        return st;
    }
    return es_atomic_commit(f, err);
}
