/* rnd.h: the pseudo-random stream of the GPT, generator and BPE kernel
 * tests (a 64-bit LCG, Knuth's MMIX constants), which main seeds with
 * test_seed() so that a failure can be replayed. Shall only be included by
 * tests/unit/kernel_*.c.
 */
#ifndef DSV_TEST_RND_H
#define DSV_TEST_RND_H

#include <stdint.h>

static uint64_t rng_state;

static inline uint32_t rnd(void)
{
	rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
	return (uint32_t)(rng_state >> 33);
}

/* [0, 1) */
static inline float urand(void) { return rnd() / 2147483648.0f; }

#endif
