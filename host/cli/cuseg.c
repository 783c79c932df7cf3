/* cuseg: the command line entry point and its subcommand table. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

typedef struct command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} command;

static const command commands[] = {
    {"info", cs_cli_info, "layer table, output shapes, parameters and MACs of a model"},
    {"archs", cs_cli_archs, "list the architectures of the model zoo"},
    {"eval", cs_cli_eval, "confusion-matrix metrics of predicted vs ground-truth label PNGs"},
    {"segment", cs_cli_segment, "segment every image of a directory tree into class-index PNGs"},
    {"convert", cs_cli_convert, "convert annotations (labelme JSON) into index and palette PNGs"},
    {"train", cs_cli_train, "train a zoo architecture on image/label pairs (CPU), checkpoints, resume"},
    {"scenes", cs_cli_scenes, "generate labelled procedural scenes (the default model's data)"},
};

static void usage(FILE *f) {
    fprintf(f, "usage: cuseg COMMAND [ARGS]   (cuseg COMMAND --help for details)\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; ++i)
        fprintf(f, "  %-8s %s\n", commands[i].name, commands[i].summary);
    fprintf(f, "\ncuseg %s\n", cuseg_version());
}

int main(int argc, char **argv) {
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("cuseg %s\n", cuseg_version());
        return 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; ++i)
        if (strcmp(argv[1], commands[i].name) == 0) return commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "cuseg: unknown command '%s'\n\n", argv[1]);
    usage(stderr);
    return 2;
}
