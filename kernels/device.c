/* device.c: CUDA device discovery and path selection for the kernels'
 * dispatchers, and the kernel module's thread-local error message.
 * Without DSV_HAVE_CUDA every answer is "no device".
 */
#include "kernels/device.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static _Thread_local char last_msg[512];

int dsv_kernel_error(int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(last_msg, sizeof last_msg, fmt, ap);
	va_end(ap);
	return code;
}

const char *dsv_kernel_error_last(void)
{
	return last_msg[0] ? last_msg : "unknown error";
}

int dsv_device_parse(const char *s)
{
	if (!s || !strcmp(s, "auto") || !*s)
		return DSV_DEVICE_AUTO;
	if (!strcmp(s, "cpu"))
		return DSV_DEVICE_CPU;
	if (!strcmp(s, "cuda") || !strcmp(s, "gpu"))
		return DSV_DEVICE_CUDA;
	return -1;
}

/* The probe runs once: cudaGetDeviceCount costs milliseconds (driver load). */
static pthread_once_t probe_once = PTHREAD_ONCE_INIT;
static int probed_count;
static char probed_name[256] = "cpu";

static void probe(void)
{
#ifdef DSV_HAVE_CUDA
	probed_count = dsv_cuda_device_count_();
	if (probed_count > 0)
		dsv_cuda_device_name_(probed_name, sizeof probed_name);
#endif
}

int dsv_device_count(void)
{
	if (dsv_device_parse(getenv("DSV_DEVICE")) == DSV_DEVICE_CPU)
		return 0;
	pthread_once(&probe_once, probe);
	return probed_count;
}

const char *dsv_device_name(void)
{
	return dsv_device_count() > 0 ? probed_name : "cpu";
}

int dsv_device_pci_bus_id(char *buf, size_t len)
{
#ifdef DSV_HAVE_CUDA
	if (dsv_device_count() > 0 && dsv_cuda_pci_bus_id_(buf, len) == 0)
		return 0;
#endif
	return dsv_kernel_error(DSV_KERNEL_ENOGPU, "no CUDA device");
}

int dsv_device_resolve(int want)
{
	if (want == DSV_DEVICE_AUTO) {
		const char *env = getenv("DSV_DEVICE");
		want = dsv_device_parse(env);
		if (want < 0)
			return dsv_kernel_error(DSV_KERNEL_EINVAL,
						"unknown DSV_DEVICE '%s' (cpu, cuda or auto)",
						env);
		if (want == DSV_DEVICE_AUTO)
			return dsv_device_count() > 0 ? DSV_DEVICE_CUDA
						      : DSV_DEVICE_CPU;
	}
	if (want == DSV_DEVICE_CPU)
		return DSV_DEVICE_CPU;
	if (want != DSV_DEVICE_CUDA)
		return dsv_kernel_error(DSV_KERNEL_EINVAL, "unknown device kind %d",
					want);
	pthread_once(&probe_once, probe);
	if (probed_count <= 0)
		return dsv_kernel_error(DSV_KERNEL_ENOGPU,
#ifdef DSV_HAVE_CUDA
					"no CUDA device found"
#else
					"this build has no CUDA support"
#endif
		);
	return DSV_DEVICE_CUDA;
}

int dsv_check_docs(const char *who, const uint8_t *text, const uint64_t *off,
		   size_t ndocs, uint64_t max_doc)
{
	if (ndocs && (!off || (!text && off[ndocs] > off[0])))
		return dsv_kernel_error(DSV_KERNEL_EINVAL,
					"%s: null text or offsets", who);
	for (size_t i = 0; i < ndocs; i++)
		if (off[i + 1] < off[i] ||
		    (max_doc && off[i + 1] - off[i] > max_doc))
			return dsv_kernel_error(DSV_KERNEL_EINVAL,
						"%s: bad offsets at document %zu",
						who, i);
	return 0;
}
