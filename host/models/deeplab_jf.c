/* Placeholder: the jfzhang95-layout DeepLab v3+ builders arrive with the model zoo. */
#include "models/zoo.h"

const cs_arch cs_archs_deeplab_jf[] = {{0}};
