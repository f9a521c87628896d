/* gpt_dispatch.c: the dsv_gpt_* entry points. Shape bookkeeping, GPT-2
 * initialisation and parameter copies shared by both paths, and the run-time
 * choice between gpt_*_cpu and gpt_*_cuda (BLAKE3-style dispatch).
 */
#include "kernels/gpt.h"
#include "kernels/device.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *dsv_gpt_error_last(void)
{
	return dsv_kernel_error_last();
}

static const char *const names[DSV_GPT_NTENSORS] = {
	"wte.weight", "wpe.weight", "h.%d.ln_1.weight", "h.%d.ln_1.bias",
	"h.%d.attn.c_attn.weight", "h.%d.attn.c_attn.bias",
	"h.%d.attn.c_proj.weight", "h.%d.attn.c_proj.bias",
	"h.%d.ln_2.weight", "h.%d.ln_2.bias", "h.%d.mlp.c_fc.weight",
	"h.%d.mlp.c_fc.bias", "h.%d.mlp.c_proj.weight", "h.%d.mlp.c_proj.bias",
	"ln_f.weight", "ln_f.bias",
};

const char *dsv_gpt_tensor_name(int i)
{
	return i >= 0 && i < DSV_GPT_NTENSORS ? names[i] : NULL;
}

int dsv_gpt_tensor_decayed(int i)
{
	return i == DSV_GPT_WTE || i == DSV_GPT_WPE || i == DSV_GPT_QKVW ||
	       i == DSV_GPT_ATTPROJW || i == DSV_GPT_FCW || i == DSV_GPT_FCPROJW;
}

size_t dsv_gpt_param_sizes(const dsv_gpt_config *cfg, size_t s[DSV_GPT_NTENSORS])
{
	if (cfg->max_seq_len <= 0 || cfg->vocab_size <= 0 ||
	    cfg->padded_vocab_size < cfg->vocab_size || cfg->num_layers <= 0 ||
	    cfg->num_heads <= 0 || cfg->channels <= 0 ||
	    cfg->channels % cfg->num_heads)
		return 0;
	size_t C = cfg->channels, L = cfg->num_layers;
	s[DSV_GPT_WTE] = (size_t)cfg->padded_vocab_size * C;
	s[DSV_GPT_WPE] = (size_t)cfg->max_seq_len * C;
	s[DSV_GPT_LN1W] = s[DSV_GPT_LN1B] = L * C;
	s[DSV_GPT_QKVW] = L * 3 * C * C;
	s[DSV_GPT_QKVB] = L * 3 * C;
	s[DSV_GPT_ATTPROJW] = L * C * C;
	s[DSV_GPT_ATTPROJB] = L * C;
	s[DSV_GPT_LN2W] = s[DSV_GPT_LN2B] = L * C;
	s[DSV_GPT_FCW] = L * 4 * C * C;
	s[DSV_GPT_FCB] = L * 4 * C;
	s[DSV_GPT_FCPROJW] = L * C * 4 * C;
	s[DSV_GPT_FCPROJB] = L * C;
	s[DSV_GPT_LNFW] = s[DSV_GPT_LNFB] = C;
	size_t n = 0;
	for (int i = 0; i < DSV_GPT_NTENSORS; i++)
		n += s[i];
	return n;
}

double dsv_gpt_flops_per_token(const dsv_gpt_config *cfg, int T)
{
	size_t s[DSV_GPT_NTENSORS];
	double n = (double)dsv_gpt_param_sizes(cfg, s);
	return 6.0 * n + 6.0 * cfg->num_layers * (double)cfg->channels * T;
}

/* Whether a CUDA device can be used (kernels/device.h: honours
 * $DSV_DEVICE=cpu). */
static int have_device(void)
{
	return dsv_device_count() > 0;
}

int dsv_gpt_new(dsv_gpt **out, const dsv_gpt_config *cfg, int B, int T, int where)
{
	dsv_gpt *m = NULL;
	int rc;
	*out = NULL;
	dsv_gpt_config c = *cfg;
	if (c.padded_vocab_size == 0)
		c.padded_vocab_size = (c.vocab_size + 127) / 128 * 128;
	m = calloc(1, sizeof *m);
	if (!m)
		return dsv_kernel_error(DSV_GPT_ENOMEM, "cannot allocate the model");
	m->cfg = c;
	m->num_params = dsv_gpt_param_sizes(&c, m->sizes);
	if (!m->num_params || B <= 0 || T <= 0 || T > c.max_seq_len) {
		rc = dsv_kernel_error(DSV_GPT_EINVAL, "invalid gpt config (V=%d Vp=%d "
				   "L=%d NH=%d C=%d maxT=%d B=%d T=%d)",
				   c.vocab_size, c.padded_vocab_size, c.num_layers,
				   c.num_heads, c.channels, c.max_seq_len, B, T);
		goto cleanup;
	}
	for (int i = 1; i < DSV_GPT_NTENSORS; i++)
		m->offsets[i] = m->offsets[i - 1] + m->sizes[i - 1];
	m->B = B;
	m->T = T;
	m->mean_loss = -1.0f;
	if (where == DSV_GPT_CUDA && !have_device()) {
		rc = dsv_kernel_error(DSV_GPT_ENOGPU, "no CUDA device");
		goto cleanup;
	}
	m->on_gpu = where == DSV_GPT_CUDA || (where == DSV_GPT_AUTO && have_device());
#ifdef DSV_HAVE_CUDA
	rc = m->on_gpu ? gpt_new_cuda(m) : gpt_new_cpu(m);
#else
	rc = gpt_new_cpu(m);
#endif
	if (rc)
		goto cleanup;
	*out = m;
	return 0;
cleanup:
	dsv_gpt_free(m);
	return rc;
}

void dsv_gpt_free(dsv_gpt *m)
{
	if (!m)
		return;
#ifdef DSV_HAVE_CUDA
	if (m->on_gpu)
		gpt_free_cuda(m);
	else
#endif
		gpt_free_cpu(m);
	free(m);
}

/* splitmix64 (Steele, Lea, Flood 2014): a tiny seeded generator whose
 * stream is the same on every platform. */
static uint64_t splitmix64(uint64_t *s)
{
	uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	return z ^ (z >> 31);
}

/* Box-Muller pairs; uniform in (0,1] from the top 53 bits. */
static void fill_normal(float *p, size_t n, float std, uint64_t *s)
{
	for (size_t i = 0; i < n; i += 2) {
		double u1 = ((splitmix64(s) >> 11) + 1.0) * 0x1.0p-53;
		double u2 = (splitmix64(s) >> 11) * 0x1.0p-53;
		double r = sqrt(-2.0 * log(u1)), a = 2.0 * M_PI * u2;
		p[i] = (float)(std * r * cos(a));
		if (i + 1 < n)
			p[i + 1] = (float)(std * r * sin(a));
	}
}

int dsv_gpt_init(dsv_gpt *m, uint64_t seed)
{
	float *p = m->on_gpu ? malloc(m->num_params * sizeof(float)) : m->params;
	if (!p)
		return dsv_kernel_error(DSV_GPT_ENOMEM, "cannot allocate %zu bytes",
				     m->num_params * sizeof(float));
	uint64_t s = seed;
	float resid = 0.02f / sqrtf(2.0f * m->cfg.num_layers);
	for (int i = 0; i < DSV_GPT_NTENSORS; i++) {
		float *t = p + m->offsets[i];
		size_t n = m->sizes[i];
		switch (i) {
		case DSV_GPT_LN1W: case DSV_GPT_LN2W: case DSV_GPT_LNFW:
			for (size_t j = 0; j < n; j++)
				t[j] = 1.0f;
			break;
		case DSV_GPT_WTE:
			n = (size_t)m->cfg.vocab_size * m->cfg.channels;
			fill_normal(t, n, 0.02f, &s);
			memset(t + n, 0, (m->sizes[i] - n) * sizeof(float));
			break;
		case DSV_GPT_WPE: case DSV_GPT_QKVW: case DSV_GPT_FCW:
			fill_normal(t, n, 0.02f, &s);
			break;
		case DSV_GPT_ATTPROJW: case DSV_GPT_FCPROJW:
			fill_normal(t, n, resid, &s);
			break;
		default:
			memset(t, 0, n * sizeof(float));
		}
	}
	int rc = 0;
	if (m->on_gpu) {
		rc = dsv_gpt_set_params(m, p);
		free(p);
	} else if (m->m) {
		memset(m->m, 0, m->num_params * sizeof(float));
		memset(m->v, 0, m->num_params * sizeof(float));
	}
	return rc;
}

#ifdef DSV_HAVE_CUDA
#define DISPATCH(cpu, cuda) (m->on_gpu ? (cuda) : (cpu))
#else
#define DISPATCH(cpu, cuda) (cpu)
#endif

int dsv_gpt_set_params(dsv_gpt *m, const float *host)
{
	if (!m->on_gpu) {
		memcpy(m->params, host, m->num_params * sizeof(float));
		if (m->m) {
			memset(m->m, 0, m->num_params * sizeof(float));
			memset(m->v, 0, m->num_params * sizeof(float));
		}
		return 0;
	}
	return DISPATCH(0, gpt_copy_cuda(m, (float *)host, 0, 1));
}

int dsv_gpt_get_params(const dsv_gpt *m, float *host)
{
	if (!m->on_gpu) {
		memcpy(host, m->params, m->num_params * sizeof(float));
		return 0;
	}
	return DISPATCH(0, gpt_copy_cuda((dsv_gpt *)m, host, 0, 0));
}

int dsv_gpt_get_grads(const dsv_gpt *m, float *host)
{
	if (!m->on_gpu) {
		memcpy(host, m->grads, m->num_params * sizeof(float));
		return 0;
	}
	return DISPATCH(0, gpt_copy_cuda((dsv_gpt *)m, host, 1, 0));
}

int dsv_gpt_get_moments(const dsv_gpt *m, float *mh, float *vh)
{
	size_t bytes = m->num_params * sizeof(float);
	if (!m->on_gpu) {
		if (!m->m) {
			memset(mh, 0, bytes);
			memset(vh, 0, bytes);
			return 0;
		}
		memcpy(mh, m->m, bytes);
		memcpy(vh, m->v, bytes);
		return 0;
	}
	int rc = DISPATCH(0, gpt_copy_cuda((dsv_gpt *)m, mh, 2, 0));
	return rc ? rc : DISPATCH(0, gpt_copy_cuda((dsv_gpt *)m, vh, 3, 0));
}

int dsv_gpt_set_moments(dsv_gpt *m, const float *mh, const float *vh)
{
	size_t bytes = m->num_params * sizeof(float);
	if (!m->on_gpu) {
		int rc = gpt_moments_cpu(m);
		if (rc)
			return rc;
		memcpy(m->m, mh, bytes);
		memcpy(m->v, vh, bytes);
		return 0;
	}
	int rc = DISPATCH(0, gpt_copy_cuda(m, (float *)mh, 2, 1));
	return rc ? rc : DISPATCH(0, gpt_copy_cuda(m, (float *)vh, 3, 1));
}

static int check_batch(const dsv_gpt *m, const int *inputs, int B, int T)
{
	if (B <= 0 || T <= 0 || B > m->B || T > m->T)
		return dsv_kernel_error(DSV_GPT_EINVAL, "batch %dx%d exceeds the "
				     "model's %dx%d", B, T, m->B, m->T);
	for (size_t i = 0; i < (size_t)B * T; i++)
		if (inputs[i] < 0 || inputs[i] >= m->cfg.vocab_size)
			return dsv_kernel_error(DSV_GPT_EINVAL, "token %d at %zu "
					     "outside the vocabulary of %d",
					     inputs[i], i, m->cfg.vocab_size);
	return 0;
}

int dsv_gpt_forward(dsv_gpt *m, const int *inputs, const int *targets, int B, int T)
{
	int rc = check_batch(m, inputs, B, T);
	if (rc)
		return rc;
	if (targets)
		for (size_t i = 0; i < (size_t)B * T; i++)
			if (targets[i] < -1 || targets[i] >= m->cfg.vocab_size)
				return dsv_kernel_error(DSV_GPT_EINVAL, "target %d at "
						     "%zu outside the vocabulary",
						     targets[i], i);
	return DISPATCH(gpt_forward_cpu(m, inputs, targets, B, T),
			gpt_forward_cuda(m, inputs, targets, B, T));
}

int dsv_gpt_get_logits(const dsv_gpt *m, float *host)
{
	return DISPATCH(gpt_get_logits_cpu(m, host), gpt_get_logits_cuda(m, host));
}

int dsv_gpt_get_losses(const dsv_gpt *m, float *host)
{
	return DISPATCH(gpt_get_losses_cpu(m, host), gpt_get_losses_cuda(m, host));
}

double dsv_gpt_gpu_seconds(const dsv_gpt *m)
{
	return DISPATCH(0.0, gpt_gpu_seconds_cuda(m));
}

void dsv_gpt_zero_grad(dsv_gpt *m)
{
#ifdef DSV_HAVE_CUDA
	if (m->on_gpu) {
		gpt_zero_grad_cuda(m);
		return;
	}
#endif
	memset(m->grads, 0, m->num_params * sizeof(float));
}

int dsv_gpt_backward(dsv_gpt *m, float scale)
{
	if (m->mean_loss < 0)
		return dsv_kernel_error(DSV_GPT_EINVAL, "backward needs a forward "
				     "with targets first");
	return DISPATCH(gpt_backward_cpu(m, scale), gpt_backward_cuda(m, scale));
}

int dsv_gpt_update(dsv_gpt *m, const dsv_gpt_adamw *opt, int step, float *grad_norm)
{
	if (step < 1 || opt->lr < 0 || opt->beta1 < 0 || opt->beta1 >= 1 ||
	    opt->beta2 < 0 || opt->beta2 >= 1 || opt->eps <= 0)
		return dsv_kernel_error(DSV_GPT_EINVAL, "invalid AdamW settings "
				     "(step %d)", step);
	return DISPATCH(gpt_update_cpu(m, opt, step, grad_norm),
			gpt_update_cuda(m, opt, step, grad_norm));
}
