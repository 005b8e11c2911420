/* A stand-in libcuda.so.1 for the test "abi_old_driver": a driver that supports only CUDA 12.4.  The CUDA runtime
 * loads libcuda.so.1, asks it for its entry points through cuGetProcAddress, then for its version, and refuses a
 * driver older than itself with cudaErrorInsufficientDriver, which is what a machine with an old driver gives. */
#include <string.h>

int cuDriverGetVersion(int *version) {
    *version = 12040;
    return 0;
}

int cuInit(unsigned flags) {
    (void)flags;
    return 0;
}

/* Every other entry point is missing (CUDA_ERROR_NOT_FOUND). */
int cuGetProcAddress_v2(const char *symbol, void **fn, int version, unsigned long long flags, int *status) {
    (void)version;
    (void)flags;
    if (status) *status = 0;
    *fn = 0;
    if (!strcmp(symbol, "cuDriverGetVersion")) *fn = (void *)cuDriverGetVersion;
    if (!strcmp(symbol, "cuInit")) *fn = (void *)cuInit;
    if (!strcmp(symbol, "cuGetProcAddress")) *fn = (void *)cuGetProcAddress_v2;
    return *fn ? 0 : 500;
}
