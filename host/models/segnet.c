/* Placeholder: the segnet family's builders arrive with the model zoo. */
#include "models/zoo.h"

const cs_arch cs_archs_segnet[] = {{0}};
