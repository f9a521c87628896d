/* tag.c: `dsv tag [NAME [REV]] [-d NAME]`: list, create or delete tags, the
 * fixed names of versions such as "v1" or "edu-3" (cmd/refs.c). */
#include "cmd/cmd.h"

int cmd_tag(int argc, char **argv)
{
	return ref_command(argc, argv, 1);
}
