/* The cuseg command line: one file per subcommand, each a main-like function. */
#ifndef CS_CLI_H
#define CS_CLI_H

#include "cuseg.h"

int cs_cli_info(int argc, char **argv);
int cs_cli_archs(int argc, char **argv);
int cs_cli_eval(int argc, char **argv);
int cs_cli_train(int argc, char **argv);
int cs_cli_scenes(int argc, char **argv);

/* Builds a graph from MODEL: a model file (*.safetensors, weights loaded) or
 * "ARCH[:OPTIONS]" (zero weights). Prints the error and returns NULL. */
cuseg_graph *cs_cli_open_graph(const char *spec);

#endif
