# mandate: one Makefile for the library, the two binaries, tests and fuzzers.
#
#   make                      build/mandate, build/mandated, build/libmandate.a
#   make SANITIZE=address,undefined BUILD=build-asan
#   make unit                 build and run the cmocka unit tests
#   make fuzz                 libFuzzer targets (clang) in $(BUILD)/fuzz/
#
# Objects go to $(BUILD)/obj; dependencies are tracked with -MMD.

BUILD    ?= build
CC       ?= cc
SANITIZE ?=
OPT      ?= -O2

PKGS     := jansson openssl libevent libevent_openssl libevent_pthreads libfyaml sqlite3
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null || echo -ljansson -lssl -lcrypto -levent -levent_openssl -levent_pthreads -lfyaml -lsqlite3)

WARN     := -Wall -Wextra -Wshadow -Wno-unused-parameter -Wstrict-prototypes -Wmissing-prototypes \
            -Wformat=2 -Wvla
CFLAGS   ?= $(OPT) -g
CFLAGS   += -std=c11 -D_GNU_SOURCE -fno-strict-aliasing $(WARN) -Isrc -Iinclude $(PKG_CFLAGS) -MMD -MP
LDLIBS   += $(PKG_LIBS) -lm -lpthread

ifneq ($(SANITIZE),)
CFLAGS   += -fsanitize=$(SANITIZE) -fno-omit-frame-pointer -fno-sanitize-recover=all
LDFLAGS  += -fsanitize=$(SANITIZE)
endif
ifneq ($(WERROR),)
CFLAGS   += -Werror
endif

LIB_SRCS := $(sort $(wildcard src/*/*.c))
LIB_OBJS := $(LIB_SRCS:%.c=$(BUILD)/obj/%.o)
CLI_SRCS := $(sort $(wildcard cmd/mandate/*.c))
CLI_OBJS := $(CLI_SRCS:%.c=$(BUILD)/obj/%.o)
D_SRCS   := $(sort $(wildcard cmd/mandated/*.c))
D_OBJS   := $(D_SRCS:%.c=$(BUILD)/obj/%.o)
UNIT_SRCS := $(sort $(wildcard tests/unit/test_*.c))
UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/%)
BENCH_SRCS := $(sort $(wildcard bench/*.c))
BENCH_BINS := $(BENCH_SRCS:bench/%.c=$(BUILD)/bench/%)

.PHONY: all unit bench fuzz clean format
all: $(BUILD)/mandate $(BUILD)/mandated

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c -o $@ $<

# the built-in Cedar schema is assembled into this object (.incbin)
$(BUILD)/obj/src/server/policies.o: policies/mandate.cedarschema

$(BUILD)/libmandate.a: $(LIB_OBJS)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

$(BUILD)/mandate: $(CLI_OBJS) $(BUILD)/libmandate.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/mandated: $(D_OBJS) $(BUILD)/libmandate.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/tests/%: tests/unit/%.c $(BUILD)/libmandate.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(BUILD)/libmandate.a $(LDLIBS) -lcmocka

# the CLI's tests include its sources
$(BUILD)/tests/test_client $(BUILD)/tests/test_svid $(BUILD)/tests/test_task_cmd: $(wildcard cmd/mandate/*.c cmd/mandate/*.h)

unit: $(UNIT_BINS)
	@set -e; fail=0; for t in $(UNIT_BINS); do echo "== $$t"; timeout 300 $$t || { echo "FAILED (or timed out): $$t"; fail=1; }; done; exit $$fail

$(BUILD)/bench/%: bench/%.c $(BUILD)/libmandate.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(BUILD)/libmandate.a $(LDLIBS)

# the benchmark counts allocations made by mandate's code during its timed loop
$(BUILD)/bench/cedar_bench: LDFLAGS += -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc

bench: $(BENCH_BINS)

FUZZ_SRCS := $(sort $(wildcard fuzz/fuzz_*.c))
FUZZ_BINS := $(FUZZ_SRCS:fuzz/%.c=$(BUILD)/fuzz/%)
FUZZ_CFLAGS := -std=c11 -D_GNU_SOURCE -O1 -g -Isrc -Iinclude $(PKG_CFLAGS) \
               -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined

FUZZ_LIB_SRCS := src/core/core.c src/core/json.c $(sort $(wildcard src/cedar/*.c)) src/identity/spiffe.c src/identity/selector.c src/identity/entry.c src/task/scope.c src/task/mandate.c src/task/revoke.c $(sort $(wildcard src/token/*.c))
$(BUILD)/fuzz/%: fuzz/%.c $(FUZZ_LIB_SRCS)
	@mkdir -p $(dir $@)
	clang $(FUZZ_CFLAGS) -o $@ $< $(FUZZ_LIB_SRCS) $(PKG_LIBS) -lm -lpthread

fuzz: $(FUZZ_BINS)

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf $(BUILD)

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
