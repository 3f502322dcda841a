# hookhost: an AWS Lambda custom runtime in C that runs Lua deployment hooks.
#
#   make            build build/hookhost (installs missing Debian packages first)
#   make test       every test: C unit tests, then the end-to-end suites
#   make check      the same tests with the binary and unit tests under ASan + UBSan
#   make demo       the main job: a hook run end to end against local emulators
#   make lint       clang-format check, banned-call check, luacheck
#   make deps       install the Debian packages the build and tests need (idempotent)
#   make clean      remove build/ but the lean libcurl (build/deps); make distclean: all of it
#
# SANITIZER=address,undefined builds into build/san/ instead of build/.
# Build output is one line per step (CC src/aws.c); V=1 shows the full command lines.

CC       ?= cc
CI       ?=
SANITIZER ?=
# ARCH: x86_64 (this machine) or arm64 (cross-built with Debian's gcc-aarch64-linux-gnu, into
# build/arm64/: `make dist ARCH=arm64`). LINK: lean (the default: the Lambda bootstrap, see
# below) or dynamic (Debian's shared libcurl, into build/dynamic/: `make bench` compares them).
ARCH     ?= x86_64
LINK     ?= lean

ifeq ($(ARCH),x86_64)
  TRIPLET := x86_64-linux-gnu
else ifeq ($(ARCH),arm64)
  TRIPLET := aarch64-linux-gnu
  ifeq ($(origin CC),default)
    CC := aarch64-linux-gnu-gcc
  endif
  ifneq ($(LINK),lean)
    $(error ARCH=arm64 is built lean only (LINK=lean))
  endif
else
  $(error ARCH=$(ARCH): expected x86_64 or arm64)
endif
ifneq ($(LINK),lean)
  ifneq ($(LINK),dynamic)
    $(error LINK=$(LINK): expected lean or dynamic)
  endif
endif

ifneq ($(SANITIZER),)
  BUILD := build/san
  SANFLAGS := -fsanitize=$(SANITIZER) -fno-omit-frame-pointer -fno-sanitize-recover=all
  OPT := -O1 -g
else
  BUILD := build
  SANFLAGS :=
  OPT := -O2
endif
ifeq ($(ARCH),arm64)
  BUILD := $(BUILD)/arm64
endif
ifeq ($(LINK),dynamic)
  BUILD := $(BUILD)/dynamic
endif

WARN := -Wall -Wextra -Wshadow -Wundef -Wwrite-strings -Wmissing-prototypes \
        -Wstrict-prototypes -Wpointer-arith -Wcast-qual -Wformat=2 -Wvla \
        -Wimplicit-fallthrough -Wnull-dereference -Wno-unused-parameter
ifeq ($(CI),true)
  WARN += -Werror
endif

LIBDIR     := /usr/lib/$(TRIPLET)
LUA_CFLAGS := -I/usr/include/lua5.4 -I/usr/include/$(TRIPLET)
CPPFLAGS += -D_GNU_SOURCE -Isrc -Ibuild/gen $(LUA_CFLAGS)
CFLAGS   += -std=c11 $(OPT) -g $(WARN) $(SANFLAGS) -MMD -MP
LDFLAGS  += $(SANFLAGS)

# Lua and lua-cjson are always linked statically (no .so to ship).
# lean: libcurl built by scripts/build-curl from Debian's curl source package with HTTP/1.1,
# HTTPS (OpenSSL), proxies and the threaded resolver only (build/deps/<arch>/curl, built once),
# and Debian's static OpenSSL and expat: the binary needs nothing but glibc (libc, libm), whose
# symbols it uses up to GLIBC_2.34 (provided.al2023). expat's arc4random_buf@GLIBC_2.36 is met
# by deploy/compat/arc4random_buf.c, linked in. dynamic: Debian's libcurl, OpenSSL and expat.
CURL_DIR := build/deps/$(ARCH)/curl
CURL_A   := $(CURL_DIR)/lib/libcurl.a
COMPAT_O := $(BUILD)/obj/compat_arc4random_buf.o
ifeq ($(LINK),lean)
  CPPFLAGS := -I$(CURL_DIR)/include $(CPPFLAGS)
  LINK_DEPS := $(CURL_A) $(COMPAT_O)
  LDLIBS   += $(LIBDIR)/liblua5.4-cjson.a $(LIBDIR)/liblua5.4.a $(CURL_A) $(LIBDIR)/libssl.a \
              $(LIBDIR)/libcrypto.a $(LIBDIR)/libexpat.a $(COMPAT_O) -lm -ldl -pthread
else
  LINK_DEPS :=
  LDLIBS   += $(LIBDIR)/liblua5.4-cjson.a $(LIBDIR)/liblua5.4.a -lcurl -lssl -lcrypto -lexpat -lm -ldl
endif
SRCS     := $(wildcard src/*.c)
OBJS     := $(SRCS:src/%.c=$(BUILD)/obj/%.o)
LIB_OBJS := $(filter-out $(BUILD)/obj/main.o,$(OBJS))
TESTS    := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(wildcard tests/unit/test_*.c))
VERSION  := $(shell cat VERSION 2>/dev/null || echo 0.0.0)

# kbuild-style output: `$(Q)` hides a command and `$(call say,CC,$<)` prints one short line.
V ?= 0
ifeq ($(V),1)
  Q :=
  say :=
else
  Q := @
  say = @printf '  %-6s %s\n' '$(1)' '$(2)';
endif

.SECONDARY:
.PHONY: all deps test unit binaries e2e check lint demo clean distclean bench dist fuzz valgrind models
all: deps $(BUILD)/hookhost models

deps:
	@scripts/install-deps

# Every compile waits for `deps` (order-only: it never forces a rebuild), so that `make -j` on a
# fresh machine does not compile against headers that apt-get is still installing.
$(BUILD)/obj/%.o: src/%.c | $(BUILD)/obj deps $(filter $(CURL_A),$(LINK_DEPS))
	$(call say,CC,$<)
	$(Q)$(CC) $(CPPFLAGS) -DHOOKHOST_VERSION='"$(VERSION)"' $(CFLAGS) -c -o $@ $<

$(BUILD)/tests/%.o: tests/unit/%.c | $(BUILD)/tests deps $(filter $(CURL_A),$(LINK_DEPS))
	$(call say,CC,$<)
	$(Q)$(CC) $(CPPFLAGS) -Itests/unit $(CFLAGS) -c -o $@ $<

$(BUILD)/hookhost: $(OBJS) $(LINK_DEPS)
	$(call say,LD,$@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $(OBJS) $(LDLIBS)

# The lean libcurl: scripts/build-curl does nothing when its stamp matches (build/deps survives
# `make clean`; `make distclean` removes it).
$(CURL_A): scripts/build-curl | deps
	$(Q)scripts/build-curl --arch $(ARCH) >/dev/null
	@touch $@

$(COMPAT_O): deploy/compat/arc4random_buf.c | $(BUILD)/obj
	$(call say,CC,$<)
	$(Q)$(CC) -O2 $(SANFLAGS) -fvisibility=hidden -c -o $@ $<

# Every tests/unit/test_<module>.c links against all of src/ but main.c.
$(BUILD)/tests/test_%: $(BUILD)/tests/test_%.o $(LIB_OBJS) $(LINK_DEPS)
	$(call say,LD,$@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $(filter %.o,$(filter-out $(COMPAT_O),$^)) $(LDLIBS)

$(BUILD)/obj $(BUILD)/tests:
	@mkdir -p $@

# Under CI=true (.ci/run), make test also runs every suite again with the binary and the unit
# tests built with ASan + UBSan (build/san), every fuzz target for CI_FUZZ_SECONDS, and the
# end-to-end happy path under valgrind, and closes with one line for all of it.
CI_FUZZ_SECONDS ?= 20
test: all $(TESTS)
ifeq ($(CI),true)
	@$(MAKE) --no-print-directory SANITIZER=address,undefined binaries
	@$(MAKE) --no-print-directory fuzz-build
	@scripts/run-tests --build $(BUILD) --build build/san --fuzz $(CI_FUZZ_SECONDS) --valgrind
else
	@scripts/run-tests --build $(BUILD)
endif

unit: all $(TESTS)
	@scripts/run-tests --build $(BUILD) --unit-only

# Build without running: the binary, the unit tests and the test tools.
binaries: all $(TESTS)

check: deps
	@$(MAKE) --no-print-directory SANITIZER=address,undefined binaries
	@scripts/run-tests --build build/san

demo: all
	@scripts/demo

lint:
	@scripts/lint

# ---- tests/tools: small C drivers for tests and benchmarks, linked like the unit tests ----
TOOLS    := $(patsubst tests/tools/%.c,$(BUILD)/tools/%,$(wildcard tests/tools/*.c))

$(BUILD)/tools/%.o: tests/tools/%.c | $(BUILD)/tools deps $(filter $(CURL_A),$(LINK_DEPS))
	$(call say,CC,$<)
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

$(BUILD)/tools/%: $(BUILD)/tools/%.o $(LIB_OBJS) $(LINK_DEPS)
	$(call say,LD,$@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $(filter %.o,$(filter-out $(COMPAT_O),$^)) $(LDLIBS)

$(BUILD)/tools:
	@mkdir -p $@

test unit binaries: $(TOOLS)
-include $(TOOLS:=.d)
# ---- end tests/tools ----

# ---- models: the AWS service models aws.client() loads (scripts/gen-models) ----
# build/models/<service>/{service-2,paginators-1,waiters-2}.json from a botocore data/ folder
# (Debian's python3-botocore by default; BOTOCORE_DATA=<a newer botocore's data/>), for every
# service or MODEL_SERVICES="ecs elbv2 ..." only, and in the same step build/gen/aws_services.inc,
# the table of every service's id, endpoint prefix and signing name that src/aws.c compiles in.
# Shared by the plain, sanitizer, arm64, dynamic and fuzz builds (the generator runs on the host).
BOTOCORE_DATA  ?= /usr/lib/python3/dist-packages/botocore/data
MODEL_SERVICES ?= all
MODELS_DIR     := build/models
MODELS_KEY     := $(BOTOCORE_DATA) $(strip $(MODEL_SERVICES))
GEN_DIR        := build/gen
SERVICES_INC   := $(GEN_DIR)/aws_services.inc

models: $(MODELS_DIR)/.stamp

# Both are remade when the generator, its arguments or a model file changes (then src/aws.c is
# compiled again: the table's time stamp must be newer than those, or make would rerun this).
$(MODELS_DIR)/.stamp $(SERVICES_INC) &: scripts/gen-models $(MODELS_DIR)/.args \
                      $(wildcard $(BOTOCORE_DATA)/*/*/service-2.json*) | deps
	$(call say,GEN,$(MODELS_DIR) $(SERVICES_INC))
	$(Q)scripts/gen-models --data '$(BOTOCORE_DATA)' --services '$(strip $(MODEL_SERVICES))' \
	    --out $(MODELS_DIR) --prune --c-table $(SERVICES_INC) >/dev/null
	$(Q)touch $(MODELS_DIR)/.stamp $(SERVICES_INC)

$(MODELS_DIR)/.args: FORCE
	@mkdir -p $(@D)
	@echo '$(MODELS_KEY)' | cmp -s - $@ || echo '$(MODELS_KEY)' >$@
.PHONY: FORCE

$(BUILD)/obj/aws.o: $(SERVICES_INC)
# ---- end models ----

# ---- dist: the Lambda packages in build/dist (scripts/package; deploy/README.md) ----
# make dist ARCH=arm64: build/arm64/hookhost, cross-built, into function-arm64.zip and layer-arm64.zip.
# PACKAGE_MODELS: the service models the packages carry: hooks (the 19 services hooks call
# most), all, or a list ("ecs elbv2"); scripts/package --help.
PACKAGE_MODELS ?= hooks
dist: all
	@scripts/package --bin $(BUILD)/hookhost --arch $(ARCH) --models '$(PACKAGE_MODELS)'
# ---- end dist ----

# ---- fuzz: libFuzzer targets in tests/fuzz (scripts/fuzz; tests/fuzz/README.md) ----
# src/ is recompiled with clang and -fsanitize=fuzzer-no-link,address,undefined into build/fuzz/
# (an archive, so a target that includes a src/*.c file or stands in for one links cleanly).
# make fuzz                 build every target and run each for FUZZ_SECONDS (default 60)
# make fuzz FUZZ_TARGETS="fuzz_xml fuzz_ini" FUZZ_SECONDS=600
FUZZ_CC      ?= clang
FUZZ_SECONDS ?= 60
FUZZ_DIR     := build/fuzz
FUZZ_SAN     := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
FUZZ_CFLAGS  := -std=c11 -O1 -g $(WARN) $(FUZZ_SAN) -MMD -MP
FUZZ_ALL     := $(patsubst tests/fuzz/%.c,%,$(wildcard tests/fuzz/fuzz_*.c))
FUZZ_TARGETS ?= $(FUZZ_ALL)
FUZZ_OBJS    := $(patsubst src/%.c,$(FUZZ_DIR)/obj/%.o,$(filter-out src/main.c,$(SRCS)))

$(FUZZ_DIR)/obj/%.o: src/%.c | $(FUZZ_DIR)/obj deps $(filter $(CURL_A),$(LINK_DEPS))
	$(call say,CC,$< (fuzz))
	$(Q)$(FUZZ_CC) $(CPPFLAGS) -DHOOKHOST_VERSION='"$(VERSION)"' $(FUZZ_CFLAGS) \
	    -fsanitize=fuzzer-no-link -c -o $@ $<

$(FUZZ_DIR)/obj/aws.o: $(SERVICES_INC)

$(FUZZ_DIR)/libhookhost.a: $(FUZZ_OBJS)
	@rm -f $@
	$(call say,AR,$@)
	$(Q)ar rcs $@ $^

$(FUZZ_DIR)/fuzz_%: tests/fuzz/fuzz_%.c $(FUZZ_DIR)/libhookhost.a $(LINK_DEPS)
	$(call say,CCLD,$@)
	$(Q)$(FUZZ_CC) $(CPPFLAGS) -Itests/fuzz $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $< \
	    $(FUZZ_DIR)/libhookhost.a $(LDLIBS)

$(FUZZ_DIR)/obj:
	@mkdir -p $@

fuzz-build: deps $(addprefix $(FUZZ_DIR)/,$(FUZZ_ALL))

fuzz: fuzz-build
	@scripts/fuzz --seconds $(FUZZ_SECONDS) $(FUZZ_TARGETS)

-include $(FUZZ_OBJS:.o=.d) $(addprefix $(FUZZ_DIR)/,$(FUZZ_ALL:=.d))

# make valgrind: `hookhost serve` under valgrind memcheck over the end-to-end happy path (parent
# and forked workers; tests/e2e/test_soak.py::test_valgrind_memcheck_happy_path). About a minute.
valgrind: all
	@HOOKHOST_VALGRIND=1 HOOKHOST_BIN="$(CURDIR)/build/hookhost" HOOKHOST_BUILD="$(CURDIR)/build" \
	    /usr/bin/python3 -m pytest -q -s -p no:cacheprovider tests/e2e/test_soak.py -k valgrind
.PHONY: fuzz-build
# ---- end fuzz ----

# ---- bench: hookhost beside a Python + boto3 baseline (bench/, scripts/bench, docs/PERFORMANCE.md) ----
BENCH_BINS := $(BUILD)/bench/empty_full $(BUILD)/bench/empty_nocurl $(BUILD)/bench/empty_crypto \
              $(BUILD)/bench/rapi_floor $(BUILD)/bench/launch $(BUILD)/bench/init_cost

# The link floor: an empty main with exactly hookhost's libraries (--no-as-needed: all loaded),
# without libcurl, and with libcrypto alone.
$(BUILD)/bench/empty_full: bench/floor/empty.c | $(BUILD)/bench
	$(call say,CCLD,$@)
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< -Wl,--no-as-needed $(LDLIBS)

$(BUILD)/bench/empty_nocurl: bench/floor/empty.c | $(BUILD)/bench
	$(call say,CCLD,$@)
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< -Wl,--no-as-needed $(filter-out -lcurl,$(LDLIBS))

$(BUILD)/bench/empty_crypto: bench/floor/empty.c | $(BUILD)/bench
	$(call say,CCLD,$@)
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< -Wl,--no-as-needed -lcrypto

# The emulators' floor: next -> [invalidation] -> report -> response, no script.
$(BUILD)/bench/rapi_floor: bench/floor/rapi_floor.c | $(BUILD)/bench
	$(call say,CCLD,$@)
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $< -lcurl -lcrypto

# Times single start-up steps (OpenSSL and curl init, CA bundle, Lua state and compiling).
$(BUILD)/bench/init_cost: bench/floor/init_cost.c | $(BUILD)/bench
	$(call say,CCLD,$@)
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $< $(LDLIBS)

# Starts each program and reports its start time and wait4 peak RSS (see launch.c for why).
$(BUILD)/bench/launch: bench/floor/launch.c | $(BUILD)/bench
	$(call say,CCLD,$@)
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $<

$(BUILD)/bench:
	@mkdir -p $@

# The dynamic build (LINK=dynamic, build/dynamic) runs beside the lean one, as a row of its own.
bench: all $(BUILD)/tools/sigv4_bench $(BENCH_BINS)
	@$(MAKE) --no-print-directory LINK=dynamic $(BUILD)/dynamic/hookhost $(BUILD)/dynamic/bench/empty_full \
	    $(BUILD)/dynamic/bench/empty_nocurl
	@scripts/bench --build $(BUILD)
-include $(BENCH_BINS:=.d)
# ---- end bench ----

# clean keeps the lean libcurl (build/deps: 90 s to build again); distclean removes it too.
clean:
	@find build -mindepth 1 -maxdepth 1 ! -name deps -exec rm -rf {} + 2>/dev/null || true

distclean:
	rm -rf build

-include $(OBJS:.o=.d) $(TESTS:=.d)
