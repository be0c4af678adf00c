/* edgeseq CLI entry point (placeholder until the CLI lands). */
#include "edgeseq.h"

#include <stdio.h>

int main(void) {
    printf("edgeseq %s\n", es_version());
    return 0;
}
