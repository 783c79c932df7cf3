/* Placeholder: the deeplab_v1 family's builders arrive with the model zoo. */
#include "models/zoo.h"

const cs_arch cs_archs_deeplab_v1[] = {{0}};
