/* branch.c: `dsv branch [NAME [REV]] [-d NAME]`: list, create or delete
 * branches, the moving names of lines of versions (cmd/refs.c). */
#include "cmd/cmd.h"

int cmd_branch(int argc, char **argv)
{
	return ref_command(argc, argv, 0);
}
