/* kernel_attention_emu.cc: runs the flash-attention kernels of
 * kernels/attention.cuh on the CPU (the CUDA emulation, tests/emu, whose
 * ldmatrix and mma.sync give each lane the elements the PTX ISA says) and
 * compares the output, the logsumexps and the q, k, v gradients with
 * causal attention computed in double from the same bf16-rounded inputs.
 * The kernels round P and dS to bf16 for the tensor cores, hence the
 * tolerance. What this cannot show is the speed and the tensor cores' own
 * rounding; tests/unit/kernel_gpt.c checks the whole model on a GPU.
 */
#include "tests/emu/emu.hh"

#include "kernels/attention.cuh"

#include <vector>

static int failures;

#define CHECK(cond)                                                          \
	do {                                                                 \
		if (!(cond)) {                                               \
			printf("  %s:%d: check failed: %s\n", __FILE__,      \
			       __LINE__, #cond);                             \
			ok = false;                                          \
		}                                                            \
	} while (0)

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;

/* a normal deviate rounded to bf16, as the kernels see their inputs */
static float randn_bf16(float sd)
{
	double u[2];
	for (double &x : u) {
		rng_state ^= rng_state << 13;
		rng_state ^= rng_state >> 7;
		rng_state ^= rng_state << 17;
		x = ((rng_state >> 11) + 0.5) / 9007199254740992.0;
	}
	float f = (float)(sd * sqrt(-2.0 * log(u[0])) * cos(6.283185307179586 * u[1]));
	return __bfloat162float(__float2bfloat16(f));
}

struct shape {
	int B, T, NH, HS;
	float sd;
};

/* Causal attention and its gradients in double, layouts as in gpt.cu. */
static void reference(const shape &s, const std::vector<float> &qkv,
		      const std::vector<float> &dy, std::vector<double> &y,
		      std::vector<double> &lse, std::vector<double> &dqkv)
{
	int T = s.T, NH = s.NH, HS = s.HS, C = NH * HS;
	double scale = 1.0 / sqrt((double)HS);
	y.assign((size_t)s.B * T * C, 0.0);
	lse.assign((size_t)s.B * NH * T, 0.0);
	dqkv.assign((size_t)s.B * T * 3 * C, 0.0);
	std::vector<double> p(T), dp(T);
	for (int b = 0; b < s.B; b++)
		for (int h = 0; h < NH; h++)
			for (int i = 0; i < T; i++) {
				auto at = [&](int t, int part) {
					return ((size_t)b * T + t) * 3 * C + part * C + h * HS;
				};
				const float *q = &qkv[at(i, 0)];
				double mx = -INFINITY, sum = 0.0;
				for (int j = 0; j <= i; j++) {
					const float *k = &qkv[at(j, 1)];
					double d = 0.0;
					for (int e = 0; e < HS; e++)
						d += (double)q[e] * k[e];
					p[j] = d * scale;
					mx = fmax(mx, p[j]);
				}
				for (int j = 0; j <= i; j++)
					sum += p[j] = exp(p[j] - mx);
				lse[((size_t)b * NH + h) * T + i] = mx + log(sum);
				double *yi = &y[((size_t)b * T + i) * C + h * HS];
				const float *dyi = &dy[((size_t)b * T + i) * C + h * HS];
				for (int j = 0; j <= i; j++) {
					p[j] /= sum;
					for (int e = 0; e < HS; e++)
						yi[e] += p[j] * qkv[at(j, 2) + e];
				}
				double D = 0.0;
				for (int e = 0; e < HS; e++)
					D += dyi[e] * yi[e];
				for (int j = 0; j <= i; j++) {
					double d = 0.0;
					for (int e = 0; e < HS; e++)
						d += (double)dyi[e] * qkv[at(j, 2) + e];
					double ds = p[j] * (d - D) * scale;
					for (int e = 0; e < HS; e++) {
						dqkv[at(i, 0) + e] += ds * qkv[at(j, 1) + e];
						dqkv[at(j, 1) + e] += ds * q[e];
						dqkv[at(j, 2) + e] += p[j] * dyi[e];
					}
				}
			}
}

/* max |got - want| / max |want|, and the same over root-mean-squares */
static void errors(const float *got, const std::vector<double> &want, double *maxrel,
		   double *rmsrel)
{
	double mx = 0.0, mref = 0.0, se = 0.0, sr = 0.0;
	for (size_t n = 0; n < want.size(); n++) {
		double e = fabs(got[n] - want[n]);
		mx = fmax(mx, e);
		mref = fmax(mref, fabs(want[n]));
		se += e * e;
		sr += want[n] * want[n];
	}
	*maxrel = mref > 0 ? mx / mref : mx;
	*rmsrel = sr > 0 ? sqrt(se / sr) : sqrt(se);
}

template <int HS> static bool run(const shape &s)
{
	int T = s.T, NH = s.NH, C = NH * HS, nt = (T + fa::TILE - 1) / fa::TILE;
	size_t rows = (size_t)s.B * NH * T;
	float scale = 1.0f / sqrtf((float)HS);
	std::vector<float> qkv((size_t)s.B * T * 3 * C), dy((size_t)s.B * T * C);
	for (float &x : qkv)
		x = randn_bf16(s.sd);
	for (float &x : dy)
		x = randn_bf16(1.0f);
	/* NaN where nothing is written: a kernel that skips an element shows */
	std::vector<__nv_bfloat16> y((size_t)s.B * T * C, __float2bfloat16(NAN));
	std::vector<float> lse(rows, NAN), dsum(rows, NAN), dqkv(qkv.size(), NAN);
	__nv_bfloat16 *py = y.data();
	float *plse = lse.data(), *pdsum = dsum.data(), *pdqkv = dqkv.data();
	const float *pqkv = qkv.data(), *pdy = dy.data();
	dim3 grid(nt, s.B * NH);

	cudaFuncSetAttribute(fa::forward_kernel<HS>, cudaFuncAttributeMaxDynamicSharedMemorySize,
			     (int)fa::forward_smem<HS>());
	cudaFuncSetAttribute(fa::backward_kv_kernel<HS>, cudaFuncAttributeMaxDynamicSharedMemorySize,
			     (int)fa::backward_smem<HS>());
	cudaFuncSetAttribute(fa::backward_q_kernel<HS>, cudaFuncAttributeMaxDynamicSharedMemorySize,
			     (int)fa::backward_smem<HS>());
	emu::launch(emu::fn(fa::forward_kernel<HS>), grid, dim3(fa::THREADS),
		    fa::forward_smem<HS>(),
		    [&] { fa::forward_kernel<HS>(py, plse, pqkv, T, NH, scale); });
	emu::launch(emu::fn(fa::backward_q_kernel<HS>), grid, dim3(fa::THREADS),
		    fa::backward_smem<HS>(), [&] {
			    fa::backward_q_kernel<HS>(pdqkv, pdsum, pqkv, py, pdy, plse, T,
						      NH, scale);
		    });
	emu::launch(emu::fn(fa::backward_kv_kernel<HS>), grid, dim3(fa::THREADS),
		    fa::backward_smem<HS>(), [&] {
			    fa::backward_kv_kernel<HS>(pdqkv, pqkv, pdy, plse, pdsum, T,
						       NH, scale);
		    });

	std::vector<double> ry, rlse, rdqkv;
	reference(s, qkv, dy, ry, rlse, rdqkv);
	double ym, yr, lm, lr, gm, gr;
	std::vector<float> yf(y.size());
	for (size_t n = 0; n < y.size(); n++)
		yf[n] = __bfloat162float(y[n]);
	errors(yf.data(), ry, &ym, &yr);
	errors(plse, rlse, &lm, &lr);
	errors(pdqkv, rdqkv, &gm, &gr);
	printf("  result B=%d T=%d NH=%d HS=%d sd=%.1f: y max %.2e rms %.2e, lse max %.2e, "
	       "dqkv max %.2e rms %.2e (relative)\n", s.B, T, NH, HS, s.sd, ym, yr,
	       lm, gm, gr);
	bool ok = true;
	CHECK(ym < 5e-3 && yr < 3e-3);
	CHECK(lm < 1e-4);
	/* The row terms dY . Y come from the bf16 output, as FlashAttention-2
	 * takes them, and dS = P (dP - dY . Y) cancels where attention is
	 * sharp (dP near the row term), which magnifies their rounding:
	 * with sd 3 about 6e-3 against 2e-3. */
	double grad_rms = s.sd > 2.0f ? 1e-2 : 5e-3;
	CHECK(gm < 2 * grad_rms && gr < grad_rms);
	return ok;
}

static const char *suffix = "";

static void test(const char *name, bool ok)
{
	printf("%s %s%s\n", ok ? "PASS" : "FAIL", name, suffix);
	fflush(stdout);
	failures += !ok;
}

static void run_all(void)
{
	test("test_flash_one_token", run<64>({1, 1, 1, 64, 1.0f}));
	test("test_flash_hs64_partial_tiles", run<64>({2, 100, 3, 64, 1.0f}));
	test("test_flash_hs64_sharp", run<64>({1, 200, 2, 64, 3.0f}));
	test("test_flash_hs32", run<32>({1, 130, 2, 32, 1.0f}));
	test("test_flash_hs16_whole_tile", run<16>({1, 64, 1, 16, 1.0f}));
	test("test_flash_hs128", run<128>({1, 70, 1, 128, 1.0f}));
	test("test_flash_hs128_steps", run<128>({1, 150, 2, 128, 2.0f}));
	test("test_flash_hs16_partial", run<16>({3, 37, 2, 16, 1.0f}));
}

int main(void)
{
	run_all();
	/* again with each block's threads run last first, which a missing
	 * barrier cannot survive both ways (DSV_EMU_ORDER, tests/emu/README.md) */
	setenv("DSV_EMU_ORDER", "reverse", 1);
	suffix = " (threads in reverse)";
	run_all();
	return failures ? 1 : 0;
}
