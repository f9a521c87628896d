/* gpumeter.c: what a command's GPU work cost, for its compute record: the
 * device's energy from NVML (opened with dlopen, so that dsv runs where the
 * driver's library is missing) and the seconds the data kernels kept the
 * device busy (dsv_device_busy_seconds).
 */
#include "cmd/cmd.h"
#include "kernels/device.h"

#include <dlfcn.h>
#include <string.h>

void nvml_start(struct nvml *n)
{
	memset(n, 0, sizeof *n);
	if (!(n->lib = dlopen("libnvidia-ml.so.1", RTLD_NOW | RTLD_LOCAL)))
		return;
	int (*init)(void) = (int (*)(void))dlsym(n->lib, "nvmlInit_v2");
	int (*handle)(unsigned, void **) =
		(int (*)(unsigned, void **))dlsym(n->lib,
						  "nvmlDeviceGetHandleByIndex_v2");
	int (*by_bus)(const char *, void **) =
		(int (*)(const char *, void **))dlsym(n->lib,
			"nvmlDeviceGetHandleByPciBusId_v2");
	n->energy = (int (*)(void *, unsigned long long *))dlsym(
		n->lib, "nvmlDeviceGetTotalEnergyConsumption");
	if (!init || !handle || !n->energy || init() != 0)
		return;
	/* The GPU this process uses, found by its PCI bus id: NVML's index 0
	 * is the first GPU of the machine, whatever CUDA_VISIBLE_DEVICES and
	 * dsv_dp_new chose, and every rank would count that one. */
	char bus[64];
	if (!by_bus || dsv_device_pci_bus_id(bus, sizeof bus) != 0 ||
	    by_bus(bus, &n->dev) != 0) {
		if (handle(0, &n->dev) != 0)
			return;
	}
	if (n->energy(n->dev, &n->start_mj) != 0)
		return;
	n->ok = 1;
}

double nvml_joules(const struct nvml *n)
{
	unsigned long long now;
	if (!n->ok || n->energy(n->dev, &now) != 0 || now < n->start_mj)
		return 0;
	return (double)(now - n->start_mj) / 1000.0;
}

void nvml_stop(struct nvml *n)
{
	if (n->lib) {
		int (*shut)(void) = (int (*)(void))dlsym(n->lib, "nvmlShutdown");
		if (n->ok && shut)
			shut();
		dlclose(n->lib);
	}
	memset(n, 0, sizeof *n);
}

void gpu_meter_start(struct gpu_meter *g)
{
	memset(g, 0, sizeof *g);
	g->busy0 = dsv_device_busy_seconds();
	nvml_start(&g->nvml);
	g->on = 1;
}

void gpu_meter_add(struct gpu_meter *g, dsv_meter *m)
{
	if (!g->on || g->added)
		return;
	g->added = 1;
	double busy = dsv_device_busy_seconds() - g->busy0;
	if (busy <= 0)
		return;
	dsv_meter_add_gpu(m, dsv_device_name(), busy);
	dsv_meter_add_energy(m, nvml_joules(&g->nvml));
}

void gpu_meter_stop(struct gpu_meter *g)
{
	if (g->on)
		nvml_stop(&g->nvml);
	memset(g, 0, sizeof *g);
}
