/* derive_ops.h: the table of `dsv derive` ops, one DERIVE_OP(name, summary)
 * line per op; cmd/op_<name>.c defines `int derive_<name>(int argc, char
 * **argv)` (argv[0] is the op name). Add a line to add an op.
 */
DERIVE_OP(filter, "keep records that pass heuristic rules or a --where expression")
DERIVE_OP(dedup, "drop exact (--exact) or near (--fuzzy) duplicate records")
DERIVE_OP(annotate, "write columns: heuristic statistics (--stats), a classifier score, a perplexity (--model)")
DERIVE_OP(sample, "a seeded random subset: --fraction F or --n N records")
DERIVE_OP(mix, "one version from several: A:w B:w ... as repeats or to --records/--tokens")
DERIVE_OP(split, "two disjoint versions NAME-train and NAME-valid (--valid F)")
DERIVE_OP(map, "pipe records through an external program (--cmd) into new records")
DERIVE_OP(rephrase, "rewrite each record with a model (--model M --template FILE)")
DERIVE_OP(synth, "generate records with a model (--model M --n N [--verify CMD]); no REV")
