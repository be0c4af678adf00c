/* Links the inference objects alone (no src/train): if this builds and
 * runs, the inference core does not depend on the training code. */
#include "edgeseq.h"

#include <stdio.h>
#include <string.h>

int main(void) {
    es_error err;
    es_model *m = NULL;
    es_status s = es_model_load(&m, "/nonexistent-edgeseq-folder", NULL, &err);
    if (s == ES_OK || m != NULL || err.msg[0] == 0) {
        fprintf(stderr, "expected a failure with a message\n");
        return 1;
    }
    printf("ok: %s (%s)\n", es_version(), err.msg);
    return 0;
}
