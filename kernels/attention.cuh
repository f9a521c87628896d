/* attention.cuh: causal flash attention for gpt.cu, forward and backward, on
 * bf16 tensor cores (wmma 16x16x16, fp32 accumulation) with the softmax in
 * fp32. The kernels read q, k and v straight from the qkv activation
 * [B][T][3][NH][HS] and write y [B][T][NH][HS]: no permutes and no T x T
 * buffer. The forward keeps one logsumexp per row; the backward recomputes
 * the scores from it, one kernel for dK and dV (a block per key tile) and
 * one for dQ (a block per query tile), so no gradient is summed with atomics
 * and the result is deterministic.
 *
 * Device code only, templated on the head size (16, 32, 64 or 128). Shall
 * only be included by kernels/gpt.cu, which launches it, and by
 * tests/unit/kernel_attention_emu.cc, which runs it on the CPU under the
 * CUDA emulation (tests/emu, which defines DSV_CUDA_EMU) against attention
 * computed in double.
 */
#ifndef DSV_KERNELS_ATTENTION_CUH
#define DSV_KERNELS_ATTENTION_CUH

#ifndef DSV_CUDA_EMU
#include <cuda_bf16.h>
#include <mma.h>
#define FA_DYN_SMEM(name) extern __shared__ __align__(128) unsigned char name[]
#define FA_UNROLL _Pragma("unroll")
#endif

#include <math.h>

namespace fa {

using namespace nvcuda;
typedef __nv_bfloat16 bf16;

/* A block is four warps over a tile of 64 rows, 16 rows a warp; the other
 * side of the scores also comes in tiles of 64. */
enum { TILE = 64, WARPS = 4, THREADS = 32 * WARPS };

/* Leading dimensions of the shared-memory tiles, padded off the bank
 * stride; wmma wants a multiple of 8 elements (16-bit) or 4 (fp32), and
 * every fragment address 32-byte aligned, which these keep. */
template <int HS> struct dims {
	static constexpr int LDH = HS + 8;                        /* bf16 [TILE][HS] */
	static constexpr int LDP = TILE + 8;                      /* bf16 [TILE][TILE] */
	static constexpr int LDS = (HS > TILE ? HS : TILE) + 4;   /* fp32 staging */
	static constexpr int TILE_H = TILE * LDH;                 /* elements */
	static constexpr int TILE_P = TILE * LDP;
	static constexpr int TILE_S = TILE * LDS;
};

/* Dynamic shared memory of each kernel, in bytes. */
template <int HS> constexpr size_t forward_smem()
{
	return (3 * dims<HS>::TILE_H + dims<HS>::TILE_P) * sizeof(bf16) +
	       dims<HS>::TILE_S * sizeof(float);
}
template <int HS> constexpr size_t backward_smem()
{
	return (4 * dims<HS>::TILE_H + dims<HS>::TILE_P) * sizeof(bf16) +
	       (dims<HS>::TILE_S + 2 * TILE) * sizeof(float);
}

typedef wmma::fragment<wmma::accumulator, 16, 16, 16, float> frag_acc;
typedef wmma::fragment<wmma::matrix_a, 16, 16, 16, bf16, wmma::row_major> frag_a;
typedef wmma::fragment<wmma::matrix_b, 16, 16, 16, bf16, wmma::row_major> frag_b;
typedef wmma::fragment<wmma::matrix_b, 16, 16, 16, bf16, wmma::col_major> frag_bt;

/* dst[r][d] = bf16(src[(row0 + r) * stride + d]) for the tile's TILE rows,
 * zero past row T, by the whole block, four values a load: src and stride
 * keep 16-byte alignment (cudaMalloc'd, head and row offsets multiples of
 * HS and C, both multiples of 16). */
template <int HS>
__device__ __forceinline__ void load_tile(bf16 *dst, const float *src, int row0,
					  int T, size_t stride)
{
	for (int e = threadIdx.x; e < TILE * HS / 4; e += THREADS) {
		int r = e / (HS / 4), d = e % (HS / 4) * 4, t = row0 + r;
		float4 v = t < T ? *(const float4 *)(src + (size_t)t * stride + d)
				 : make_float4(0.0f, 0.0f, 0.0f, 0.0f);
		__nv_bfloat162 *o = (__nv_bfloat162 *)(dst + r * dims<HS>::LDH + d);
		o[0] = __floats2bfloat162_rn(v.x, v.y);
		o[1] = __floats2bfloat162_rn(v.z, v.w);
	}
}

/* The warp's 16 x 64 strip of S = A B^T into fp32 staging: A's rows are the
 * warp's 16 rows of a [TILE][HS] tile, B a [TILE][HS] tile. */
template <int HS>
__device__ __forceinline__ void strip_abt(float *s, const bf16 *a, const bf16 *b)
{
	const int LDH = dims<HS>::LDH;
	for (int n = 0; n < TILE / 16; n++) {
		frag_acc acc;
		wmma::fill_fragment(acc, 0.0f);
		for (int k = 0; k < HS / 16; k++) {
			frag_a fa;
			frag_bt fb;
			wmma::load_matrix_sync(fa, a + k * 16, LDH);
			wmma::load_matrix_sync(fb, b + n * 16 * LDH + k * 16, LDH);
			wmma::mma_sync(acc, fa, fb, acc);
		}
		wmma::store_matrix_sync(s + n * 16, acc, dims<HS>::LDS, wmma::mem_row_major);
	}
}

/* acc[n] += P B for the warp: P its 16 x 64 strip (bf16, leading dimension
 * LDP), B a [TILE][HS] tile; acc holds HS/16 fragments. */
template <int HS>
__device__ __forceinline__ void strip_pb(frag_acc *acc, const bf16 *p, const bf16 *b)
{
	for (int n = 0; n < HS / 16; n++)
		for (int k = 0; k < TILE / 16; k++) {
			frag_a fa;
			frag_b fb;
			wmma::load_matrix_sync(fa, p + k * 16, dims<HS>::LDP);
			wmma::load_matrix_sync(fb, b + k * 16 * dims<HS>::LDH + n * 16,
					       dims<HS>::LDH);
			wmma::mma_sync(acc[n], fa, fb, acc[n]);
		}
}

/* Writes the warp's 16 x HS accumulator to dst rows row0.. (stride floats
 * apart, only those under T) through its staging rows s. */
template <int HS>
__device__ __forceinline__ void store_strip(float *dst, size_t stride, int row0,
					    int T, frag_acc *acc, float *s)
{
	int lane = threadIdx.x % 32;
	for (int n = 0; n < HS / 16; n++)
		wmma::store_matrix_sync(s + n * 16, acc[n], dims<HS>::LDS,
					wmma::mem_row_major);
	__syncwarp();
	for (int e = lane; e < 16 * HS; e += 32) {
		int r = e / HS, d = e % HS;
		if (row0 + r < T)
			dst[(size_t)(row0 + r) * stride + d] = s[r * dims<HS>::LDS + d];
	}
	__syncwarp();
}

/* y[b][i][h] = softmax(scale q_i k_j^T, j <= i) v and lse[b][h][i] its
 * log-sum-exp. Grid: (query tiles, B * NH); THREADS threads;
 * forward_smem<HS>() bytes of dynamic shared memory. Each lane keeps half
 * a row of the output (lane / 2 is its row in the warp's 16). */
template <int HS>
__global__ void __launch_bounds__(THREADS)
forward_kernel(float *y, float *lse, const float *qkv, int T, int NH, float scale)
{
	typedef dims<HS> D;
	FA_DYN_SMEM(smem);
	bf16 *qs = (bf16 *)smem, *ks = qs + D::TILE_H, *vs = ks + D::TILE_H;
	bf16 *ps = vs + D::TILE_H;
	float *ss = (float *)(ps + D::TILE_P);
	/* the longest rows first: the last tile sees every key */
	int qt = gridDim.x - 1 - blockIdx.x, bh = blockIdx.y;
	int b = bh / NH, h = bh % NH, C = NH * HS;
	int w = threadIdx.x / 32, lane = threadIdx.x % 32, half = lane & 1;
	int r = w * 16 + lane / 2, i = qt * TILE + r;
	size_t stride = 3 * (size_t)C;
	const float *base = qkv + (size_t)b * T * stride + h * HS;
	float o[HS / 2], m = -INFINITY, l = 0.0f;

	FA_UNROLL
	for (int d = 0; d < HS / 2; d++)
		o[d] = 0.0f;
	load_tile<HS>(qs, base, qt * TILE, T, stride);
	for (int kt = 0; kt <= qt; kt++) {
		__syncthreads(); /* the last tile's k, v and staging are read */
		load_tile<HS>(ks, base + C, kt * TILE, T, stride);
		load_tile<HS>(vs, base + 2 * C, kt * TILE, T, stride);
		__syncthreads();
		strip_abt<HS>(ss + w * 16 * D::LDS, qs + w * 16 * D::LDH, ks);
		__syncwarp();

		/* online softmax over this lane's 32 of the tile's 64 keys */
		float s[TILE / 2], mx = -INFINITY, sum = 0.0f;
		const float *srow = ss + r * D::LDS + half * (TILE / 2);
		FA_UNROLL
		for (int c = 0; c < TILE / 2; c++) {
			int j = kt * TILE + half * (TILE / 2) + c;
			s[c] = j <= i && j < T ? srow[c] * scale : -INFINITY;
			mx = fmaxf(mx, s[c]);
		}
		mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 1));
		/* key kt*TILE <= i is always unmasked, so mnew is finite */
		float mnew = fmaxf(m, mx), alpha = expf(m - mnew);
		FA_UNROLL
		for (int c = 0; c < TILE / 2; c++) {
			s[c] = expf(s[c] - mnew);
			sum += s[c];
		}
		sum += __shfl_xor_sync(0xffffffffu, sum, 1);
		l = l * alpha + sum;
		m = mnew;
		FA_UNROLL
		for (int d = 0; d < HS / 2; d++)
			o[d] *= alpha;
		bf16 *prow = ps + r * D::LDP + half * (TILE / 2);
		FA_UNROLL
		for (int c = 0; c < TILE / 2; c++)
			prow[c] = __float2bfloat16(s[c]);
		__syncwarp();

		/* o += P V, through the staging rows */
		frag_acc acc[HS / 16];
		for (int n = 0; n < HS / 16; n++)
			wmma::fill_fragment(acc[n], 0.0f);
		strip_pb<HS>(acc, ps + w * 16 * D::LDP, vs);
		for (int n = 0; n < HS / 16; n++)
			wmma::store_matrix_sync(ss + w * 16 * D::LDS + n * 16, acc[n],
						D::LDS, wmma::mem_row_major);
		__syncwarp();
		const float *orow = ss + r * D::LDS + half * (HS / 2);
		FA_UNROLL
		for (int d = 0; d < HS / 2; d++)
			o[d] += orow[d];
	}
	if (i < T) {
		float inv = 1.0f / l;
		float *yrow = y + ((size_t)b * T + i) * C + h * HS + half * (HS / 2);
		FA_UNROLL
		for (int d = 0; d < HS / 2; d++)
			yrow[d] = o[d] * inv;
		if (!half)
			lse[(size_t)bh * T + i] = m + logf(l);
	}
}

/* dsum[b][h][i] = dy_i . y_i, the backward's row term; one thread a row. */
__global__ void dsum_kernel(float *dsum, const float *dy, const float *y, int B,
			    int T, int NH, int HS)
{
	size_t row = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
	if (row >= (size_t)B * NH * T)
		return;
	int i = (int)(row % T), bh = (int)(row / T), b = bh / NH, h = bh % NH;
	size_t at = ((size_t)b * T + i) * NH * HS + h * HS;
	float s = 0.0f;
	for (int d = 0; d < HS; d++)
		s += dy[at + d] * y[at + d];
	dsum[row] = s;
}

/* dK and dV of one key tile: a block per (key tile, b * h), looping over the
 * query tiles at and after it. Each warp keeps its 16 keys' gradients in
 * fragments; the scores are recomputed key-major (S^T = K Q^T), so P^T and
 * dS^T are the left operands of dV += P^T dY and dK += dS^T Q. Writes the K
 * and V thirds of dqkv. */
template <int HS>
__global__ void __launch_bounds__(THREADS)
backward_kv_kernel(float *dqkv, const float *qkv, const float *dy, const float *lse,
		   const float *dsum, int T, int NH, float scale)
{
	typedef dims<HS> D;
	FA_DYN_SMEM(smem);
	bf16 *ks = (bf16 *)smem, *vs = ks + D::TILE_H, *qs = vs + D::TILE_H;
	bf16 *dys = qs + D::TILE_H, *ps = dys + D::TILE_H;
	float *ss = (float *)(ps + D::TILE_P), *lses = ss + D::TILE_S, *dss = lses + TILE;
	int kt = blockIdx.x, bh = blockIdx.y, nt = (T + TILE - 1) / TILE;
	int b = bh / NH, h = bh % NH, C = NH * HS;
	int w = threadIdx.x / 32, lane = threadIdx.x % 32, half = lane & 1;
	int r = w * 16 + lane / 2, j = kt * TILE + r;
	size_t stride = 3 * (size_t)C;
	const float *base = qkv + (size_t)b * T * stride + h * HS;
	const float *dybase = dy + (size_t)b * T * C + h * HS;
	float *sw = ss + w * 16 * D::LDS;
	frag_acc dk[HS / 16], dv[HS / 16];

	for (int n = 0; n < HS / 16; n++) {
		wmma::fill_fragment(dk[n], 0.0f);
		wmma::fill_fragment(dv[n], 0.0f);
	}
	load_tile<HS>(ks, base + C, kt * TILE, T, stride);
	load_tile<HS>(vs, base + 2 * C, kt * TILE, T, stride);
	for (int qt = kt; qt < nt; qt++) {
		__syncthreads(); /* the last tile's q, dy, P and row terms are read */
		load_tile<HS>(qs, base, qt * TILE, T, stride);
		load_tile<HS>(dys, dybase, qt * TILE, T, C);
		for (int c = threadIdx.x; c < TILE; c += THREADS) {
			int i = qt * TILE + c;
			lses[c] = i < T ? lse[(size_t)bh * T + i] : 0.0f;
			dss[c] = i < T ? dsum[(size_t)bh * T + i] : 0.0f;
		}
		__syncthreads();
		strip_abt<HS>(sw, ks + w * 16 * D::LDH, qs);
		__syncwarp();

		/* P^T for this lane's 32 queries of its key row */
		float p[TILE / 2];
		int c0 = half * (TILE / 2);
		const float *srow = ss + r * D::LDS + c0;
		bf16 *prow = ps + r * D::LDP + c0;
		FA_UNROLL
		for (int c = 0; c < TILE / 2; c++) {
			int i = qt * TILE + c0 + c;
			p[c] = i >= j && i < T && j < T
				       ? expf(srow[c] * scale - lses[c0 + c])
				       : 0.0f;
			prow[c] = __float2bfloat16(p[c]);
		}
		__syncwarp();
		strip_pb<HS>(dv, ps + w * 16 * D::LDP, dys);
		/* dP^T = V dY^T into the staging rows, then dS^T over P^T */
		strip_abt<HS>(sw, vs + w * 16 * D::LDH, dys);
		__syncwarp();
		FA_UNROLL
		for (int c = 0; c < TILE / 2; c++)
			prow[c] = __float2bfloat16(p[c] * (srow[c] - dss[c0 + c]) * scale);
		__syncwarp();
		strip_pb<HS>(dk, ps + w * 16 * D::LDP, qs);
	}
	__syncwarp();
	float *dbase = dqkv + (size_t)b * T * stride + h * HS;
	store_strip<HS>(dbase + C, stride, kt * TILE + w * 16, T, dk, sw);
	store_strip<HS>(dbase + 2 * C, stride, kt * TILE + w * 16, T, dv, sw);
}

/* dQ of one query tile: a block per (query tile, b * h), looping over the key
 * tiles up to it: dQ += dS K with dS = P (dY V^T - dsum) scale. Writes the Q
 * third of dqkv. */
template <int HS>
__global__ void __launch_bounds__(THREADS)
backward_q_kernel(float *dqkv, const float *qkv, const float *dy, const float *lse,
		  const float *dsum, int T, int NH, float scale)
{
	typedef dims<HS> D;
	FA_DYN_SMEM(smem);
	bf16 *qs = (bf16 *)smem, *dys = qs + D::TILE_H, *ks = dys + D::TILE_H;
	bf16 *vs = ks + D::TILE_H, *ps = vs + D::TILE_H;
	float *ss = (float *)(ps + D::TILE_P);
	int qt = gridDim.x - 1 - blockIdx.x, bh = blockIdx.y;
	int b = bh / NH, h = bh % NH, C = NH * HS;
	int w = threadIdx.x / 32, lane = threadIdx.x % 32, half = lane & 1;
	int r = w * 16 + lane / 2, i = qt * TILE + r;
	size_t stride = 3 * (size_t)C;
	const float *base = qkv + (size_t)b * T * stride + h * HS;
	float *sw = ss + w * 16 * D::LDS;
	float lse_i = i < T ? lse[(size_t)bh * T + i] : 0.0f;
	float dsum_i = i < T ? dsum[(size_t)bh * T + i] : 0.0f;
	frag_acc dq[HS / 16];

	for (int n = 0; n < HS / 16; n++)
		wmma::fill_fragment(dq[n], 0.0f);
	load_tile<HS>(qs, base, qt * TILE, T, stride);
	load_tile<HS>(dys, dy + (size_t)b * T * C + h * HS, qt * TILE, T, C);
	for (int kt = 0; kt <= qt; kt++) {
		__syncthreads(); /* the last tile's k, v and dS are read */
		load_tile<HS>(ks, base + C, kt * TILE, T, stride);
		load_tile<HS>(vs, base + 2 * C, kt * TILE, T, stride);
		__syncthreads();
		strip_abt<HS>(sw, qs + w * 16 * D::LDH, ks);
		__syncwarp();

		float p[TILE / 2];
		int c0 = half * (TILE / 2);
		const float *srow = ss + r * D::LDS + c0;
		FA_UNROLL
		for (int c = 0; c < TILE / 2; c++) {
			int j = kt * TILE + c0 + c;
			p[c] = j <= i && j < T && i < T ? expf(srow[c] * scale - lse_i)
							: 0.0f;
		}
		__syncwarp(); /* the scores are read before dP overwrites them */
		strip_abt<HS>(sw, dys + w * 16 * D::LDH, vs);
		__syncwarp();
		bf16 *prow = ps + r * D::LDP + c0;
		FA_UNROLL
		for (int c = 0; c < TILE / 2; c++)
			prow[c] = __float2bfloat16(p[c] * (srow[c] - dsum_i) * scale);
		__syncwarp();
		strip_pb<HS>(dq, ps + w * 16 * D::LDP, ks);
	}
	__syncwarp();
	store_strip<HS>(dqkv + (size_t)b * T * stride + h * HS, stride,
			qt * TILE + w * 16, T, dq, sw);
}

} /* namespace fa */

#endif
