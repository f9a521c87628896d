/* device.cu: the CUDA side of kernels/device.c: counts devices, names
 * device 0 and gives the current device's PCI bus id. A missing driver or device reads as zero devices, not an error.
 */
#include <cuda_runtime.h>
#include <stdio.h>

#include "kernels/device.h"

extern "C" int dsv_cuda_device_count_(void)
{
	int n = 0;
	if (cudaGetDeviceCount(&n) != cudaSuccess) {
		cudaGetLastError(); /* clear the sticky "no device" error */
		return 0;
	}
	return n;
}

extern "C" void dsv_cuda_device_name_(char *buf, size_t len)
{
	cudaDeviceProp prop;
	if (cudaGetDeviceProperties(&prop, 0) != cudaSuccess) {
		snprintf(buf, len, "cuda device 0");
		return;
	}
	snprintf(buf, len, "%s", prop.name);
}

extern "C" int dsv_cuda_pci_bus_id_(char *buf, size_t len)
{
	int d;
	if (len > 64)
		len = 64;
	if (cudaGetDevice(&d) != cudaSuccess ||
	    cudaDeviceGetPCIBusId(buf, (int)len, d) != cudaSuccess) {
		cudaGetLastError();
		return -1;
	}
	return 0;
}
