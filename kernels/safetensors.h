/* safetensors.h: the safetensors file format (Hugging Face), written and
 * read in plain C: an 8-byte little-endian header length, a JSON header
 * naming each tensor's dtype, shape and data_offsets (plus an optional
 * "__metadata__" object of string values), then the raw little-endian
 * tensor bytes. dsv stores model weights and training checkpoints this way
 * so PyTorch and Hugging Face tools load them as they are (docs/formats.md,
 * "Weights (type 6)"). libc only, like everything in kernels/.
 *
 * Errors: 0 or DSV_KERNEL_EINVAL / DSV_KERNEL_ENOMEM (kernels/device.h),
 * with the message in dsv_kernel_error_last().
 */
#ifndef DSV_KERNELS_SAFETENSORS_H
#define DSV_KERNELS_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
	DSV_ST_F32 = 0,
	DSV_ST_F16,
	DSV_ST_BF16,
	DSV_ST_F64,
	DSV_ST_I64,
	DSV_ST_I32,
	DSV_ST_I16,
	DSV_ST_I8,
	DSV_ST_U8,
	DSV_ST_BOOL,
	DSV_ST_NDTYPES
} dsv_st_dtype;

#define DSV_ST_MAX_DIMS 8
#define DSV_ST_NAME_MAX 256
/* The largest header the reader accepts (the Rust library's limit). */
#define DSV_ST_MAX_HEADER (100u << 20)

/* "F32", "BF16", ...; NULL out of range. */
const char *dsv_st_dtype_name(dsv_st_dtype t);
/* Bytes per element. */
size_t dsv_st_dtype_size(dsv_st_dtype t);

/* One tensor: for the writer, `data` points at its bytes (borrowed for the
 * call); from the reader, it points into the parsed buffer. */
typedef struct {
	char name[DSV_ST_NAME_MAX];
	dsv_st_dtype dtype;
	int ndim;                       /* 0 (a scalar) .. DSV_ST_MAX_DIMS */
	uint64_t shape[DSV_ST_MAX_DIMS];
	uint64_t begin, end;            /* data_offsets, relative to the data */
	const void *data;
} dsv_st_tensor;

/* Bytes of a tensor (product of its shape times the dtype size); 0 on
 * overflow. */
uint64_t dsv_st_nbytes(const dsv_st_tensor *t);

/* Writes a safetensors file into a malloc'd buffer (*out, *len; the caller
 * frees it). Tensors are laid out in the order given, back to back; their
 * begin/end are ignored and computed. `meta` holds nmeta key/value pairs
 * (meta[2i] the key, meta[2i+1] the value) for "__metadata__" (omitted when
 * nmeta is 0). The header is padded with spaces to a multiple of 8 bytes.
 * The same inputs always give the same bytes. Names must be unique and
 * not "__metadata__". */
int dsv_st_write(uint8_t **out, size_t *len, const dsv_st_tensor *t, size_t n,
		 const char *const *meta, size_t nmeta);

/* A parsed file. Borrows the buffer handed to dsv_st_parse, which must
 * outlive it. */
typedef struct {
	size_t ntensors;
	dsv_st_tensor *tensors; /* in header order */
	size_t nmeta;
	char **meta;            /* 2*nmeta strings: key, value, ... */
	const uint8_t *data;    /* start of the data section */
	uint64_t data_len;
} dsv_st_file;

/* Parses and checks a safetensors file: header length within the buffer,
 * JSON well-formed (strict: no trailing commas, duplicate names refused),
 * known dtypes, shapes whose byte size equals end - begin, tensors that
 * cover the data section exactly without overlap (as the Python library
 * demands). Anything else is DSV_KERNEL_EINVAL saying what. */
int dsv_st_parse(dsv_st_file **out, const uint8_t *buf, size_t len);
void dsv_st_free(dsv_st_file *f);
/* The tensor called `name`, or NULL. */
const dsv_st_tensor *dsv_st_find(const dsv_st_file *f, const char *name);
/* The metadata value for `key` (borrowed), or NULL. */
const char *dsv_st_meta(const dsv_st_file *f, const char *key);

#ifdef __cplusplus
}
#endif
#endif
