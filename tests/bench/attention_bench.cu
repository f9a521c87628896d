/* attention_bench.cu: the flash-attention kernels of kernels/attention.cuh
 * by themselves, timed with events at GPT-2 124M's shape by default (B=16,
 * T=1024, NH=12, head size 64): forward, backward, and both. TFLOP/s are
 * counted as FlashAttention's own benchmark counts them (causal forward
 * 2 B NH T^2 HS, the backward 2.5 times that), so that they compare with
 * tests/bench/attention_torch.py (PyTorch SDPA on the same shape) and with
 * published figures; the backward here does more work than that count (it
 * recomputes the scores in each of its two kernels).
 *
 *   attention_bench [B T NH iters]
 */
#include "kernels/attention.cuh"

#include <cuda_runtime.h>
#include <stdio.h>
#include <stdlib.h>

#define CHECK(call)                                                          \
	do {                                                                 \
		cudaError_t e_ = (call);                                     \
		if (e_ != cudaSuccess) {                                     \
			fprintf(stderr, "attention_bench: %s: %s\n", #call,  \
				cudaGetErrorString(e_));                     \
			exit(1);                                             \
		}                                                            \
	} while (0)

enum { HS = 64 };

/* values in [-1, 1) from the element's index: no host copy needed */
__global__ void fill_kernel(float *p, size_t n, unsigned seed)
{
	size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
	if (i < n) {
		unsigned h = (unsigned)i * 2654435761u ^ seed;
		h ^= h >> 15;
		h *= 2246822519u;
		h ^= h >> 13;
		p[i] = (float)(h >> 8) / 8388608.0f - 1.0f;
	}
}

static void fill(float *p, size_t n, unsigned seed)
{
	fill_kernel<<<(unsigned)((n + 255) / 256), 256>>>(p, n, seed);
}

int main(int argc, char **argv)
{
	int B = argc > 1 ? atoi(argv[1]) : 16, T = argc > 2 ? atoi(argv[2]) : 1024;
	int NH = argc > 3 ? atoi(argv[3]) : 12, iters = argc > 4 ? atoi(argv[4]) : 20;
	int count = 0;
	if (cudaGetDeviceCount(&count) != cudaSuccess || count == 0) {
		printf("SKIP attention_bench: no CUDA device\n");
		return 0;
	}
	int C = NH * HS;
	size_t n = (size_t)B * T * C, rows = (size_t)B * NH * T;
	float *qkv, *dy, *dqkv, *lse, *dsum;
	fa::bf16 *y;
	CHECK(cudaMalloc(&qkv, 3 * n * sizeof(float)));
	CHECK(cudaMalloc(&dy, n * sizeof(float)));
	CHECK(cudaMalloc(&dqkv, 3 * n * sizeof(float)));
	CHECK(cudaMalloc(&y, n * sizeof(fa::bf16)));
	CHECK(cudaMalloc(&lse, rows * sizeof(float)));
	CHECK(cudaMalloc(&dsum, rows * sizeof(float)));
	fill(qkv, 3 * n, 1);
	fill(dy, n, 2);
	size_t fs = fa::forward_smem<HS>(), bs = fa::backward_smem<HS>();
	CHECK(cudaFuncSetAttribute(fa::forward_kernel<HS>,
				   cudaFuncAttributeMaxDynamicSharedMemorySize, (int)fs));
	CHECK(cudaFuncSetAttribute(fa::backward_q_kernel<HS>,
				   cudaFuncAttributeMaxDynamicSharedMemorySize, (int)bs));
	CHECK(cudaFuncSetAttribute(fa::backward_kv_kernel<HS>,
				   cudaFuncAttributeMaxDynamicSharedMemorySize, (int)bs));
	dim3 grid((T + fa::TILE - 1) / fa::TILE, B * NH);
	float scale = 0.125f;
	cudaEvent_t e[3];
	for (cudaEvent_t &x : e)
		CHECK(cudaEventCreate(&x));
	float fwd = 0.0f, bwd = 0.0f;
	for (int it = -3; it < iters; it++) { /* three warm-up rounds */
		CHECK(cudaEventRecord(e[0]));
		fa::forward_kernel<HS><<<grid, fa::THREADS, fs>>>(y, lse, qkv, T, NH, scale);
		CHECK(cudaEventRecord(e[1]));
		fa::backward_q_kernel<HS><<<grid, fa::THREADS, bs>>>(dqkv, dsum, qkv, y, dy,
								     lse, T, NH, scale);
		fa::backward_kv_kernel<HS><<<grid, fa::THREADS, bs>>>(dqkv, qkv, dy, lse,
								      dsum, T, NH, scale);
		CHECK(cudaEventRecord(e[2]));
		CHECK(cudaEventSynchronize(e[2]));
		CHECK(cudaGetLastError());
		float f, b;
		CHECK(cudaEventElapsedTime(&f, e[0], e[1]));
		CHECK(cudaEventElapsedTime(&b, e[1], e[2]));
		if (it >= 0) {
			fwd += f;
			bwd += b;
		}
	}
	fwd /= iters;
	bwd /= iters;
	double flops = 2.0 * B * NH * (double)T * T * HS; /* causal forward */
	cudaDeviceProp prop;
	CHECK(cudaGetDeviceProperties(&prop, 0));
	printf("attention (%s): B=%d T=%d NH=%d HS=%d, mma.sync flash kernels\n", prop.name,
	       B, T, NH, HS);
	printf("  result dsv attention forward %.3f ms %.1f TFLOP/s, backward %.3f ms "
	       "%.1f TFLOP/s, both %.3f ms %.1f TFLOP/s\n", fwd, flops / fwd / 1e9, bwd,
	       2.5 * flops / bwd / 1e9, fwd + bwd, 3.5 * flops / (fwd + bwd) / 1e9);
	return 0;
}
