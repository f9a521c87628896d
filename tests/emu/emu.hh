/* emu.hh: the device side of dsv's CUDA emulation, which runs the .cu
 * kernels on the CPU so that the GPU paths are tested on machines without
 * a GPU (tests/emu/README.md). tests/emu/cu2cc.py puts this header first in
 * each translated .cu file; the real CUDA headers follow for the types.
 *
 * The threads of a block are fibers (ucontext) on one OS thread, run in
 * turn until each finishes or waits at a barrier: __syncthreads, and
 * __syncwarp and the shuffles for the 32 lanes of a warp. Blocks run one
 * after another, so __shared__ is `static` and atomics are plain adds.
 * ldmatrix and mma.sync, the warp's matrix instructions, hand each lane the
 * elements the PTX ISA says it holds. What the hardware punishes only by
 * misbehaving is checked and aborts: a barrier that not every thread
 * reaches, a misaligned ldmatrix row, launches over the limits, dynamic
 * shared memory over 48 KiB without cudaFuncSetAttribute.
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

/* The CUDA headers are in; from here on kernels/'s shared headers
 * (minhash_impl.h, docstats_*impl.h) take their device branches. */
#define __CUDACC__ 1

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <type_traits>

/* nvcc's keyword, after the system headers: glibc and libstdc++ spell the
 * attribute __noinline__ */
#define __noinline__ __attribute__((noinline))

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
/* The calling lane's slot in its warp's exchange, and another lane's: room
 * for XCHG_BYTES, read after a sync_warp. */
enum { XCHG_BYTES = 64 };
void *xchg_slot();
const void *xchg_lane(unsigned lane);
void xchg_flip(); /* the calling lane's next exchange takes its other slot */
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

namespace emu {

/* A bf16 of a 32-bit register: its lower (hi = 0) or upper half. */
inline float bf16_half(uint32_t reg, int hi)
{
	uint32_t u = (hi ? reg >> 16 : reg & 0xffffu) << 16;
	float f;
	memcpy(&f, &u, sizeof f);
	return f;
}

/* PTX's ldmatrix.sync.aligned.m8n8.x4(.trans).shared.b16: lanes 8m .. 8m + 7
 * give the addresses of rows 0 .. 7 of matrix m (16 bytes each, 16-byte
 * aligned); register m of lane l receives row l / 4, elements 2 (l % 4) and
 * 2 (l % 4) + 1, or with .trans element l / 4 of rows 2 (l % 4) and
 * 2 (l % 4) + 1. The lower element goes to the lower half. */
inline void ldmatrix_x4(uint32_t r[4], const void *row, bool trans)
{
	if ((uintptr_t)row % 16)
		fail("ldmatrix row address %p is not 16-byte aligned", row);
	memcpy(xchg_slot(), &row, sizeof row);
	sync_warp();
	unsigned lane = linear_tid() % 32;
	for (unsigned m = 0; m < 4; m++) {
		uint16_t e[2];
		for (unsigned k = 0; k < 2; k++) {
			unsigned rr = trans ? 2 * (lane % 4) + k : lane / 4;
			unsigned cc = trans ? lane / 4 : 2 * (lane % 4) + k;
			const uint16_t *p;
			memcpy(&p, xchg_lane(8 * m + rr), sizeof p);
			e[k] = p[cc];
		}
		r[m] = e[0] | (uint32_t)e[1] << 16;
	}
	xchg_flip();
}

/* PTX's mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32, d += a b, with
 * the ISA's fragment layouts (g = lane / 4, t = lane % 4): A's four
 * registers hold rows g (registers 0, 2) and g + 8 (1, 3), columns 2t, 2t + 1
 * (0, 1) and those + 8 (2, 3); B's two, rows 2t, 2t + 1 (0) and those + 8 (1)
 * of column g; the accumulator rows g (0, 1) and g + 8 (2, 3), columns 2t and
 * 2t + 1. Products are summed in float, in order of k. */
inline void mma_m16n8k16(float d[4], const uint32_t a[4], const uint32_t b[2])
{
	struct frag {
		uint32_t a[4], b[2];
	} mine, all[32];
	memcpy(mine.a, a, sizeof mine.a);
	memcpy(mine.b, b, sizeof mine.b);
	memcpy(xchg_slot(), &mine, sizeof mine);
	sync_warp();
	for (unsigned l = 0; l < 32; l++)
		memcpy(&all[l], xchg_lane(l), sizeof all[l]);
	unsigned lane = linear_tid() % 32, g = lane / 4, t = lane % 4;
	for (unsigned i = 0; i < 4; i++) {
		unsigned row = g + 8 * (i / 2), col = 2 * t + i % 2;
		float s = d[i];
		for (unsigned k = 0; k < 16; k++) {
			const frag &fa = all[row % 8 * 4 + k % 8 / 2];
			const frag &fb = all[col * 4 + k % 8 / 2];
			s += bf16_half(fa.a[row / 8 + 2 * (k / 8)], k % 2) *
			     bf16_half(fb.b[k / 8], k % 2);
		}
		d[i] = s;
	}
	xchg_flip();
}

} /* namespace emu */

#endif
