/* cuseg convert labelme: placeholder until the converter lands. */
#include <stdio.h>

#include "cli/cli.h"

int cs_cli_convert(int argc, char **argv) {
    (void)argc;
    (void)argv;
    fprintf(stderr, "cuseg convert: not implemented yet\n");
    return 2;
}
