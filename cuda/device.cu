/* Device discovery. A machine with the toolkit but no driver or GPU (CI) gets
 * 0 devices, never an error. */
#include "common.cuh"

extern "C" int cs_cuda_device_count(void) {
    int n = 0;
    if (cudaGetDeviceCount(&n) != cudaSuccess) {
        cudaGetLastError(); /* clear the sticky error so later calls start clean */
        return 0;
    }
    return n;
}
