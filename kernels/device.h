/* device.h: the runtime helper every kernel in kernels/ shares: is a CUDA
 * device present, what is it called, which path should a dispatcher take, and
 * the kernel module's error codes and thread-local message.
 *
 * kernels/ depends on nothing but libc, libm, OpenMP, CUDA and NCCL, so it
 * cannot use store.h's error functions; its codes are equal in value to
 * store.h's (DSV_EINVAL == DSV_KERNEL_EINVAL, ...) so cmd/ may pass them on
 * unchanged.  The names differ so that both headers can be included together.
 */
#ifndef DSV_KERNELS_DEVICE_H
#define DSV_KERNELS_DEVICE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define DSV_KERNEL_OK 0
#define DSV_KERNEL_EINVAL (-4) /* bad argument (the message says which) */
#define DSV_KERNEL_ENOGPU (-6) /* the CUDA path was asked for, none exists */
#define DSV_KERNEL_ENOMEM (-7) /* a host or device allocation failed */

/* Which path a dispatcher (dsv_minhash, dsv_docstats_basic, ...) takes. */
enum dsv_device_kind {
	DSV_DEVICE_AUTO = 0, /* $DSV_DEVICE if set, else CUDA when present */
	DSV_DEVICE_CPU = 1,
	DSV_DEVICE_CUDA = 2,
};

/* Number of usable CUDA devices; 0 in a build without DSV_HAVE_CUDA, when
 * the driver is missing, or when $DSV_DEVICE is "cpu". Never fails. */
int dsv_device_count(void);

/* The name of device 0 ("NVIDIA H100 80GB HBM3"), or "cpu" when there is no
 * device. The string is static and lives as long as the process. */
const char *dsv_device_name(void);

/* The PCI bus id ("0000:3b:00.0") of the CUDA device this thread uses
 * (device 0 unless cudaSetDevice chose another, as dsv_dp_new does), for
 * NVML, whose device indices ignore CUDA_VISIBLE_DEVICES and CUDA's device
 * order. 0, or DSV_KERNEL_ENOGPU without a device. */
int dsv_device_pci_bus_id(char *buf, size_t len);

/* Seconds during which this process had a data kernel's CUDA call in
 * flight (MinHash, docstats, classifier inference, generation steps;
 * overlapping calls from several threads count once): the GPU seconds a
 * command records for them. 0 without CUDA. */
double dsv_device_busy_seconds(void);

/* Resolves `want` (a dsv_device_kind) to DSV_DEVICE_CPU or DSV_DEVICE_CUDA.
 * AUTO reads $DSV_DEVICE (cpu|cuda|auto; unset means auto) and picks CUDA
 * when a device exists. Returns DSV_KERNEL_ENOGPU when CUDA is asked for
 * (directly or through DSV_DEVICE=cuda) and none exists, DSV_KERNEL_EINVAL
 * for an unknown kind or DSV_DEVICE value. */
int dsv_device_resolve(int want);

/* Parses "cpu", "cuda" or "auto" into a dsv_device_kind; -1 if unknown. */
int dsv_device_parse(const char *s);

/* The check every kernel makes of a batch of documents (text[off[i] ..
 * off[i+1]) for i < ndocs) before any work: offsets and, where there is
 * text, the text are not NULL; offsets never decrease; with max_doc > 0 no
 * document is longer than max_doc bytes. 0, or DSV_KERNEL_EINVAL with a
 * message that starts with `who` ("minhash: bad offsets at document 3"). */
int dsv_check_docs(const char *who, const uint8_t *text, const uint64_t *off,
		   size_t ndocs, uint64_t max_doc);

/* The message of the last failed kernel call on this thread. The string is
 * thread-local and valid until the next failing call on the same thread. */
const char *dsv_kernel_error_last(void);

/* Records a message and returns `code` (for `return dsv_kernel_error(...)`). */
int dsv_kernel_error(int code, const char *fmt, ...)
#ifdef __GNUC__
	__attribute__((format(printf, 2, 3)))
#endif
	;

#ifdef DSV_HAVE_CUDA
/* Implemented in device.cu; for device.c and the kernels' .cu files only. */
int dsv_cuda_device_count_(void);
void dsv_cuda_device_name_(char *buf, size_t len);
int dsv_cuda_pci_bus_id_(char *buf, size_t len);
#endif

#ifdef __cplusplus
}
#endif

#endif
