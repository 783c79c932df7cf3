/* The cuseg command line: one file per subcommand, each a main-like function. */
#ifndef CS_CLI_H
#define CS_CLI_H

#include "cuseg.h"

int cs_cli_info(int argc, char **argv);
int cs_cli_archs(int argc, char **argv);
int cs_cli_eval(int argc, char **argv);
int cs_cli_train(int argc, char **argv);
int cs_cli_scenes(int argc, char **argv);
int cs_cli_segment(int argc, char **argv);
int cs_cli_convert(int argc, char **argv);

struct cs_confusion;
/* Prints the metrics table of `cm` (class names from names_file, one per
 * line, may be NULL) to stdout and, when json is not NULL, writes them as
 * JSON. Returns nonzero when the JSON file cannot be written. */
int cs_cli_report_metrics(const struct cs_confusion *cm, const char *names_file, int images, int failures,
                          const char *json);

/* Builds a graph from MODEL: a model file (*.safetensors, weights loaded) or
 * "ARCH[:OPTIONS]" (zero weights). Prints the error and returns NULL. */
cuseg_graph *cs_cli_open_graph(const char *spec);

#endif
