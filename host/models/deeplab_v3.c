/* Placeholder: the deeplab_v3 family's builders arrive with the model zoo. */
#include "models/zoo.h"

const cs_arch cs_archs_deeplab_v3[] = {{0}};
