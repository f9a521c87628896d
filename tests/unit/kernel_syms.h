/* kernel_syms.h: checks, without a GPU, that libdsvcuda.so defines the
 * entry points kernels/cuda_shim.c forwards to. Shall only be included by
 * tests/unit/kernel_*.c.
 *
 * The shim finds them with dlsym, so a .cu definition whose parameters
 * drifted from its header (a C++ overload with a mangled name, not the
 * extern "C" function) would only show as "no GPU" at run time. A
 * conflicting extern "C" definition does not compile, so a name that
 * resolves has the header's signature.
 */
#ifndef DSV_TEST_KERNEL_SYMS_H
#define DSV_TEST_KERNEL_SYMS_H

#ifdef DSV_HAVE_CUDA
#include <dlfcn.h>
#include <limits.h>
#include <unistd.h>
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Opens the library where the shim looks ($DSV_CUDA_LIB, beside the
 * binary, one level up) and looks up each of names[0..n). Returns how many
 * are missing (printing them; all of them when the library is there but
 * does not load), or -1 when there is no library to check. */
static inline int kernel_syms_missing(const char *const *names, size_t n)
{
#ifdef DSV_HAVE_CUDA
	const char *env = getenv("DSV_CUDA_LIB");
	char exe[PATH_MAX], path[PATH_MAX + 32];
	void *lib = NULL;
	int missing = 0;
	if (env && *env) {
		lib = dlopen(env, RTLD_NOW | RTLD_LOCAL);
	} else {
		ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
		char *slash;
		if (len <= 0)
			return -1;
		exe[len] = '\0';
		if (!(slash = strrchr(exe, '/')))
			return -1;
		*slash = '\0';
		snprintf(path, sizeof path, "%s/libdsvcuda.so", exe);
		if (!(lib = dlopen(path, RTLD_NOW | RTLD_LOCAL))) {
			snprintf(path, sizeof path, "%s/../libdsvcuda.so", exe);
			lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
		}
	}
	if (!lib) {
		/* No file: a build without the library. A file that does not
		 * load (an undefined symbol the binary should export) is what
		 * the shim would meet too. */
		const char *why = dlerror();
		printf("  libdsvcuda.so not loadable: %s\n", why);
		return why && !strstr(why, "No such file") ? (int)n : -1;
	}
	for (size_t i = 0; i < n; i++)
		if (!dlsym(lib, names[i])) {
			printf("  libdsvcuda.so lacks '%s'\n", names[i]);
			missing++;
		}
	/* Not closed, like the shim's handle: unloading cuBLAS strands what
	 * its initialisers allocated. (Under SANITIZE with nvcc present,
	 * LeakSanitizer also reported those when this was the library's first
	 * opening after OpenMP work; the callers check before such work or
	 * after the shim has opened the library. CI builds without nvcc.) */
	return missing;
#else
	(void)names;
	(void)n;
	return -1;
#endif
}

/* RUNs as test_<what>_cuda_symbols: PASS when every name resolves, SKIP
 * when there is no library. */
#define CHECK_CUDA_SYMBOLS(...)                                              \
	do {                                                                 \
		static const char *const names_[] = {__VA_ARGS__};           \
		int missing_ = kernel_syms_missing(                          \
			names_, sizeof names_ / sizeof names_[0]);           \
		if (missing_ < 0)                                            \
			printf("  no libdsvcuda.so in this build: nothing "  \
			       "to check\n");                                \
		CHECK(missing_ <= 0);                                        \
	} while (0)

#endif
