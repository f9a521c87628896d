/* cuda_shim.c: the CUDA twins, loaded only when they run. The .cu kernels,
 * cuBLAS(Lt), the CUDA runtime and NCCL live in libdsvcuda.so; linking them
 * into dsv would cost every process, GPU or not, half a second and 200 MiB
 * of mapped libraries before main(). Each *_cuda entry point here opens the
 * library on first use and forwards to its namesake there. Where the library
 * or a driver is missing, the device probe reports no device, and dsv takes
 * the CPU path it would take on a machine without a GPU.
 */
#include "kernels/device.h"

#ifdef DSV_HAVE_CUDA

#include <dlfcn.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "kernels/docstats.h"
#include "kernels/generate.h"
#include "kernels/gpt.h"
#include "kernels/minhash.h"
#include "kernels/nccl_dp.h"
#include "kernels/qclass.h"

static void *lib;
static char lib_error[512] = "libdsvcuda.so was not looked for";
static pthread_once_t lib_once = PTHREAD_ONCE_INIT;

static int try_open(const char *path)
{
	lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!lib)
		snprintf(lib_error, sizeof lib_error, "%s", dlerror());
	return lib != NULL;
}

/* $DSV_CUDA_LIB, else beside the executable (./dsv and ./libdsvcuda.so),
 * else one level up (build/tests/kernel_* and build/libdsvcuda.so). */
static void open_lib(void)
{
	const char *env = getenv("DSV_CUDA_LIB");
	char exe[PATH_MAX], path[PATH_MAX + 32];
	ssize_t n;
	if (env && *env) {
		try_open(env);
		return;
	}
	n = readlink("/proc/self/exe", exe, sizeof exe - 1);
	if (n <= 0)
		return;
	exe[n] = '\0';
	char *slash = strrchr(exe, '/');
	if (!slash)
		return;
	*slash = '\0';
	snprintf(path, sizeof path, "%s/libdsvcuda.so", exe);
	if (try_open(path))
		return;
	snprintf(path, sizeof path, "%s/../libdsvcuda.so", exe);
	try_open(path);
}

static void *sym(const char *name)
{
	pthread_once(&lib_once, open_lib);
	return lib ? dlsym(lib, name) : NULL;
}

/* Why sym(name) gave NULL: the library did not open, or it lacks the
 * name (a .cu definition whose parameters drifted from its header is a
 * C++ overload with a mangled name, so only this message shows it). */
static int load_error(const char *name)
{
	if (!lib)
		return dsv_kernel_error(DSV_KERNEL_ENOGPU,
					"cannot load the CUDA kernels: %s",
					lib_error);
	return dsv_kernel_error(DSV_KERNEL_ENOGPU,
				"cannot load the CUDA kernels: '%s' is missing "
				"from libdsvcuda.so",
				name);
}

/* Defines `ret name params` forwarding `args` to the library's `name`;
 * without the library it returns `fail` (after recording why). */
#define FORWARD(ret, name, params, args, fail)                               \
	ret name params                                                      \
	{                                                                    \
		static ret(*fn) params;                                      \
		if (!fn)                                                     \
			fn = (ret(*) params)sym(#name);                      \
		if (!fn) {                                                   \
			load_error(#name);                                   \
			return fail;                                         \
		}                                                            \
		return fn args;                                              \
	}

/* The GPU work of the data kernels, for the compute records of the commands
 * that run them: the time during which at least one of their calls was in
 * flight, so that calls from several threads on one device count once.
 * Each call waits for its results, so that is the time the device was
 * busy for this process, with the transfers. */
static pthread_mutex_t busy_lock = PTHREAD_MUTEX_INITIALIZER;
static int busy_calls;
static double busy_since, busy_total;

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void busy_enter(void)
{
	pthread_mutex_lock(&busy_lock);
	if (busy_calls++ == 0)
		busy_since = now_s();
	pthread_mutex_unlock(&busy_lock);
}

static void busy_leave(void)
{
	pthread_mutex_lock(&busy_lock);
	if (--busy_calls == 0)
		busy_total += now_s() - busy_since;
	pthread_mutex_unlock(&busy_lock);
}

double dsv_device_busy_seconds(void)
{
	pthread_mutex_lock(&busy_lock);
	double s = busy_total + (busy_calls ? now_s() - busy_since : 0.0);
	pthread_mutex_unlock(&busy_lock);
	return s;
}

/* FORWARD for a data kernel: its call counts as device work. */
#define FORWARD_BUSY(name, params, args)                                     \
	int name params                                                      \
	{                                                                    \
		static int(*fn) params;                                      \
		if (!fn)                                                     \
			fn = (int(*) params)sym(#name);                      \
		if (!fn)                                                     \
			return load_error(#name);                            \
		busy_enter();                                                \
		int rc = fn args;                                            \
		busy_leave();                                                \
		return rc;                                                   \
	}

#define FORWARD_VOID(name, params, args)                                     \
	void name params                                                     \
	{                                                                    \
		static void(*fn) params;                                     \
		if (!fn)                                                     \
			fn = (void(*) params)sym(#name);                     \
		if (fn)                                                      \
			fn args;                                             \
	}

/* No driver or no library, no device: the probe answers 0 and everything
 * runs on the CPU. Without the driver's device node there is nothing to
 * find, so the library is not even opened. */
int dsv_cuda_device_count_(void)
{
	int (*fn)(void);
	if (access("/dev/nvidiactl", F_OK) != 0 && !getenv("DSV_CUDA_LIB"))
		return 0;
	fn = (int (*)(void))sym("dsv_cuda_device_count_");
	return fn ? fn() : 0;
}
FORWARD_VOID(dsv_cuda_device_name_, (char *buf, size_t len), (buf, len))
FORWARD(int, dsv_cuda_pci_bus_id_, (char *buf, size_t len), (buf, len), -1)

FORWARD_BUSY(minhash_cuda,
	(const struct dsv_minhash_params *p, const uint8_t *text,
	 const uint64_t *off, size_t ndocs, uint64_t *sig, uint64_t *bands),
	(p, text, off, ndocs, sig, bands))
FORWARD_BUSY(docstats_cuda,
	(const uint8_t *text, const uint64_t *off, size_t ndocs,
	 unsigned groups, struct dsv_docstats *out),
	(text, off, ndocs, groups, out))
FORWARD_BUSY(docstats_basic_cuda,
	(const uint8_t *text, const uint64_t *off, size_t ndocs,
	 struct dsv_docstats_basic *out),
	(text, off, ndocs, out))
FORWARD_BUSY(qclass_predict_cuda,
	(const struct dsv_qclass *m, const uint8_t *text, const uint64_t *off,
	 size_t ndocs, float *probs),
	(m, text, off, ndocs, probs))

FORWARD(int, gpt_new_cuda, (dsv_gpt *m), (m), DSV_KERNEL_ENOGPU)
FORWARD_VOID(gpt_free_cuda, (dsv_gpt *m), (m))
FORWARD(int, gpt_copy_cuda, (dsv_gpt *m, float *host, int which, int to_device),
	(m, host, which, to_device), DSV_KERNEL_ENOGPU)
FORWARD_VOID(gpt_zero_grad_cuda, (dsv_gpt *m), (m))
FORWARD(int, gpt_forward_cuda,
	(dsv_gpt *m, const int *inputs, const int *targets, int B, int T),
	(m, inputs, targets, B, T), DSV_KERNEL_ENOGPU)
FORWARD(int, gpt_backward_cuda, (dsv_gpt *m, float scale), (m, scale),
	DSV_KERNEL_ENOGPU)
FORWARD(int, gpt_update_cuda,
	(dsv_gpt *m, const dsv_gpt_adamw *opt, int step, float *grad_norm),
	(m, opt, step, grad_norm), DSV_KERNEL_ENOGPU)
FORWARD(int, gpt_get_logits_cuda, (const dsv_gpt *m, float *host), (m, host),
	DSV_KERNEL_ENOGPU)
FORWARD(int, gpt_get_losses_cuda, (const dsv_gpt *m, float *host), (m, host),
	DSV_KERNEL_ENOGPU)
FORWARD(double, gpt_gpu_seconds_cuda, (const dsv_gpt *m), (m), 0.0)

FORWARD(int, gen_new_cuda, (dsv_gen *g, const float *params), (g, params),
	DSV_KERNEL_ENOGPU)
FORWARD_VOID(gen_free_cuda, (dsv_gen *g), (g))
FORWARD_BUSY(gen_feed_cuda,
	(dsv_gen *g, const int *tokens, const int *rowseq, const int *rowpos,
	 int nrows, const int *lastrow, float *logits, int *argmax),
	(g, tokens, rowseq, rowpos, nrows, lastrow, logits, argmax))

#ifdef DSV_HAVE_NCCL
FORWARD(int, dsv_dp_available, (void), (), 0)
FORWARD(int, dsv_dp_unique_id, (unsigned char id[DSV_DP_ID_BYTES]), (id),
	DSV_KERNEL_ENOGPU)
FORWARD(int, dsv_dp_new,
	(dsv_dp **out, const unsigned char id[DSV_DP_ID_BYTES], int rank,
	 int world, int local_rank),
	(out, id, rank, world, local_rank), DSV_KERNEL_ENOGPU)
FORWARD(int, dsv_dp_allreduce, (dsv_dp *dp, float *dev, size_t n),
	(dp, dev, n), DSV_KERNEL_ENOGPU)
FORWARD_VOID(dsv_dp_free, (dsv_dp *dp), (dp))
#endif

#else

double dsv_device_busy_seconds(void)
{
	return 0.0;
}

#endif /* DSV_HAVE_CUDA */
