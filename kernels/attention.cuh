/* attention.cuh: causal flash attention for gpt.cu, forward and backward, on
 * bf16 tensor cores (mma.sync m16n8k16, fp32 accumulation) with the softmax
 * in fp32, in the manner of FlashAttention-2: each warp owns 16 rows of its
 * block's tile and keeps the scores, the probabilities and its output in
 * registers, so that the probabilities go from one matrix product to the
 * next without a trip through shared memory. The kernels read q, k and v
 * straight from the qkv activation [B][T][3][NH][HS] and write y
 * [B][T][NH][HS]: no permutes and no T x T buffer. The forward keeps one
 * logsumexp per row; the backward recomputes the scores from it, one kernel
 * for dQ (a block per query tile, which also leaves the row terms dY . Y)
 * and then one for dK and dV (a block per key tile), so no gradient is
 * summed with atomics and the result is deterministic.
 *
 * Device code only, templated on the head size (16, 32, 64 or 128). Shall
 * only be included by kernels/gpt.cu, which launches it, and by
 * tests/unit/kernel_attention_emu.cc, which runs it on the CPU under the
 * CUDA emulation (tests/emu, which defines DSV_CUDA_EMU and implements
 * ldmatrix and mma.sync with the fragment layouts of the PTX ISA) against
 * attention computed in double.
 */
#ifndef DSV_KERNELS_ATTENTION_CUH
#define DSV_KERNELS_ATTENTION_CUH

#ifndef DSV_CUDA_EMU
#include <cuda_bf16.h>
#define FA_DYN_SMEM(name) extern __shared__ __align__(128) unsigned char name[]
#define FA_UNROLL _Pragma("unroll")
#endif

#include <math.h>
#include <stdint.h>
#include <string.h>

namespace fa {

typedef __nv_bfloat16 bf16;

/* A block is four warps over a tile of 64 rows, 16 rows a warp. The other
 * side of the scores comes NC columns a step: 64, or 32 for the largest
 * head, whose backward would otherwise run out of registers. */
enum { TILE = 64, WARPS = 4, THREADS = 32 * WARPS };

/* Blocks of the forward each SM should hold, which caps the registers a
 * thread may use (65536 / (3 * 128) = 170): three for head sizes up to 64,
 * where it fits in that without spilling (ptxas -v), two above. The
 * backward kernels spill under that cap and run two blocks an SM. */
#define FA_FORWARD_BLOCKS(HS) ((HS) <= 64 ? 3 : 2)

#define FA_LOG2E 1.4426950408889634f
#define FA_LN2 0.6931471805599453f

template <int HS> struct dims {
	static constexpr int NC = HS <= 64 ? 64 : 32;
	/* rows of bf16 in shared memory, padded by 16 bytes so that the
	 * eight rows of an ldmatrix fall in different banks */
	static constexpr int LDH = HS + 8;
};

/* Dynamic shared memory of each kernel, in bytes. */
template <int HS> constexpr size_t forward_smem()
{
	return (size_t)(TILE + 2 * dims<HS>::NC) * dims<HS>::LDH * sizeof(bf16);
}
template <int HS> constexpr size_t backward_smem()
{
	return (size_t)(2 * TILE + 2 * dims<HS>::NC) * dims<HS>::LDH * sizeof(bf16) +
	       2 * dims<HS>::NC * sizeof(float);
}

/* ---- the warp's matrix instructions (PTX ISA, warp-level matrix
 * instructions). With g = lane / 4 and t = lane % 4: an A fragment (16 x 16,
 * four registers of two bf16) holds rows g and g + 8, columns 2t, 2t + 1 and
 * those + 8; a B fragment (16 x 8, two registers) rows 2t, 2t + 1 and those
 * + 8 of column g; an accumulator (16 x 8, four floats) rows g (0, 1) and
 * g + 8 (2, 3), columns 2t and 2t + 1. So the accumulators of two adjacent
 * column tiles, packed to bf16, are the A fragment of the next product. */

__device__ __forceinline__ uint32_t pack(float lo, float hi)
{
	__nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);
	uint32_t u;
	memcpy(&u, &v, sizeof u);
	return u;
}

/* Four 8 x 8 matrices of shared memory: lanes 8m .. 8m + 7 give the rows of
 * matrix m; register m receives row g, columns 2t and 2t + 1 (TRANS:
 * column g, rows 2t and 2t + 1). */
template <bool TRANS>
__device__ __forceinline__ void ldsm4(uint32_t r[4], const bf16 *row)
{
#ifdef DSV_CUDA_EMU
	emu::ldmatrix_x4(r, row, TRANS);
#else
	unsigned a = (unsigned)__cvta_generic_to_shared(row);
	if (TRANS)
		asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 "
			     "{%0, %1, %2, %3}, [%4];\n"
			     : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3]) : "r"(a));
	else
		asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 "
			     "{%0, %1, %2, %3}, [%4];\n"
			     : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3]) : "r"(a));
#endif
}

/* d += a b for a 16 x 16 A and a 16 x 8 B */
__device__ __forceinline__ void mma(float d[4], const uint32_t a[4], uint32_t b0, uint32_t b1)
{
#ifdef DSV_CUDA_EMU
	const uint32_t b[2] = {b0, b1};
	emu::mma_m16n8k16(d, a, b);
#else
	asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 "
		     "{%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, {%0, %1, %2, %3};\n"
		     : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
		     : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
#endif
}

/* The A fragment of a tile's 16 rows from tile (leading dimension ld), columns
 * k0 .. k0 + 15. */
__device__ __forceinline__ void load_a(uint32_t a[4], const bf16 *tile, int ld, int k0)
{
	int lane = threadIdx.x % 32;
	ldsm4<false>(a, tile + (lane % 16) * ld + k0 + lane / 16 * 8);
}

/* The B fragments of column tiles n0 and n0 + 8 (registers 0, 1 and 2, 3),
 * rows k0 .. k0 + 15, of B = tile^T: the tile's rows are B's columns. */
__device__ __forceinline__ void load_bt(uint32_t b[4], const bf16 *tile, int ld, int n0, int k0)
{
	int lane = threadIdx.x % 32;
	ldsm4<false>(b, tile + (n0 + lane / 16 * 8 + lane % 8) * ld + k0 + lane / 8 % 2 * 8);
}

/* The same from B = tile itself, row-major. */
__device__ __forceinline__ void load_b(uint32_t b[4], const bf16 *tile, int ld, int k0, int n0)
{
	int lane = threadIdx.x % 32;
	ldsm4<true>(b, tile + (k0 + lane / 8 % 2 * 8 + lane % 8) * ld + n0 + lane / 16 * 8);
}

/* ---- the pieces of every kernel ---- */

/* dst[r][d] = bf16(src[(row0 + r) * stride + d]) for ROWS rows, zero past row
 * T, by the whole block, four values a load, every load issued before the
 * first store: src and stride keep 16-byte alignment (cudaMalloc'd, head
 * and row offsets multiples of HS and C, both multiples of 16). */
template <int HS, int ROWS>
__device__ __forceinline__ void load_tile(bf16 *dst, const float *src, int row0, int T,
					  size_t stride)
{
	enum { PER = ROWS * HS / 4 / THREADS };
	float4 v[PER];
	FA_UNROLL
	for (int k = 0; k < PER; k++) {
		int e = threadIdx.x + k * THREADS, r = e / (HS / 4), d = e % (HS / 4) * 4;
		v[k] = row0 + r < T ? *(const float4 *)(src + (size_t)(row0 + r) * stride + d)
				    : make_float4(0.0f, 0.0f, 0.0f, 0.0f);
	}
	FA_UNROLL
	for (int k = 0; k < PER; k++) {
		int e = threadIdx.x + k * THREADS, r = e / (HS / 4), d = e % (HS / 4) * 4;
		uint32_t *o = (uint32_t *)(dst + r * dims<HS>::LDH + d);
		o[0] = pack(v[k].x, v[k].y);
		o[1] = pack(v[k].z, v[k].w);
	}
}

/* The k and v of keys k0 .. k0 + NC - 1 into ks and vs, once every warp is
 * done with the last step's. */
template <int HS>
__device__ __forceinline__ void load_kv_step(bf16 *ks, bf16 *vs, const float *base,
					     int C, int k0, int T, size_t stride)
{
	__syncthreads();
	load_tile<HS, dims<HS>::NC>(ks, base + C, k0, T, stride);
	load_tile<HS, dims<HS>::NC>(vs, base + 2 * C, k0, T, stride);
	__syncthreads();
}

/* s = A B^T for the warp's 16 rows and NC columns: A as HS/16 fragments, B
 * the NC rows of a shared-memory tile. */
template <int HS>
__device__ __forceinline__ void scores(float s[][4], const uint32_t a[][4], const bf16 *b)
{
	FA_UNROLL
	for (int n = 0; n < dims<HS>::NC / 8; n++)
		s[n][0] = s[n][1] = s[n][2] = s[n][3] = 0.0f;
	FA_UNROLL
	for (int k = 0; k < HS / 16; k++)
		FA_UNROLL
		for (int n = 0; n < dims<HS>::NC / 8; n += 2) {
			uint32_t f[4];
			load_bt(f, b, dims<HS>::LDH, n * 8, k * 16);
			mma(s[n], a[k], f[0], f[1]);
			mma(s[n + 1], a[k], f[2], f[3]);
		}
}

/* acc += P B for the warp: P its 16 x NC accumulators (probabilities or
 * score gradients), rounded to bf16 as A fragments, B the NC x HS rows of a
 * shared-memory tile; acc holds HS/8 accumulators. */
template <int HS>
__device__ __forceinline__ void accumulate(float acc[][4], const float p[][4], const bf16 *b)
{
	FA_UNROLL
	for (int k = 0; k < dims<HS>::NC / 16; k++) {
		const uint32_t a[4] = {pack(p[2 * k][0], p[2 * k][1]),
				       pack(p[2 * k][2], p[2 * k][3]),
				       pack(p[2 * k + 1][0], p[2 * k + 1][1]),
				       pack(p[2 * k + 1][2], p[2 * k + 1][3])};
		FA_UNROLL
		for (int n = 0; n < HS / 8; n += 2) {
			uint32_t f[4];
			load_b(f, b, dims<HS>::LDH, k * 16, n * 8);
			mma(acc[n], a, f[0], f[1]);
			mma(acc[n + 1], a, f[2], f[3]);
		}
	}
}

__device__ __forceinline__ void put2(float *p, float x, float y)
{
	*(float2 *)p = make_float2(x, y);
}
__device__ __forceinline__ void put2(bf16 *p, float x, float y)
{
	*(uint32_t *)p = pack(x, y);
}

/* The warp's 16 x HS accumulators, row r times mul[r / 8], to rows row0 ..
 * row0 + 15 of dst (stride elements apart, float or bf16), those under T. */
template <int HS, class O>
__device__ __forceinline__ void store_rows(O *dst, size_t stride, int row0, int T,
					   const float acc[][4], const float mul[2])
{
	int lane = threadIdx.x % 32, g = lane / 4, t = lane % 4;
	FA_UNROLL
	for (int h = 0; h < 2; h++) {
		int row = row0 + g + 8 * h;
		if (row >= T)
			continue;
		O *d = dst + (size_t)row * stride + 2 * t;
		FA_UNROLL
		for (int n = 0; n < HS / 8; n++)
			put2(d + n * 8, acc[n][2 * h] * mul[h], acc[n][2 * h + 1] * mul[h]);
	}
}

__device__ __forceinline__ float quad_max(float x)
{
	x = fmaxf(x, __shfl_xor_sync(0xffffffffu, x, 1));
	return fmaxf(x, __shfl_xor_sync(0xffffffffu, x, 2));
}

__device__ __forceinline__ float quad_sum(float x)
{
	x += __shfl_xor_sync(0xffffffffu, x, 1);
	return x + __shfl_xor_sync(0xffffffffu, x, 2);
}

/* ---- the kernels ---- */

/* y[b][i][h] = softmax(scale q_i k_j^T, j <= i) v, in bf16 (the operand of
 * the projection's GEMM), and lse[b][h][i] its log-sum-exp. Grid: (query tiles, B * NH); THREADS threads;
 * forward_smem<HS>() bytes of dynamic shared memory. The softmax runs in
 * base 2 (scores times scale log2 e). */
template <int HS>
__global__ void __launch_bounds__(THREADS, FA_FORWARD_BLOCKS(HS))
forward_kernel(bf16 *y, float *lse, const float *qkv, int T, int NH, float scale)
{
	enum { NC = dims<HS>::NC, LDH = dims<HS>::LDH };
	FA_DYN_SMEM(smem);
	bf16 *qs = (bf16 *)smem, *ks = qs + TILE * LDH, *vs = ks + NC * LDH;
	/* the longest rows first: the last tile sees every key */
	int qt = gridDim.x - 1 - blockIdx.x, bh = blockIdx.y;
	int b = bh / NH, h = bh % NH, C = NH * HS;
	int w = threadIdx.x / 32, lane = threadIdx.x % 32, g = lane / 4, t = lane % 4;
	int row0 = qt * TILE + w * 16, kend = T < (qt + 1) * TILE ? T : (qt + 1) * TILE;
	size_t stride = 3 * (size_t)C;
	const float *base = qkv + (size_t)b * T * stride + h * HS;
	float sl2 = scale * FA_LOG2E;
	uint32_t qf[HS / 16][4];
	float o[HS / 8][4], m[2] = {-INFINITY, -INFINITY}, l[2] = {0.0f, 0.0f};

	FA_UNROLL
	for (int n = 0; n < HS / 8; n++)
		o[n][0] = o[n][1] = o[n][2] = o[n][3] = 0.0f;
	load_tile<HS, TILE>(qs, base, qt * TILE, T, stride);
	__syncthreads();
	FA_UNROLL
	for (int k = 0; k < HS / 16; k++)
		load_a(qf[k], qs + w * 16 * LDH, LDH, k * 16);
	for (int k0 = 0; k0 < kend; k0 += NC) {
		load_kv_step<HS>(ks, vs, base, C, k0, T, stride);
		float s[NC / 8][4], mx[2] = {m[0], m[1]}, sum[2] = {0.0f, 0.0f};
		scores<HS>(s, qf, ks);
		/* only a step that reaches the warp's first row needs the mask
		 * (which also hides the keys past T) */
		bool edge = k0 + NC > row0;
		FA_UNROLL
		for (int n = 0; n < NC / 8; n++)
			FA_UNROLL
			for (int i = 0; i < 4; i++) {
				int j = k0 + n * 8 + 2 * t + i % 2, row = row0 + g + 8 * (i / 2);
				float x = s[n][i] * sl2;
				if (edge && (j > row || j >= T))
					x = -INFINITY;
				s[n][i] = x;
				mx[i / 2] = fmaxf(mx[i / 2], x);
			}
		/* key 0 is never masked, so the maxima are finite from the first
		 * step on, and the first alpha is exp2(-inf) = 0 */
		float alpha[2];
		FA_UNROLL
		for (int r = 0; r < 2; r++) {
			mx[r] = quad_max(mx[r]);
			alpha[r] = exp2f(m[r] - mx[r]);
			m[r] = mx[r];
		}
		FA_UNROLL
		for (int n = 0; n < NC / 8; n++)
			FA_UNROLL
			for (int i = 0; i < 4; i++) {
				s[n][i] = exp2f(s[n][i] - m[i / 2]);
				sum[i / 2] += s[n][i];
			}
		FA_UNROLL
		for (int r = 0; r < 2; r++)
			l[r] = l[r] * alpha[r] + sum[r]; /* this lane's columns only */
		FA_UNROLL
		for (int n = 0; n < HS / 8; n++)
			FA_UNROLL
			for (int i = 0; i < 4; i++)
				o[n][i] *= alpha[i / 2];
		accumulate<HS>(o, s, vs);
	}
	float inv[2];
	FA_UNROLL
	for (int r = 0; r < 2; r++) {
		l[r] = quad_sum(l[r]);
		inv[r] = 1.0f / l[r];
		int row = row0 + g + 8 * r;
		if (t == 0 && row < T)
			lse[(size_t)bh * T + row] = (m[r] + log2f(l[r])) * FA_LN2;
	}
	store_rows<HS>(y + (size_t)b * T * C + h * HS, (size_t)C, row0, T, o, inv);
}

/* dQ of one query tile, and dsum[b][h][i] = dY_i . Y_i, the row term of the
 * softmax's backward, which backward_kv_kernel then reads: a block per
 * (query tile, b * h), looping over the key steps up to it: dQ += dS K with
 * dS = P (dY V^T - dsum) scale. Writes the Q third of dqkv. */
template <int HS>
__global__ void __launch_bounds__(THREADS)
backward_q_kernel(float *dqkv, float *dsum, const float *qkv, const bf16 *y,
		  const float *dy, const float *lse, int T, int NH, float scale)
{
	enum { NC = dims<HS>::NC, LDH = dims<HS>::LDH };
	FA_DYN_SMEM(smem);
	bf16 *qs = (bf16 *)smem, *dys = qs + TILE * LDH, *ks = dys + TILE * LDH;
	bf16 *vs = ks + NC * LDH;
	int qt = gridDim.x - 1 - blockIdx.x, bh = blockIdx.y;
	int b = bh / NH, h = bh % NH, C = NH * HS;
	int w = threadIdx.x / 32, lane = threadIdx.x % 32, g = lane / 4, t = lane % 4;
	int row0 = qt * TILE + w * 16, kend = T < (qt + 1) * TILE ? T : (qt + 1) * TILE;
	size_t stride = 3 * (size_t)C;
	const float *base = qkv + (size_t)b * T * stride + h * HS;
	const float *dybase = dy + (size_t)b * T * C + h * HS;
	float sl2 = scale * FA_LOG2E, lse2[2], ds[2] = {0.0f, 0.0f};
	uint32_t qf[HS / 16][4], df[HS / 16][4];
	float dq[HS / 8][4];

	load_tile<HS, TILE>(qs, base, qt * TILE, T, stride);
	load_tile<HS, TILE>(dys, dybase, qt * TILE, T, C);
	/* the row terms of the warp's rows, a row at a time across the warp */
	const bf16 *ybase = y + (size_t)b * T * C + h * HS;
	FA_UNROLL
	for (int r = 0; r < 16; r++) {
		int i = row0 + r;
		float x = 0.0f;
		if (i < T)
			for (int d = lane; d < HS; d += 32)
				x += dybase[(size_t)i * C + d] *
				     __bfloat162float(ybase[(size_t)i * C + d]);
		FA_UNROLL
		for (int o = 16; o > 0; o /= 2)
			x += __shfl_xor_sync(0xffffffffu, x, o);
		ds[0] = r == g ? x : ds[0];
		ds[1] = r == g + 8 ? x : ds[1];
		if (lane == 0 && i < T)
			dsum[(size_t)bh * T + i] = x;
	}
	FA_UNROLL
	for (int r = 0; r < 2; r++) {
		int row = row0 + g + 8 * r;
		/* rows past T get P = 0 */
		lse2[r] = row < T ? lse[(size_t)bh * T + row] * FA_LOG2E : INFINITY;
	}
	FA_UNROLL
	for (int n = 0; n < HS / 8; n++)
		dq[n][0] = dq[n][1] = dq[n][2] = dq[n][3] = 0.0f;
	__syncthreads();
	FA_UNROLL
	for (int k = 0; k < HS / 16; k++) {
		load_a(qf[k], qs + w * 16 * LDH, LDH, k * 16);
		load_a(df[k], dys + w * 16 * LDH, LDH, k * 16);
	}
	for (int k0 = 0; k0 < kend; k0 += NC) {
		load_kv_step<HS>(ks, vs, base, C, k0, T, stride);
		float s[NC / 8][4], dp[NC / 8][4];
		scores<HS>(s, qf, ks);
		scores<HS>(dp, df, vs);
		bool edge = k0 + NC > row0;
		FA_UNROLL
		for (int n = 0; n < NC / 8; n++)
			FA_UNROLL
			for (int i = 0; i < 4; i++) {
				int j = k0 + n * 8 + 2 * t + i % 2, row = row0 + g + 8 * (i / 2);
				float p = edge && (j > row || j >= T)
						  ? 0.0f
						  : exp2f(s[n][i] * sl2 - lse2[i / 2]);
				s[n][i] = p * (dp[n][i] - ds[i / 2]) * scale;
			}
		accumulate<HS>(dq, s, ks);
	}
	const float one[2] = {1.0f, 1.0f};
	store_rows<HS>(dqkv + (size_t)b * T * stride + h * HS, stride, row0, T, dq, one);
}

/* dK and dV of one key tile: a block per (key tile, b * h), looping over the
 * query steps at and after it. Each warp owns 16 keys; the scores are
 * recomputed key-major (S^T = K Q^T), so P^T and dS^T are the left operands
 * of dV += P^T dY and dK += dS^T Q. Reads the row terms that
 * backward_q_kernel left in dsum; writes the K and V thirds of dqkv. */
template <int HS>
__global__ void __launch_bounds__(THREADS)
backward_kv_kernel(float *dqkv, const float *qkv, const float *dy, const float *lse,
		   const float *dsum, int T, int NH, float scale)
{
	enum { NC = dims<HS>::NC, LDH = dims<HS>::LDH };
	FA_DYN_SMEM(smem);
	bf16 *ks = (bf16 *)smem, *vs = ks + TILE * LDH, *qs = vs + TILE * LDH;
	bf16 *dys = qs + NC * LDH;
	float *lses = (float *)(dys + NC * LDH), *dss = lses + NC;
	int kt = blockIdx.x, bh = blockIdx.y;
	int b = bh / NH, h = bh % NH, C = NH * HS;
	int w = threadIdx.x / 32, lane = threadIdx.x % 32, g = lane / 4, t = lane % 4;
	int col0 = kt * TILE + w * 16; /* the warp's first key */
	size_t stride = 3 * (size_t)C;
	const float *base = qkv + (size_t)b * T * stride + h * HS;
	const float *dybase = dy + (size_t)b * T * C + h * HS;
	float sl2 = scale * FA_LOG2E;
	float dk[HS / 8][4], dv[HS / 8][4];

	FA_UNROLL
	for (int n = 0; n < HS / 8; n++)
		FA_UNROLL
		for (int i = 0; i < 4; i++)
			dk[n][i] = dv[n][i] = 0.0f;
	load_tile<HS, TILE>(ks, base + C, kt * TILE, T, stride);
	load_tile<HS, TILE>(vs, base + 2 * C, kt * TILE, T, stride);
	for (int q0 = kt * TILE; q0 < T; q0 += NC) {
		__syncthreads(); /* the last step's q, dy and row terms are read */
		load_tile<HS, NC>(qs, base, q0, T, stride);
		load_tile<HS, NC>(dys, dybase, q0, T, C);
		for (int c = threadIdx.x; c < NC; c += THREADS) {
			int i = q0 + c;
			/* queries past T get P = 0 */
			lses[c] = i < T ? lse[(size_t)bh * T + i] * FA_LOG2E : INFINITY;
			dss[c] = i < T ? dsum[(size_t)bh * T + i] : 0.0f;
		}
		__syncthreads();
		uint32_t kf[HS / 16][4], vf[HS / 16][4];
		FA_UNROLL
		for (int k = 0; k < HS / 16; k++) {
			load_a(kf[k], ks + w * 16 * LDH, LDH, k * 16);
			load_a(vf[k], vs + w * 16 * LDH, LDH, k * 16);
		}
		float st[NC / 8][4], dpt[NC / 8][4];
		scores<HS>(st, kf, qs);
		/* queries before a key of the warp's see none of it */
		bool edge = q0 < col0 + 16;
		FA_UNROLL
		for (int n = 0; n < NC / 8; n++)
			FA_UNROLL
			for (int i = 0; i < 4; i++) {
				int c = n * 8 + 2 * t + i % 2, key = col0 + g + 8 * (i / 2);
				st[n][i] = edge && q0 + c < key
						   ? 0.0f
						   : exp2f(st[n][i] * sl2 - lses[c]);
			}
		accumulate<HS>(dv, st, dys);
		scores<HS>(dpt, vf, dys);
		FA_UNROLL
		for (int n = 0; n < NC / 8; n++)
			FA_UNROLL
			for (int i = 0; i < 4; i++) {
				int c = n * 8 + 2 * t + i % 2;
				st[n][i] *= (dpt[n][i] - dss[c]) * scale;
			}
		accumulate<HS>(dk, st, qs);
	}
	const float one[2] = {1.0f, 1.0f};
	float *dbase = dqkv + (size_t)b * T * stride + h * HS;
	store_rows<HS>(dbase + C, stride, col0, T, dk, one);
	store_rows<HS>(dbase + 2 * C, stride, col0, T, dv, one);
}

} /* namespace fa */

#endif
