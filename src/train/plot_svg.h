/*
 * plot_svg.h — a small SVG line-chart writer for training curves
 * (loss, dev AUC against step). No dependencies; the file is plain SVG 1.1
 * that any browser shows.
 */
#ifndef ES_TRAIN_PLOT_SVG_H
#define ES_TRAIN_PLOT_SVG_H

#include "core/common.h"

/* One polyline: n points (x[i], y[i]); non-finite points are skipped (the
 * line is broken there). Borrowed for the call. */
typedef struct es_plot_series {
    const char *name;
    const double *x, *y;
    size_t n;
} es_plot_series;

/* One chart panel; panels are stacked vertically. log_y plots log10(y)
 * (points with y <= 0 skipped). y_min/y_max fix the y range when
 * y_min < y_max, else it is fitted to the data. */
typedef struct es_plot_panel {
    const char *title, *xlabel, *ylabel;
    const es_plot_series *series;
    int n_series;
    int log_y;
    double y_min, y_max;
} es_plot_panel;

/* Writes an SVG with the panels to path, atomically. Text is XML-escaped.
 * A panel without any finite point is drawn empty with "no data".
 * Errors: ES_ERR_ARG (n_panels < 1), ES_ERR_IO, ES_ERR_NOMEM. */
es_status es_plot_svg_write(const char *path, const char *title, const es_plot_panel *panels,
                            int n_panels, es_error *err);

#endif
