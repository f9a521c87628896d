# dsv: version control for LLM training data.
#
#   make            build ./dsv (CUDA parts too when nvcc exists)
#   make test       install missing packages, build, run every test
#   make demo       install missing packages, build, run the demo
#   make bench      run the benchmarks in tests/bench
#   make fuzz       build the libFuzzer targets (clang) into build/fuzz
#   make deps       install the Debian packages (as root) or say which
#   make kernels-test   build and run only kernels/ and its tests (GPU machine)
#   SANITIZE=address,undefined   build everything with those sanitizers

CC      ?= cc
SANITIZE ?=
NVCC    ?= $(shell command -v nvcc 2>/dev/null || { test -x /usr/local/cuda/bin/nvcc && echo /usr/local/cuda/bin/nvcc; })
CUDA_HOME ?= $(patsubst %/bin/nvcc,%,$(NVCC))
CUDA_ARCH ?= -gencode arch=compute_90,code=sm_90 -gencode arch=compute_80,code=compute_80

B := build$(if $(SANITIZE),-san)
OPT ?= -O2
CFLAGS  ?= $(OPT) -g
CFLAGS  += -std=c11 -D_GNU_SOURCE -Wall -Wextra -Wno-unused-parameter -Wno-format-truncation -pthread -fopenmp -I.
LDLIBS  := -llmdb -lzstd -lgit2 -lxxhash -lcrypto -ljansson -lz -lpcre2-8 -lm -ldl -pthread -fopenmp
ifneq ($(SANITIZE),)
CFLAGS  += -fsanitize=$(SANITIZE) -fno-omit-frame-pointer -fno-sanitize-recover=all
LDFLAGS += -fsanitize=$(SANITIZE)
endif

# OpenBLAS's cblas_sgemm for the CPU matmuls where its header exists,
# opened at the first matmul (kernels/matmul_cpu.c, which has its own
# blocked sgemm otherwise)
ifneq ($(wildcard /usr/include/x86_64-linux-gnu/cblas.h /usr/include/cblas.h),)
CFLAGS  += -DDSV_HAVE_OPENBLAS
KBLAS   := -ldl
endif

# The CUDA twins go into libdsvcuda.so (with cuBLAS, the CUDA runtime and
# NCCL), which kernels/cuda_shim.c opens the first time a GPU path runs: a
# dsv that linked them would pay ~0.5 s and 200 MiB at every start. The
# library calls back into the binary's kernel helpers, hence -rdynamic and
# the whole kernel archive.
ifneq ($(NVCC),)
HAVE_CUDA := 1
CFLAGS  += -DDSV_HAVE_CUDA
NVFLAGS ?= -O3 -std=c++17 $(CUDA_ARCH) -Xcompiler -fPIC -I.
CUDA_SO := $(B)/libdsvcuda.so
CUDA_SO_LIBS := -L$(CUDA_HOME)/lib64 -Wl,-rpath,$(CUDA_HOME)/lib64 -lcublasLt -lcublas -lcudart_static -ldl -lrt -lstdc++
CUDA_RT := -rdynamic -ldl
WHOLE = -Wl,--whole-archive $(1) -Wl,--no-whole-archive
else
WHOLE = $(1)
endif

# MPI for data-parallel derivations where mpicc exists (cmd/ranks.c); the
# binary still runs without mpirun
MPICC   ?= $(shell command -v mpicc 2>/dev/null)
ifneq ($(MPICC),)
MPI_CFLAGS := $(shell $(MPICC) --showme:compile 2>/dev/null)
MPI_LIBS   := $(shell $(MPICC) --showme:link 2>/dev/null)
endif
ifneq ($(MPI_LIBS),)
HAVE_MPI := 1
$(B)/cmd/ranks.o: CFLAGS += -DDSV_HAVE_MPI $(MPI_CFLAGS)
endif

# NCCL data-parallel training (kernels/nccl_dp.c, cmd/train.c) where nvcc,
# mpicc and nccl.h all exist; elsewhere nccl_dp.c builds as stubs
NCCL_H := $(firstword $(wildcard $(CUDA_HOME)/include/nccl.h /usr/local/include/nccl.h /usr/include/nccl.h))
ifneq ($(and $(HAVE_CUDA),$(HAVE_MPI),$(NCCL_H)),)
NCCL_LIB := $(firstword $(wildcard $(CUDA_HOME)/lib/libnccl.so $(CUDA_HOME)/lib64/libnccl.so /usr/local/lib/libnccl.so /usr/lib/x86_64-linux-gnu/libnccl.so))
ifneq ($(NCCL_LIB),)
HAVE_NCCL := 1
$(B)/kernels/nccl_dp.pic.o: CFLAGS += -fPIC -DDSV_HAVE_NCCL -I$(dir $(NCCL_H)) -I$(CUDA_HOME)/include
$(B)/kernels/cuda_shim.o: CFLAGS += -DDSV_HAVE_NCCL
$(B)/cmd/train.o: CFLAGS += -DDSV_HAVE_NCCL $(MPI_CFLAGS)
CUDA_SO_LIBS += -L$(dir $(NCCL_LIB)) -Wl,-rpath,$(dir $(NCCL_LIB)) -lnccl
endif
endif

# The CPU training kernels' loops call sqrtf; GCC vectorises it only
# without errno, which `#pragma GCC optimize` cannot turn off (gpt_cpu.c).
$(B)/kernels/gpt_cpu.o: CFLAGS += -fno-math-errno

STORE_SRC   := $(wildcard store/*.c)
LINEAGE_SRC := $(wildcard lineage/*.c)
# With NCCL, nccl_dp.c is built into libdsvcuda.so and reached through the
# shim; without, its stubs go into the kernel archive.
KERNELS_SRC := $(filter-out $(if $(HAVE_NCCL),kernels/nccl_dp.c),$(wildcard kernels/*.c))
KERNELS_CU  := $(if $(HAVE_CUDA),$(wildcard kernels/*.cu))
CMD_SRC     := $(wildcard cmd/*.c)
UNIT_SRC    := $(wildcard tests/unit/test_*.c)
KUNIT_SRC   := $(wildcard tests/unit/kernel_*.c)
FUZZ_SRC    := $(wildcard tests/fuzz/fuzz_*.c)

obj = $(patsubst %.c,$(B)/%.o,$(1))
LIBSTORE   := $(B)/libdsvstore.a
LIBLINEAGE := $(B)/libdsvlineage.a
LIBKERNELS := $(B)/libdsvkernels.a
LIBS       := $(LIBLINEAGE) $(LIBSTORE) $(LIBKERNELS)
UNITS      := $(patsubst tests/unit/%.c,$(B)/tests/%,$(UNIT_SRC))
KUNITS     := $(patsubst tests/unit/%.c,$(B)/tests/%,$(KUNIT_SRC))
REPLAYS    := $(patsubst tests/fuzz/fuzz_%.c,$(B)/tests/replay_%,$(FUZZ_SRC))

.PHONY: all deps test unit-test cli-test kernels-test demo bench fuzz clean
all: dsv

# Copied then renamed, so a ./dsv that is running is replaced, not rewritten.
dsv: $(B)/dsv $(CUDA_SO)
	cp $< $@.tmp && mv -f $@.tmp $@
	$(if $(CUDA_SO),cp $(CUDA_SO) libdsvcuda.so.tmp && mv -f libdsvcuda.so.tmp libdsvcuda.so)

$(B)/dsv: $(call obj,$(CMD_SRC)) $(LIBS) | $(CUDA_SO)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $(call obj,$(CMD_SRC)) $(LIBLINEAGE) $(LIBSTORE) $(call WHOLE,$(LIBKERNELS)) $(CUDA_RT) $(LDLIBS) $(MPI_LIBS)

$(CUDA_SO): $(patsubst %.cu,$(B)/%.cu.o,$(KERNELS_CU)) $(if $(HAVE_NCCL),$(B)/kernels/nccl_dp.pic.o)
	$(CXX) -shared -Wl,-Bsymbolic -o $@ $^ $(CUDA_SO_LIBS)

$(B)/%.pic.o: %.c $(wildcard */*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c -o $@ $<

$(B)/%.o: %.c $(wildcard */*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c -o $@ $<

$(B)/%.cu.o: %.cu $(wildcard kernels/*.h kernels/*.cuh)
	@mkdir -p $(dir $@)
	$(NVCC) $(NVFLAGS) -c -o $@ $<

$(LIBSTORE): $(call obj,$(STORE_SRC))
$(LIBLINEAGE): $(call obj,$(LINEAGE_SRC))
$(LIBKERNELS): $(call obj,$(KERNELS_SRC))
$(B)/lib%.a:
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

# tests that compile a cmd/ file in (the expression parser is cmd's)
$(B)/tests/unit/test_expr.o $(B)/tests/fuzz/fuzz_expr.o build/fuzz/fuzz_expr: cmd/expr.c
$(B)/tests/fuzz/fuzz_classifier.o build/fuzz/fuzz_classifier: cmd/classifier_load.c
$(B)/tests/fuzz/fuzz_compute.o build/fuzz/fuzz_compute: cmd/compute_report.c

$(B)/tests/test_%: $(B)/tests/unit/test_%.o $(LIBS)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# Programs over kernels/ alone (no LMDB, no libgit2): they build and run on
# the GPU machine by themselves. tests/bench/*_bench.c are the benchmarks'.
KLINK = $(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(call WHOLE,$(LIBKERNELS)) $(CUDA_RT) $(KBLAS) -lpcre2-8 -lm -pthread -fopenmp
$(B)/tests/kernel_%: $(B)/tests/unit/kernel_%.o $(LIBKERNELS) | $(CUDA_SO)
	$(KLINK)
$(B)/tests/%_bench: $(B)/tests/bench/%_bench.o $(LIBKERNELS) | $(CUDA_SO)
	$(KLINK)
ifneq ($(NVCC),)
# the flash-attention kernels alone, beside PyTorch's SDPA (tests/gpu/run.sh)
$(B)/tests/attention_bench: tests/bench/attention_bench.cu $(wildcard kernels/*.cuh)
	@mkdir -p $(dir $@)
	$(NVCC) $(NVFLAGS) -o $@ $<
endif

# The CUDA emulation (tests/emu/README.md): kernels/*.cu translated to C++
# and run on the CPU, so that the GPU tests also run where there is no GPU.
# It needs the CUDA headers and python3, neither nvcc nor a driver.
ifneq ($(and $(HAVE_CUDA),$(shell command -v python3)),)
# EMU_SAN=address builds build/libdsvcuda-emu-san.so with that sanitizer
# (tests/emu/README.md says how to run it)
EMU     := $(B)/emu$(if $(EMU_SAN),-san)
EMU_SO  := $(B)/libdsvcuda-emu$(if $(EMU_SAN),-san).so
EMU_OBJ := $(patsubst kernels/%.cu,$(EMU)/%.o,$(KERNELS_CU)) $(EMU)/runtime.o
EMU_SANFLAGS := $(if $(EMU_SAN),-fsanitize=$(EMU_SAN) -fno-omit-frame-pointer)
EMU_CXX  = $(CXX) -std=c++17 -O1 -g -fPIC -I. -I$(CUDA_HOME)/include -Wall -Wextra \
	   -Wno-unused-parameter -Wno-sign-compare $(EMU_SANFLAGS)
$(EMU)/%.cc: kernels/%.cu tests/emu/cu2cc.py
	@mkdir -p $(dir $@)
	python3 tests/emu/cu2cc.py $< $@
$(EMU)/%.o: $(EMU)/%.cc tests/emu/emu.hh $(wildcard kernels/*.h kernels/*.cuh)
	$(EMU_CXX) -c -o $@ $<
$(EMU)/runtime.o: tests/emu/runtime.cc tests/emu/emu.hh
	@mkdir -p $(dir $@)
	$(EMU_CXX) $(if $(HAVE_NCCL),-DDSV_EMU_NCCL $(MPI_CFLAGS)) -c -o $@ $<
# with NCCL, kernels/nccl_dp.c too, over the emulated NCCL (MPI underneath)
ifneq ($(HAVE_NCCL),)
EMU_OBJ += $(EMU)/nccl_dp.o
$(EMU)/nccl_dp.o: kernels/nccl_dp.c kernels/nccl_dp.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(EMU_SANFLAGS) -fPIC -DDSV_HAVE_NCCL -I$(CUDA_HOME)/include -c -o $@ $<
endif
$(EMU_SO): $(EMU_OBJ)
	$(CXX) $(EMU_SANFLAGS) -shared -o $@ $^ $(if $(HAVE_NCCL),$(MPI_LIBS))
# kernels/*.cuh straight under the emulation, beside a reference
EMU_TESTS := $(patsubst tests/unit/%.cc,$(B)/tests/%,$(wildcard tests/unit/kernel_*_emu.cc))
$(B)/tests/kernel_%_emu: tests/unit/kernel_%_emu.cc $(EMU)/runtime.o $(wildcard kernels/*.cuh)
	$(EMU_CXX) -O2 -o $@ $< $(EMU)/runtime.o $(if $(HAVE_NCCL),$(MPI_LIBS))
endif

$(patsubst %.c,$(B)/%.o,$(FUZZ_SRC) tests/fuzz/replay.c): $(wildcard tests/fuzz/*.h)
$(B)/tests/replay_%: $(B)/tests/fuzz/fuzz_%.o $(B)/tests/fuzz/replay.o $(LIBS)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)

deps:
	@sh tests/deps.sh

unit-test: $(UNITS) $(KUNITS) $(REPLAYS) $(EMU_SO) $(EMU_TESTS)
	@B=$(B) sh tests/run.sh unit

test: deps
	@$(MAKE) --no-print-directory all $(UNITS) $(KUNITS) $(REPLAYS) $(EMU_SO) $(EMU_TESTS)
	@B=$(B) sh tests/run.sh all

# The quick CLI scripts with dsv itself built as B (SANITIZE=...: .ci/run's
# sanitizer pass). Leaks are not reported: OpenMPI's plugins leak at exit.
CLI_QUICK := t0000 t0010 t0020 t0030 t0040 t0060 t0100 t0110 t0115 t0220 \
	     t0230 t0235 t0250 t0300 t0310 t0400 t0410 t0420 t0500 t0510
cli-test: $(B)/dsv
	@DSV_BIN=$(abspath $(B)/dsv) ASAN_OPTIONS=detect_leaks=0 B=$(B) \
		sh tests/run.sh cli $(CLI_QUICK)

kernels-test: $(KUNITS) $(EMU_SO) $(EMU_TESTS)
	@B=$(B) sh tests/run.sh kernels

demo: deps
	@$(MAKE) --no-print-directory all
	@sh tests/demo.sh

bench: all
	@for s in tests/bench/*.sh; do echo "== $$s"; sh $$s || exit 1; done

# The libFuzzer targets: store, lineage and kernels (plain C, no CUDA) are
# compiled once with coverage into one archive that each target links.
FUZZ_CFLAGS := -std=c11 -D_GNU_SOURCE -O1 -g -I. -fopenmp -fsanitize=address,undefined
FUZZ_LIB    := build/fuzz/libdsvfuzz.a
FUZZ_OBJ    := $(patsubst %.c,build/fuzz/obj/%.o,$(STORE_SRC) $(LINEAGE_SRC) $(wildcard kernels/*.c))
fuzz: $(patsubst tests/fuzz/%.c,build/fuzz/%,$(FUZZ_SRC))
build/fuzz/obj/%.o: %.c $(wildcard */*.h)
	@mkdir -p $(dir $@)
	clang $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c -o $@ $<
$(FUZZ_LIB): $(FUZZ_OBJ)
	rm -f $@ && ar rcs $@ $^
build/fuzz/fuzz_%: tests/fuzz/fuzz_%.c $(wildcard tests/fuzz/*.h) $(FUZZ_LIB)
	clang $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $< $(FUZZ_LIB) $(LDLIBS)

clean:
	rm -rf build build-san dsv libdsvcuda.so
