/* Placeholder: the fcn family's builders arrive with the model zoo. */
#include "models/zoo.h"

const cs_arch cs_archs_fcn[] = {{0}};
