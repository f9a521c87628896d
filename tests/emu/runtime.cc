/* runtime.cc: the host side of dsv's CUDA emulation. The launcher and
 * scheduler behind tests/emu/emu.hh (a block's threads are ucontext fibers),
 * and a CPU stand-in for the parts of the CUDA runtime, cuBLAS and
 * cuBLASLt that kernels/ .cu files call, with the real headers' signatures:
 * device memory is host memory, a copy is memcpy, a GEMM is a loop in
 * float over bf16 or fp32 operands. Linked with the translated .cu files
 * into build/libdsvcuda-emu.so, which DSV_CUDA_LIB points the tests at.
 */
#include "tests/emu/emu.hh"

#include <cublasLt.h>
#include <cublas_v2.h>

#include <stdarg.h>
#include <time.h>
#include <ucontext.h>

#include <map>
#include <vector>

/* ---- fibers and launches ---- */

namespace emu {

thread_ctx *cur;
dim3 block_dim, grid_dim;

enum state { RUNNABLE, AT_BLOCK, AT_WARP, DONE };

struct fiber {
	ucontext_t ctx;
	thread_ctx t;
	state st;
};

static ucontext_t sched;
static std::vector<fiber> fibers;
static std::vector<char> stacks;
static std::vector<unsigned char> xchg;
static std::vector<unsigned char> smem_buf;
static unsigned char *smem_base;
static fiber *running;
static void (*body_fn)(void *);
static void *body_arg;
static std::map<const void *, int> smem_limit; /* cudaFuncSetAttribute */
/* Kernels whose first launch never waited at a barrier run their threads
 * one after another as plain calls from then on: a fiber switch costs a
 * system call (the signal mask), and most kernels are elementwise. */
static std::map<const void *, bool> barrier_free;
static bool waited;
static cudaError_t last_error = cudaSuccess;
/* DSV_EMU_ORDER=reverse: the blocks of a grid run last first, and within
 * a block the warps and lanes too (run_block). A kernel missing a barrier
 * gets the right answer under one schedule at most, so the tests run
 * under both: the emulation's race check. */
static bool reverse_order;

enum { STACK = 256 << 10 };

void fail(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "cuda emulation: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	abort();
}

static void wait(state s)
{
	if (!running)
		fail("a kernel that never waited at a barrier on its first launch "
		     "does on a later one: the emulation cannot run it");
	waited = true;
	running->st = s;
	swapcontext(&running->ctx, &sched);
}

void sync_block() { wait(AT_BLOCK); }
void sync_warp() { wait(AT_WARP); }
/* a fiber's slot parity lives in its thread_ctx */
void *xchg_slot() { return &xchg[(2 * linear_tid() + cur->parity) * XCHG_BYTES]; }
const void *xchg_lane(unsigned lane)
{
	return &xchg[(2 * (linear_tid() / 32 * 32 + lane) + cur->parity) * XCHG_BYTES];
}
void xchg_flip() { cur->parity ^= 1; }
unsigned char *dyn_smem() { return smem_base; }

static void fiber_main()
{
	body_fn(body_arg);
	running->st = DONE;
	/* uc_link returns to the scheduler */
}

/* Releases the threads from .. to - 1 waiting at a barrier (AT_BLOCK for
 * __syncthreads, AT_WARP for a warp-level collective) once all of them
 * are there; those that exited do not count, as on the hardware. */
static bool release(size_t from, size_t to, state s)
{
	size_t live = 0, at = 0;
	for (size_t i = from; i < to; i++) {
		live += fibers[i].st != DONE;
		at += fibers[i].st == s;
	}
	if (!at || at != live)
		return false;
	for (size_t i = from; i < to; i++)
		if (fibers[i].st == s)
			fibers[i].st = RUNNABLE;
	return true;
}

static bool release_warp(size_t w, size_t n)
{
	return release(w, w + 32 < n ? w + 32 : n, AT_WARP);
}

/* The index of the i-th thread of a block (or block of a grid) of shape d */
static uint3 unflatten(size_t i, dim3 d)
{
	return make_uint3((unsigned)(i % d.x), (unsigned)(i / d.x % d.y),
			  (unsigned)(i / ((size_t)d.x * d.y)));
}

/* Thread i of the block, ready to start. Out of line: getcontext returns
 * twice, which no caller's loop should see. */
static __attribute__((noinline)) void fiber_init(size_t i, uint3 bid, dim3 block)
{
	fiber &f = fibers[i];
	f.t.bid = bid;
	f.t.parity = 0;
	f.t.tid = unflatten(i, block);
	f.st = RUNNABLE;
	getcontext(&f.ctx);
	f.ctx.uc_stack.ss_sp = stacks.data() + i * STACK;
	f.ctx.uc_stack.ss_size = STACK;
	f.ctx.uc_link = &sched;
	makecontext(&f.ctx, fiber_main, 0);
}

/* Runs the lanes w .. w + 31 of the block that can run, each until it
 * waits or exits; true when any ran. */
static bool run_warp(size_t w, size_t n)
{
	size_t e = w + 32 < n ? w + 32 : n;
	bool ran = false;
	for (size_t k = w; k < e; k++) {
		size_t i = reverse_order ? e - 1 - (k - w) : k;
		if (fibers[i].st == RUNNABLE) {
			running = &fibers[i];
			cur = &fibers[i].t;
			swapcontext(&sched, &fibers[i].ctx);
			ran = true;
		}
	}
	return ran;
}

/* In order, the warps take turns from one warp-level collective to the
 * next. In reverse, each warp runs alone up to the next __syncthreads,
 * the last warp first, so that a warp runs ahead of the others as far
 * as the hardware lets it. */
static void run_block(uint3 bid, dim3 block)
{
	size_t n = (size_t)block.x * block.y * block.z;
	size_t nwarps = (n + 31) / 32;
	for (size_t i = 0; i < n; i++)
		fiber_init(i, bid, block);
	for (;;) {
		bool ran = false;
		for (size_t k = 0; k < nwarps; k++) {
			size_t w = 32 * (reverse_order ? nwarps - 1 - k : k);
			ran |= run_warp(w, n);
			while (reverse_order && release_warp(w, n))
				run_warp(w, n);
		}
		size_t done = 0;
		for (size_t i = 0; i < n; i++)
			done += fibers[i].st == DONE;
		if (done == n)
			break;
		bool released = release(0, n, AT_BLOCK);
		for (size_t w = 0; w < n; w += 32)
			released |= release_warp(w, n);
		if (!released && !ran)
			fail("block (%u, %u): threads wait at a barrier that the "
			     "others never reach", bid.x, bid.y);
	}
	running = NULL;
	cur = NULL;
}

static void run_direct(uint3 bid, dim3 block)
{
	thread_ctx t;
	t.bid = bid;
	t.parity = 0;
	cur = &t;
	size_t n = (size_t)block.x * block.y * block.z;
	for (size_t k = 0; k < n; k++) {
		t.tid = unflatten(reverse_order ? n - 1 - k : k, block);
		body_fn(body_arg);
	}
	cur = NULL;
}

void launch(const void *kernel, dim3 grid, dim3 block, size_t smem,
	    void (*body)(void *), void *arg)
{
	size_t n = (size_t)block.x * block.y * block.z;
	auto lim = smem_limit.find(kernel);
	size_t max_smem = lim == smem_limit.end() ? 48 << 10 : (size_t)lim->second;
	if (n == 0 || n > 1024 || block.z > 64 || grid.y > 65535 || grid.z > 65535 ||
	    grid.x == 0 || grid.y == 0 || grid.z == 0) {
		last_error = cudaErrorInvalidConfiguration;
		return;
	}
	if (smem > max_smem) {
		last_error = cudaErrorInvalidValue;
		return;
	}
	grid_dim = grid;
	block_dim = block;
	body_fn = body;
	body_arg = arg;
	if (fibers.size() < n) {
		fibers.resize(n);
		stacks.resize(n * STACK);
	}
	xchg.assign(2 * n * XCHG_BYTES, 0);
	smem_buf.resize(smem + 128);
	smem_base = smem_buf.data() + (128 - (uintptr_t)smem_buf.data() % 128) % 128;
	bool direct = barrier_free.count(kernel) && barrier_free[kernel];
	const char *order = getenv("DSV_EMU_ORDER");
	reverse_order = order && !strcmp(order, "reverse");
	waited = false;
	size_t nblocks = (size_t)grid.x * grid.y * grid.z;
	for (size_t k = 0; k < nblocks; k++) {
		uint3 bid = unflatten(reverse_order ? nblocks - 1 - k : k, grid);
		/* shared memory starts as garbage, as it does */
		memset(smem_buf.data(), 0xa5, smem_buf.size());
		if (direct)
			run_direct(bid, block);
		else
			run_block(bid, block);
	}
	barrier_free[kernel] = !waited;
}

} /* namespace emu */

/* ---- the CUDA runtime ---- */

extern "C" float rsqrtf(float x)
{
	return 1.0f / sqrtf(x);
}

static double now_ms()
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

extern "C" {

/* One emulated device per entry of CUDA_VISIBLE_DEVICES (one when it is
 * unset), each with the bus id of its entry, so that ranks given devices
 * of their own tell them apart. They all share this process's memory. */
static int ndevices(int *ids)
{
	const char *v = getenv("CUDA_VISIBLE_DEVICES");
	int n = 0;
	if (!v || !*v) {
		ids[0] = 0;
		return 1;
	}
	for (const char *p = v; *p && n < 64; n++) {
		ids[n] = atoi(p);
		p += strcspn(p, ",");
		p += *p == ',';
	}
	return n;
}

static int current_device;

cudaError_t cudaGetDeviceCount(int *n)
{
	int ids[64];
	*n = ndevices(ids);
	return cudaSuccess;
}

cudaError_t cudaGetDevice(int *d)
{
	*d = current_device;
	return cudaSuccess;
}

cudaError_t cudaSetDevice(int d)
{
	int ids[64];
	if (d < 0 || d >= ndevices(ids))
		return emu::last_error = cudaErrorInvalidDevice;
	current_device = d;
	return cudaSuccess;
}

cudaError_t cudaGetDeviceProperties(struct cudaDeviceProp *p, int d)
{
	int ids[64];
	if (d < 0 || d >= ndevices(ids))
		return cudaErrorInvalidDevice;
	memset(p, 0, sizeof *p);
	snprintf(p->name, sizeof p->name, "CUDA emulation on the CPU");
	p->major = 9;
	p->multiProcessorCount = 1;
	p->sharedMemPerBlockOptin = 227 << 10;
	return cudaSuccess;
}

cudaError_t cudaDeviceGetPCIBusId(char *buf, int len, int d)
{
	int ids[64];
	if (d < 0 || d >= ndevices(ids))
		return cudaErrorInvalidDevice;
	snprintf(buf, (size_t)len, "0000:%02x:00.0", ids[d] & 0xff);
	return cudaSuccess;
}

cudaError_t cudaDeviceSynchronize(void) { return cudaSuccess; }

cudaError_t cudaGetLastError(void)
{
	cudaError_t e = emu::last_error;
	emu::last_error = cudaSuccess;
	return e;
}

cudaError_t cudaPeekAtLastError(void) { return emu::last_error; }

const char *cudaGetErrorString(cudaError_t e)
{
	switch (e) {
	case cudaSuccess: return "no error";
	case cudaErrorMemoryAllocation: return "out of memory";
	case cudaErrorInvalidValue: return "invalid argument";
	case cudaErrorInvalidConfiguration: return "invalid configuration argument";
	case cudaErrorInvalidDevice: return "invalid device ordinal";
	default: return "emulated CUDA error";
	}
}

cudaError_t cudaMalloc(void **p, size_t n)
{
	*p = aligned_alloc(256, (n + 255) / 256 * 256);
	if (!*p)
		return emu::last_error = cudaErrorMemoryAllocation;
	memset(*p, 0xa5, n); /* device memory starts as garbage */
	return cudaSuccess;
}

cudaError_t cudaFree(void *p)
{
	free(p);
	return cudaSuccess;
}

cudaError_t cudaMemGetInfo(size_t *free_b, size_t *total_b)
{
	*free_b = *total_b = (size_t)16 << 30;
	return cudaSuccess;
}

cudaError_t cudaMemcpy(void *dst, const void *src, size_t n, enum cudaMemcpyKind)
{
	memmove(dst, src, n);
	return cudaSuccess;
}

cudaError_t cudaMemcpy2D(void *dst, size_t dpitch, const void *src, size_t spitch,
			 size_t width, size_t height, enum cudaMemcpyKind)
{
	if (width > dpitch || width > spitch)
		return cudaErrorInvalidValue;
	for (size_t r = 0; r < height; r++)
		memmove((char *)dst + r * dpitch, (const char *)src + r * spitch, width);
	return cudaSuccess;
}

cudaError_t cudaMemset(void *p, int v, size_t n)
{
	memset(p, v, n);
	return cudaSuccess;
}

cudaError_t cudaMemcpyToSymbol(const void *symbol, const void *src, size_t n,
			       size_t offset, enum cudaMemcpyKind)
{
	memcpy((char *)symbol + offset, src, n);
	return cudaSuccess;
}

cudaError_t cudaFuncSetAttribute(const void *func, enum cudaFuncAttribute attr, int value)
{
	if (attr == cudaFuncAttributeMaxDynamicSharedMemorySize) {
		if (value < 0 || value > 227 << 10)
			return cudaErrorInvalidValue;
		emu::smem_limit[func] = value;
	}
	return cudaSuccess;
}

struct CUstream_st {
	int unused;
};

cudaError_t cudaStreamCreate(cudaStream_t *s)
{
	*s = new CUstream_st();
	return cudaSuccess;
}

cudaError_t cudaStreamDestroy(cudaStream_t s)
{
	delete s;
	return cudaSuccess;
}

cudaError_t cudaStreamSynchronize(cudaStream_t) { return cudaSuccess; }

struct CUevent_st {
	double ms;
};

cudaError_t cudaEventCreate(cudaEvent_t *e)
{
	*e = new CUevent_st{0.0};
	return cudaSuccess;
}

cudaError_t cudaEventDestroy(cudaEvent_t e)
{
	delete e;
	return cudaSuccess;
}

cudaError_t cudaEventRecord(cudaEvent_t e, cudaStream_t)
{
	e->ms = now_ms();
	return cudaSuccess;
}

cudaError_t cudaEventSynchronize(cudaEvent_t) { return cudaSuccess; }

cudaError_t cudaEventElapsedTime(float *ms, cudaEvent_t a, cudaEvent_t b)
{
	*ms = (float)(b->ms - a->ms);
	return cudaSuccess;
}

} /* extern "C" */

/* ---- cuBLAS and cuBLASLt: column-major GEMMs in float ---- */

/* element (r, c) of op(X), X column-major with leading dimension ld */
template <class T> static inline float at(const T *x, int trans, int64_t ld, int64_t r, int64_t c)
{
	const T &v = trans ? x[r * ld + c] : x[c * ld + r];
	if constexpr (std::is_same<T, __nv_bfloat16>::value)
		return __bfloat162float(v);
	else
		return v;
}

/* D[m][n] = alpha op(A) op(B) + beta C (+ bias[r]), column-major */
template <class T>
static void gemm(int ta, int tb, int64_t m, int64_t n, int64_t k, float alpha,
		 const T *A, int64_t lda, const T *B, int64_t ldb, float beta,
		 const float *C, int64_t ldc, float *D, int64_t ldd, const float *bias)
{
	for (int64_t c = 0; c < n; c++)
		for (int64_t r = 0; r < m; r++) {
			float s = 0.0f;
			for (int64_t i = 0; i < k; i++)
				s += at(A, ta, lda, r, i) * at(B, tb, ldb, i, c);
			float v = alpha * s;
			if (beta != 0.0f)
				v += beta * C[c * ldc + r];
			if (bias)
				v += bias[r];
			D[c * ldd + r] = v;
		}
}

struct cublasContext {
	int unused;
};
struct cublasLtContext {
	int unused;
};

/* what the opaque descriptors hold here */
struct lt_desc {
	int ta, tb;
	cublasLtEpilogue_t epi;
	const float *bias;
};
struct lt_layout {
	cudaDataType type;
	uint64_t rows, cols;
	int64_t ld;
};
static_assert(sizeof(lt_desc) <= sizeof(cublasLtMatmulDescOpaque_t), "desc");
static_assert(sizeof(lt_layout) <= sizeof(cublasLtMatrixLayoutOpaque_t), "layout");

extern "C" {

cublasStatus_t cublasCreate_v2(cublasHandle_t *h)
{
	*h = new cublasContext();
	return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasDestroy_v2(cublasHandle_t h)
{
	delete h;
	return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasSetMathMode(cublasHandle_t, cublasMath_t) { return CUBLAS_STATUS_SUCCESS; }

const char *cublasGetStatusString(cublasStatus_t s)
{
	return s == CUBLAS_STATUS_SUCCESS ? "CUBLAS_STATUS_SUCCESS" : "CUBLAS_STATUS_EMULATED_ERROR";
}

cublasStatus_t cublasSgemm_v2(cublasHandle_t, cublasOperation_t ta, cublasOperation_t tb,
			      int m, int n, int k, const float *alpha, const float *A,
			      int lda, const float *B, int ldb, const float *beta,
			      float *C, int ldc)
{
	gemm<float>(ta != CUBLAS_OP_N, tb != CUBLAS_OP_N, m, n, k, *alpha, A, lda, B,
		    ldb, *beta, C, ldc, C, ldc, NULL);
	return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasSgemmStridedBatched(cublasHandle_t, cublasOperation_t ta,
					 cublasOperation_t tb, int m, int n, int k,
					 const float *alpha, const float *A, int lda,
					 long long sA, const float *B, int ldb, long long sB,
					 const float *beta, float *C, int ldc, long long sC,
					 int batch)
{
	for (int i = 0; i < batch; i++)
		gemm<float>(ta != CUBLAS_OP_N, tb != CUBLAS_OP_N, m, n, k, *alpha,
			    A + i * sA, lda, B + i * sB, ldb, *beta, C + i * sC, ldc,
			    C + i * sC, ldc, NULL);
	return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasLtCreate(cublasLtHandle_t *h)
{
	*h = new cublasLtContext();
	return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasLtDestroy(cublasLtHandle_t h)
{
	delete h;
	return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasLtMatmulDescCreate(cublasLtMatmulDesc_t *d, cublasComputeType_t ct,
					cudaDataType_t scale)
{
	if (ct != CUBLAS_COMPUTE_32F || scale != CUDA_R_32F)
		return CUBLAS_STATUS_NOT_SUPPORTED;
	*d = new cublasLtMatmulDescOpaque_t();
	*(lt_desc *)*d = lt_desc{0, 0, CUBLASLT_EPILOGUE_DEFAULT, NULL};
	return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasLtMatmulDescDestroy(cublasLtMatmulDesc_t d)
{
	delete d;
	return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasLtMatmulDescSetAttribute(cublasLtMatmulDesc_t d,
					      cublasLtMatmulDescAttributes_t attr,
					      const void *buf, size_t size)
{
	lt_desc *x = (lt_desc *)d;
	switch (attr) {
	case CUBLASLT_MATMUL_DESC_TRANSA:
	case CUBLASLT_MATMUL_DESC_TRANSB: {
		cublasOperation_t op;
		if (size != sizeof op)
			return CUBLAS_STATUS_INVALID_VALUE;
		memcpy(&op, buf, sizeof op);
		(attr == CUBLASLT_MATMUL_DESC_TRANSA ? x->ta : x->tb) = op != CUBLAS_OP_N;
		return CUBLAS_STATUS_SUCCESS;
	}
	case CUBLASLT_MATMUL_DESC_EPILOGUE:
		if (size != sizeof x->epi)
			return CUBLAS_STATUS_INVALID_VALUE;
		memcpy(&x->epi, buf, size);
		return x->epi == CUBLASLT_EPILOGUE_DEFAULT || x->epi == CUBLASLT_EPILOGUE_BIAS
			       ? CUBLAS_STATUS_SUCCESS
			       : CUBLAS_STATUS_NOT_SUPPORTED;
	case CUBLASLT_MATMUL_DESC_BIAS_POINTER:
		if (size != sizeof x->bias)
			return CUBLAS_STATUS_INVALID_VALUE;
		memcpy(&x->bias, buf, size);
		return CUBLAS_STATUS_SUCCESS;
	default:
		return CUBLAS_STATUS_NOT_SUPPORTED;
	}
}

cublasStatus_t cublasLtMatrixLayoutCreate(cublasLtMatrixLayout_t *l, cudaDataType type,
					  uint64_t rows, uint64_t cols, int64_t ld)
{
	if ((type != CUDA_R_32F && type != CUDA_R_16BF) || ld < (int64_t)rows)
		return CUBLAS_STATUS_INVALID_VALUE;
	*l = new cublasLtMatrixLayoutOpaque_t();
	*(lt_layout *)*l = lt_layout{type, rows, cols, ld};
	return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasLtMatrixLayoutDestroy(cublasLtMatrixLayout_t l)
{
	delete l;
	return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasLtMatmulPreferenceCreate(cublasLtMatmulPreference_t *p)
{
	*p = new cublasLtMatmulPreferenceOpaque_t();
	return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasLtMatmulPreferenceDestroy(cublasLtMatmulPreference_t p)
{
	delete p;
	return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasLtMatmulPreferenceSetAttribute(cublasLtMatmulPreference_t,
						    cublasLtMatmulPreferenceAttributes_t,
						    const void *, size_t)
{
	return CUBLAS_STATUS_SUCCESS;
}

/* The shapes must agree as cuBLASLt checks them: op(A) m x k, op(B) k x n,
 * C and D m x n; A and B of one type. */
static bool lt_shapes(const lt_desc *d, const lt_layout *a, const lt_layout *b,
		      const lt_layout *c, const lt_layout *D)
{
	uint64_t m = D->rows, n = D->cols;
	uint64_t am = d->ta ? a->cols : a->rows, ak = d->ta ? a->rows : a->cols;
	uint64_t bk = d->tb ? b->cols : b->rows, bn = d->tb ? b->rows : b->cols;
	return am == m && bn == n && ak == bk && c->rows == m && c->cols == n &&
	       a->type == b->type && c->type == CUDA_R_32F && D->type == CUDA_R_32F;
}

cublasStatus_t cublasLtMatmulAlgoGetHeuristic(cublasLtHandle_t, cublasLtMatmulDesc_t op,
					      cublasLtMatrixLayout_t a, cublasLtMatrixLayout_t b,
					      cublasLtMatrixLayout_t c, cublasLtMatrixLayout_t d,
					      cublasLtMatmulPreference_t, int want,
					      cublasLtMatmulHeuristicResult_t res[], int *got)
{
	if (!lt_shapes((lt_desc *)op, (lt_layout *)a, (lt_layout *)b, (lt_layout *)c,
		       (lt_layout *)d))
		return CUBLAS_STATUS_INVALID_VALUE;
	*got = want > 0;
	if (want > 0) {
		memset(&res[0], 0, sizeof res[0]);
		res[0].state = CUBLAS_STATUS_SUCCESS;
		res[0].wavesCount = 1.0f;
	}
	return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasLtMatmul(cublasLtHandle_t, cublasLtMatmulDesc_t op, const void *alpha,
			      const void *A, cublasLtMatrixLayout_t al, const void *B,
			      cublasLtMatrixLayout_t bl, const void *beta, const void *C,
			      cublasLtMatrixLayout_t cl, void *D, cublasLtMatrixLayout_t dl,
			      const cublasLtMatmulAlgo_t *, void *, size_t, cudaStream_t)
{
	const lt_desc *d = (const lt_desc *)op;
	const lt_layout *a = (lt_layout *)al, *b = (lt_layout *)bl, *c = (lt_layout *)cl;
	const lt_layout *dd = (lt_layout *)dl;
	if (!lt_shapes(d, a, b, c, dd))
		return CUBLAS_STATUS_INVALID_VALUE;
	const float *bias = d->epi == CUBLASLT_EPILOGUE_BIAS ? d->bias : NULL;
	if (d->epi == CUBLASLT_EPILOGUE_BIAS && !bias)
		return CUBLAS_STATUS_INVALID_VALUE;
	/* C == D in place is allowed only with identical layouts */
	int64_t m = dd->rows, n = dd->cols, k = d->ta ? a->rows : a->cols;
	float al_ = *(const float *)alpha, be = *(const float *)beta;
	if (a->type == CUDA_R_16BF)
		gemm<__nv_bfloat16>(d->ta, d->tb, m, n, k, al_, (const __nv_bfloat16 *)A,
				    a->ld, (const __nv_bfloat16 *)B, b->ld, be,
				    (const float *)C, c->ld, (float *)D, dd->ld, bias);
	else
		gemm<float>(d->ta, d->tb, m, n, k, al_, (const float *)A, a->ld,
			    (const float *)B, b->ld, be, (const float *)C, c->ld,
			    (float *)D, dd->ld, bias);
	return CUBLAS_STATUS_SUCCESS;
}

} /* extern "C" */

/* ---- NCCL, over MPI: each rank is a process, its "device" memory its
 * own, so an all-reduce is MPI_Allreduce (kernels/nccl_dp.c's calls) ---- */

#ifdef DSV_EMU_NCCL
#include <limits.h>
#define OMPI_SKIP_MPICXX 1 /* MPI's C API only */
#define MPICH_SKIP_MPICXX 1
#include <mpi.h>
#include <nccl.h>

struct ncclComm {
	int rank, world;
};

extern "C" {

const char *ncclGetErrorString(ncclResult_t r)
{
	return r == ncclSuccess ? "no error" : "emulated NCCL error";
}

ncclResult_t ncclGetUniqueId(ncclUniqueId *id)
{
	memset(id, 0, sizeof *id);
	return ncclSuccess;
}

ncclResult_t ncclCommInitRank(ncclComm_t *c, int world, ncclUniqueId, int rank)
{
	int inited = 0, size = 0, me = 0;
	if (MPI_Initialized(&inited) != MPI_SUCCESS || !inited)
		return ncclInvalidUsage;
	MPI_Comm_size(MPI_COMM_WORLD, &size);
	MPI_Comm_rank(MPI_COMM_WORLD, &me);
	if (size != world || me != rank)
		return ncclInvalidArgument;
	*c = new ncclComm{rank, world};
	return ncclSuccess;
}

ncclResult_t ncclAllReduce(const void *send, void *recv, size_t n, ncclDataType_t type,
			   ncclRedOp_t op, ncclComm_t, cudaStream_t)
{
	if (type != ncclFloat || op != ncclSum || n > INT_MAX)
		return ncclInvalidArgument;
	if (MPI_Allreduce(send == recv ? MPI_IN_PLACE : send, recv, (int)n, MPI_FLOAT,
			  MPI_SUM, MPI_COMM_WORLD) != MPI_SUCCESS)
		return ncclSystemError;
	return ncclSuccess;
}

ncclResult_t ncclCommDestroy(ncclComm_t c)
{
	delete c;
	return ncclSuccess;
}

} /* extern "C" */
#endif
