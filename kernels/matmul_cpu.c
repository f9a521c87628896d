/* matmul_cpu.c: the CPU path's single-precision GEMM. OpenBLAS's cblas_sgemm
 * when built with DSV_HAVE_OPENBLAS and the library loads; otherwise (and
 * always as dsv_sgemm_ref, which the tests compare against) a cache-blocked
 * OpenMP GEMM of our own, so kernels/ builds on machines without BLAS.
 * OpenBLAS is opened on the first matmul, not linked: its load-time
 * constructor starts a thread pool that spins for ~0.1 s in every process,
 * and most dsv commands never multiply a matrix.
 *
 * OpenBLAS runs single-threaded and OpenMP splits the work: its own pool
 * spins in sched_yield between calls and fought our OpenMP threads for the
 * cores (a fifth of a training step on 2 cores); and a caller can run
 * small products side by side from its own parallel loop, where each call
 * stays on its thread.
 */
#include "kernels/gpt.h"

#include <omp.h>
#include <pthread.h>
#include <stdlib.h>

#ifdef DSV_HAVE_OPENBLAS
#include <cblas.h>
#include <dlfcn.h>

typedef void (*sgemm_fn)(const enum CBLAS_ORDER, const enum CBLAS_TRANSPOSE,
			 const enum CBLAS_TRANSPOSE, const blasint,
			 const blasint, const blasint, const float,
			 const float *, const blasint, const float *,
			 const blasint, const float, float *, const blasint);
static sgemm_fn blas_sgemm;
static pthread_once_t blas_once = PTHREAD_ONCE_INIT;

static void open_blas(void)
{
	void *h = dlopen("libopenblas.so.0", RTLD_NOW | RTLD_LOCAL);
	if (!h)
		h = dlopen("libopenblas.so", RTLD_NOW | RTLD_LOCAL);
	if (!h)
		return;
	void (*set_threads)(int) = (void (*)(int))dlsym(h, "openblas_set_num_threads");
	if (set_threads)
		set_threads(1);
	blas_sgemm = (sgemm_fn)dlsym(h, "cblas_sgemm");
}
#endif

/* One GEMM on the calling thread: OpenBLAS (single-threaded), else the
 * reference, whose parallel region runs on one thread when nested. */
static void sgemm1(int transA, int transB, int M, int N, int K, float alpha,
		   const float *A, int lda, const float *B, int ldb, float beta,
		   float *C, int ldc)
{
#ifdef DSV_HAVE_OPENBLAS
	if (blas_sgemm) {
		blas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans,
			   transB ? CblasTrans : CblasNoTrans, M, N, K, alpha, A,
			   lda, B, ldb, beta, C, ldc);
		return;
	}
#endif
	dsv_sgemm_ref(transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

void dsv_sgemm_init(void)
{
#ifdef DSV_HAVE_OPENBLAS
	pthread_once(&blas_once, open_blas);
#endif
}

/* Block sizes: a KC x NC panel of B (256 KiB) stays in L2 while a thread
 * sweeps MC rows of A over it. */
#define MC 64
#define KC 256
#define NC 256

static void scale_c(int M, int N, float beta, float *C, int ldc)
{
	#pragma omp parallel for schedule(static)
	for (int i = 0; i < M; i++) {
		float *c = C + (size_t)i * ldc;
		if (beta == 0.0f)
			for (int j = 0; j < N; j++)
				c[j] = 0.0f;
		else if (beta != 1.0f)
			for (int j = 0; j < N; j++)
				c[j] *= beta;
	}
}

/* Each C element sums its K products in ascending k, whatever the thread
 * count: (row block, column block) pairs are independent and the k blocks run
 * in order inside one thread, so results are bit-reproducible. */
void dsv_sgemm_ref(int transA, int transB, int M, int N, int K, float alpha,
		   const float *A, int lda, const float *B, int ldb, float beta,
		   float *C, int ldc)
{
	scale_c(M, N, beta, C, ldc);
	if (M <= 0 || N <= 0 || K <= 0 || alpha == 0.0f)
		return;
	int mb = (M + MC - 1) / MC, nb = (N + NC - 1) / NC;

	#pragma omp parallel
	{
		float *ap = malloc(sizeof(float) * MC * KC);
		float *bp = malloc(sizeof(float) * KC * NC);
		#pragma omp for collapse(2) schedule(static)
		for (int ib = 0; ib < mb; ib++) {
			for (int jb = 0; jb < nb; jb++) {
				int i0 = ib * MC, j0 = jb * NC;
				int mc = M - i0 < MC ? M - i0 : MC;
				int nc = N - j0 < NC ? N - j0 : NC;
				for (int k0 = 0; k0 < K; k0 += KC) {
					int kc = K - k0 < KC ? K - k0 : KC;
					for (int i = 0; i < mc; i++)
						for (int k = 0; k < kc; k++)
							ap[i * KC + k] = alpha * (transA
								? A[(size_t)(k0 + k) * lda + i0 + i]
								: A[(size_t)(i0 + i) * lda + k0 + k]);
					for (int k = 0; k < kc; k++)
						for (int j = 0; j < nc; j++)
							bp[k * NC + j] = transB
								? B[(size_t)(j0 + j) * ldb + k0 + k]
								: B[(size_t)(k0 + k) * ldb + j0 + j];
					for (int i = 0; i < mc; i++) {
						float *c = C + (size_t)(i0 + i) * ldc + j0;
						for (int k = 0; k < kc; k++) {
							float a = ap[i * KC + k];
							const float *b = bp + k * NC;
							#pragma omp simd
							for (int j = 0; j < nc; j++)
								c[j] += a * b[j];
						}
					}
				}
			}
		}
		free(ap);
		free(bp);
	}
}

/* Products under this many multiply-adds run on one thread: a parallel
 * region costs more than it saves. */
#define SPLIT_MIN (1 << 18)

/* Splits C into one block of rows (or of columns, when C is wider than it
 * is tall) per thread, each a single-threaded GEMM. The split depends only
 * on the shape and the thread count, and each element's sum stays inside
 * one call, so results are reproducible for a given thread count. */
void dsv_sgemm(int transA, int transB, int M, int N, int K, float alpha,
	       const float *A, int lda, const float *B, int ldb, float beta,
	       float *C, int ldc)
{
	dsv_sgemm_init();
#ifdef DSV_HAVE_OPENBLAS
	if (!blas_sgemm)
#endif
	{
		dsv_sgemm_ref(transA, transB, M, N, K, alpha, A, lda, B, ldb,
			      beta, C, ldc);
		return;
	}
	int nt = omp_in_parallel() ? 1 : omp_get_max_threads();
	if (nt <= 1 || (double)M * N * K < SPLIT_MIN || (M < 32 && N < 32)) {
		sgemm1(transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
		return;
	}
	int rows = M >= N, len = rows ? M : N;
	/* blocks in multiples of 16 keep OpenBLAS's micro-kernels on full tiles */
	int blk = ((len + nt - 1) / nt + 15) / 16 * 16;
	int nb = (len + blk - 1) / blk;
	#pragma omp parallel for schedule(static) num_threads(nb)
	for (int p = 0; p < nb; p++) {
		int o = p * blk, n = len - o < blk ? len - o : blk;
		if (rows)
			sgemm1(transA, transB, n, N, K, alpha,
			       transA ? A + o : A + (size_t)o * lda, lda, B, ldb,
			       beta, C + (size_t)o * ldc, ldc);
		else
			sgemm1(transA, transB, M, n, K, alpha, A, lda,
			       transB ? B + (size_t)o * ldb : B + o, ldb, beta,
			       C + o, ldc);
	}
}
