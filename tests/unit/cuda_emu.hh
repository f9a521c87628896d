/* cuda_emu.hh: just enough of CUDA to run kernels/attention.cuh on the CPU,
 * so that its indexing, masking, tiling and synchronisation are tested on
 * machines without a GPU. Each CUDA thread of a block is a POSIX thread;
 * blocks run one after another. __syncthreads and __syncwarp are barriers,
 * __shfl_xor_sync goes through a per-warp exchange, and a wmma fragment is
 * the whole 16 x 16 tile held by every lane (the collective store is done
 * once, by lane 0). The wmma rules that the hardware enforces only by
 * misbehaving (32-byte aligned pointers, leading dimensions a multiple of 16
 * bytes) are checked and abort. Shall only be included by
 * tests/unit/kernel_*_emu.cc.
 */
#ifndef DSV_CUDA_EMU_HH
#define DSV_CUDA_EMU_HH

#define DSV_CUDA_EMU 1

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <math.h>
#include <type_traits>
#include <vector>

#define __global__
#define __device__
#define __forceinline__ inline
#define __launch_bounds__(n)
#define FA_UNROLL
#define FA_DYN_SMEM(name) unsigned char *name = emu::block->smem_base

struct dim3 {
	unsigned x = 1, y = 1, z = 1;
	dim3(unsigned x_ = 1, unsigned y_ = 1, unsigned z_ = 1) : x(x_), y(y_), z(z_) {}
};

namespace emu {
struct block_state {
	pthread_barrier_t all;
	std::vector<pthread_barrier_t> warp;
	std::vector<float> xchg;
	std::vector<unsigned char> smem;
	unsigned char *smem_base; /* smem, 128-byte aligned as CUDA's is */
};
static block_state *block;
static thread_local unsigned tid;
static thread_local unsigned bidx, bidy;
} /* namespace emu */

static dim3 blockDim, gridDim;
/* threadIdx and blockIdx read the calling thread's own values */
#define threadIdx (dim3(emu::tid))
#define blockIdx (dim3(emu::bidx, emu::bidy))

static inline void emu_fail(const char *what)
{
	fprintf(stderr, "cuda_emu: %s\n", what);
	abort();
}

static inline void __syncthreads() { pthread_barrier_wait(&emu::block->all); }

static inline void __syncwarp(unsigned mask = 0xffffffffu)
{
	if (mask != 0xffffffffu)
		emu_fail("__syncwarp with a partial mask is not emulated");
	pthread_barrier_wait(&emu::block->warp[emu::tid / 32]);
}

static inline float __shfl_xor_sync(unsigned mask, float v, int lanes)
{
	unsigned w = emu::tid / 32, lane = emu::tid % 32;
	__syncwarp(mask);
	emu::block->xchg[w * 32 + lane] = v;
	__syncwarp(mask);
	float r = emu::block->xchg[w * 32 + (lane ^ (unsigned)lanes)];
	__syncwarp(mask);
	return r;
}

/* bf16 as CUDA rounds it: to nearest, ties to even */
struct __nv_bfloat16 {
	uint16_t bits;
};

static inline __nv_bfloat16 __float2bfloat16(float f)
{
	uint32_t u;
	memcpy(&u, &f, 4);
	if ((u & 0x7fffffffu) > 0x7f800000u)
		return __nv_bfloat16{(uint16_t)((u >> 16) | 0x40)};
	u += 0x7fffu + ((u >> 16) & 1);
	return __nv_bfloat16{(uint16_t)(u >> 16)};
}

static inline float __bfloat162float(__nv_bfloat16 h)
{
	uint32_t u = (uint32_t)h.bits << 16;
	float f;
	memcpy(&f, &u, 4);
	return f;
}

namespace nvcuda {
namespace wmma {
struct matrix_a {};
struct matrix_b {};
struct accumulator {};
struct row_major {};
struct col_major {};
enum layout_t { mem_row_major, mem_col_major };

template <class Use, int M, int N, int K, class T, class Layout = void>
struct fragment {
	float v[16][16];
};

static inline void check_ptr(const void *p, unsigned ld, size_t elem)
{
	if ((uintptr_t)p % 32)
		emu_fail("wmma pointer is not 32-byte aligned");
	if (ld * elem % 16)
		emu_fail("wmma leading dimension is not a multiple of 16 bytes");
}

template <class U, class T, class L>
static inline void fill_fragment(fragment<U, 16, 16, 16, T, L> &f, float x)
{
	for (int r = 0; r < 16; r++)
		for (int c = 0; c < 16; c++)
			f.v[r][c] = x;
}

template <class U, class L>
static inline void load_matrix_sync(fragment<U, 16, 16, 16, __nv_bfloat16, L> &f,
				    const __nv_bfloat16 *p, unsigned ld)
{
	check_ptr(p, ld, 2);
	bool col = std::is_same<L, col_major>::value;
	for (int r = 0; r < 16; r++)
		for (int c = 0; c < 16; c++)
			f.v[r][c] = __bfloat162float(col ? p[c * ld + r] : p[r * ld + c]);
}

template <class LA, class LB>
static inline void mma_sync(fragment<accumulator, 16, 16, 16, float> &d,
			    const fragment<matrix_a, 16, 16, 16, __nv_bfloat16, LA> &a,
			    const fragment<matrix_b, 16, 16, 16, __nv_bfloat16, LB> &b,
			    const fragment<accumulator, 16, 16, 16, float> &c)
{
	float out[16][16];
	for (int r = 0; r < 16; r++)
		for (int n = 0; n < 16; n++) {
			float s = c.v[r][n];
			for (int k = 0; k < 16; k++)
				s += a.v[r][k] * b.v[k][n];
			out[r][n] = s;
		}
	memcpy(d.v, out, sizeof out);
}

static inline void store_matrix_sync(float *p,
				     const fragment<accumulator, 16, 16, 16, float> &f,
				     unsigned ld, layout_t layout)
{
	check_ptr(p, ld, 4);
	__syncwarp();
	if (emu::tid % 32 == 0)
		for (int r = 0; r < 16; r++)
			for (int c = 0; c < 16; c++)
				p[layout == mem_row_major ? r * ld + c : c * ld + r] = f.v[r][c];
	__syncwarp();
}
} /* namespace wmma */
} /* namespace nvcuda */

namespace emu {
template <class F> struct launch_arg {
	F *fn;
	unsigned tid, bx, by;
};

template <class F> static void *thread_main(void *p)
{
	launch_arg<F> *a = (launch_arg<F> *)p;
	tid = a->tid;
	bidx = a->bx;
	bidy = a->by;
	(*a->fn)();
	return NULL;
}

/* Runs fn as kernel<<<grid, threads, smem>>> would (x and y of the grid,
 * threads a multiple of 32), block after block. */
template <class F> static void launch(dim3 grid, unsigned threads, size_t smem, F fn)
{
	if (threads % 32 || threads == 0)
		emu_fail("threads per block must be a multiple of 32");
	gridDim = grid;
	blockDim = dim3(threads);
	block_state st;
	st.warp.resize(threads / 32);
	st.xchg.resize(threads);
	st.smem.resize(smem + 128);
	st.smem_base = st.smem.data() + (128 - (uintptr_t)st.smem.data() % 128) % 128;
	block = &st;
	std::vector<pthread_t> th(threads);
	std::vector<launch_arg<F>> args(threads);
	for (unsigned by = 0; by < grid.y; by++)
		for (unsigned bx = 0; bx < grid.x; bx++) {
			/* fresh barriers and garbage shared memory for each block */
			pthread_barrier_init(&st.all, NULL, threads);
			for (auto &b : st.warp)
				pthread_barrier_init(&b, NULL, 32);
			memset(st.smem.data(), 0xa5, st.smem.size());
			for (unsigned t = 0; t < threads; t++) {
				args[t] = launch_arg<F>{&fn, t, bx, by};
				if (pthread_create(&th[t], NULL, thread_main<F>, &args[t]))
					emu_fail("pthread_create");
			}
			for (unsigned t = 0; t < threads; t++)
				pthread_join(th[t], NULL);
			pthread_barrier_destroy(&st.all);
			for (auto &b : st.warp)
				pthread_barrier_destroy(&b);
		}
	block = NULL;
}
} /* namespace emu */

#endif
