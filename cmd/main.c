/* main.c: the dsv command table and dispatch (placeholder until cmd/ lands). */
#include <stdio.h>

int main(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	fprintf(stderr, "dsv: error: not built yet\n");
	return 1;
}
