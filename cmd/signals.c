/* signals.c: the signals that stop a derivation. One that runs external
 * programs (map, synth --verify) catches them, so that it can kill its
 * programs and remove its spool before dying of the signal, committing
 * nothing; split holds them back while it records its two sides.
 */
#include "cmd/cmd.h"

#include <string.h>

const int stop_signals[NSTOP_SIGNALS] = {SIGINT, SIGTERM, SIGHUP};

void stop_signals_catch(void (*handler)(int), struct sigaction old[NSTOP_SIGNALS])
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = handler;
	sa.sa_flags = SA_RESTART;
	sigemptyset(&sa.sa_mask);
	for (int i = 0; i < NSTOP_SIGNALS; i++) {
		sigaction(stop_signals[i], NULL, &old[i]);
		/* an ignored signal stays ignored (nohup, background jobs) */
		if (old[i].sa_handler != SIG_IGN)
			sigaction(stop_signals[i], &sa, NULL);
	}
}

void stop_signals_restore(const struct sigaction old[NSTOP_SIGNALS])
{
	for (int i = 0; i < NSTOP_SIGNALS; i++)
		sigaction(stop_signals[i], &old[i], NULL);
}
