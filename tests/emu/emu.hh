/* emu.hh: the device side of dsv's CUDA emulation, which runs the .cu
 * kernels on the CPU so that the GPU paths are tested on machines without
 * a GPU (tests/emu/README.md). tests/emu/cu2cc.py puts this header first in
 * each translated .cu file; the real CUDA headers follow for the types.
 *
 * The threads of a block are fibers (ucontext) on one OS thread, run in
 * turn until each finishes or waits at a barrier: __syncthreads, and
 * __syncwarp and the shuffles for the 32 lanes of a warp. Blocks run one
 * after another, so __shared__ is `static` and atomics are plain adds. A
 * wmma fragment is the whole 16 x 16 tile in every lane. What the hardware
 * punishes only by misbehaving is checked and aborts: a barrier that not
 * every thread reaches, misaligned wmma pointers, launches over the limits,
 * dynamic shared memory over 48 KiB without cudaFuncSetAttribute.
 */
#ifndef DSV_EMU_HH
#define DSV_EMU_HH

#define DSV_CUDA_EMU 1

/* before the CUDA headers, which keep what is already defined */
#define __shared__ static
#define __launch_bounds__(...)
#define FA_UNROLL
#define FA_DYN_SMEM(name) unsigned char *name = emu::dyn_smem()

#include <cublasLt.h>
#include <cublas_v2.h>
#include <cuda_bf16.h>
#include <cuda_runtime.h>
#include <mma.h>

/* The CUDA headers are in; from here on kernels/'s shared headers
 * (minhash_impl.h, docstats_*impl.h) take their device branches. */
#define __CUDACC__ 1

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <type_traits>

namespace emu {

[[noreturn]] void fail(const char *fmt, ...);

/* the running thread's indices; blockDim and gridDim of the launch */
struct thread_ctx {
	uint3 tid, bid;
	unsigned parity; /* which of its two exchange slots a shuffle uses */
};
extern thread_ctx *cur;
extern dim3 block_dim, grid_dim;

void sync_block();
void sync_warp();
float *xchg_slot(); /* the calling lane's word in its warp's exchange */
float *xchg_lane(unsigned lane);
void xchg_flip(); /* the calling lane's next shuffle takes the other slot */
unsigned char *dyn_smem();

/* Runs body() as every thread of kernel<<<grid, block, smem>>> would;
 * kernel identifies the function for its cudaFuncSetAttribute limit. */
void launch(const void *kernel, dim3 grid, dim3 block, size_t smem,
	    void (*body)(void *), void *arg);

template <class F>
void launch(const void *kernel, dim3 grid, dim3 block, size_t smem, F fn)
{
	launch(kernel, grid, block, smem, [](void *p) { (*(F *)p)(); }, &fn);
}

/* a kernel's address, as the launch and cudaFuncSetAttribute see it */
template <class F> const void *fn(F *f)
{
	return (const void *)f;
}

inline unsigned linear_tid()
{
	return cur->tid.x + block_dim.x * (cur->tid.y + block_dim.y * cur->tid.z);
}

} /* namespace emu */

#define threadIdx (emu::cur->tid)
#define blockIdx (emu::cur->bid)
#define blockDim (emu::block_dim)
#define gridDim (emu::grid_dim)

static inline void __syncthreads() { emu::sync_block(); }

static inline void __syncwarp(unsigned mask = 0xffffffffu)
{
	if (mask != 0xffffffffu)
		emu::fail("__syncwarp with a partial mask is not emulated");
	emu::sync_warp();
}

/* The exchange has two slots a lane, used in turn: a lane can be at most
 * one shuffle ahead of another (the barrier between), so one barrier a
 * shuffle is enough. */
template <class T> static inline T __shfl_xor_sync(unsigned mask, T v, int lanes)
{
	static_assert(sizeof(T) <= sizeof(float), "shuffles of 32-bit values");
	if (mask != 0xffffffffu)
		emu::fail("shuffles with a partial mask are not emulated");
	unsigned lane = emu::linear_tid() % 32;
	memcpy(emu::xchg_slot(), &v, sizeof v);
	emu::sync_warp();
	T r;
	memcpy(&r, emu::xchg_lane(lane ^ (unsigned)lanes), sizeof r);
	emu::xchg_flip();
	return r;
}

/* one fiber runs at a time and none is preempted: plain adds are atomic */
template <class T> static inline T atomicAdd(T *p, T v)
{
	T old = *p;
	*p = old + v;
	return old;
}

/* device math the CUDA headers declare only for nvcc; in runtime.cc */
extern "C" float rsqrtf(float x);

/* cuda_runtime.h's C++ wrappers, also declared only for nvcc: a symbol is
 * passed by reference, so its address is what the C function gets */
template <class T>
static inline cudaError_t cudaMemcpyToSymbol(const T &symbol, const void *src,
					     size_t count, size_t offset = 0,
					     enum cudaMemcpyKind kind = cudaMemcpyHostToDevice)
{
	return cudaMemcpyToSymbol((const void *)&symbol, src, count, offset, kind);
}

template <class T>
static inline cudaError_t cudaFuncSetAttribute(T *entry, enum cudaFuncAttribute attr,
					       int value)
{
	return cudaFuncSetAttribute((const void *)entry, attr, value);
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
	static_assert(M == 16 && N == 16 && K == 16, "only 16x16x16 is emulated");
	float v[16][16];
};

inline void check_ptr(const void *p, unsigned ld, size_t elem)
{
	if ((uintptr_t)p % 32)
		emu::fail("wmma pointer %p is not 32-byte aligned", p);
	if (ld * elem % 16)
		emu::fail("wmma leading dimension %u is not a multiple of 16 bytes", ld);
}

template <class U, class T, class L>
inline void fill_fragment(fragment<U, 16, 16, 16, T, L> &f, float x)
{
	for (auto &row : f.v)
		for (float &e : row)
			e = x;
}

template <class U, class L>
inline void load_matrix_sync(fragment<U, 16, 16, 16, __nv_bfloat16, L> &f,
			     const __nv_bfloat16 *p, unsigned ld)
{
	check_ptr(p, ld, 2);
	bool col = std::is_same<L, col_major>::value;
	for (int r = 0; r < 16; r++)
		for (int c = 0; c < 16; c++)
			f.v[r][c] = __bfloat162float(col ? p[c * ld + r] : p[r * ld + c]);
}

template <class LA, class LB>
inline void mma_sync(fragment<accumulator, 16, 16, 16, float> &d,
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

/* Every lane holds the whole tile and writes it: the fibers never run at
 * once, so after its own store each lane sees what the collective store
 * leaves, without a barrier. */
inline void store_matrix_sync(float *p, const fragment<accumulator, 16, 16, 16, float> &f,
			      unsigned ld, layout_t layout)
{
	check_ptr(p, ld, 4);
	for (int r = 0; r < 16; r++)
		for (int c = 0; c < 16; c++)
			p[layout == mem_row_major ? r * ld + c : c * ld + r] = f.v[r][c];
}
} /* namespace wmma */
} /* namespace nvcuda */

#endif
