# One build for everything: the C core (build/libpynvme.a), the CPython
# extension (python/nvme/_nvme*.so, built in place so PYTHONPATH=python works),
# the C unit tests (build/tests/) and the tools (build/tools/).
#
#   make          build everything
#   make check    build and run the C unit tests on the host
#   make clean

PYTHON      ?= /usr/bin/python3
CC          ?= gcc
BUILD       := build
WARNINGS    := -Wall -Wextra -Werror -Wshadow -Wno-unused-parameter -Wstrict-prototypes
CFLAGS      ?= -O2 -g
CFLAGS      += -std=c11 -D_GNU_SOURCE -fPIC -pthread $(WARNINGS) -Ilib
LDLIBS      := -pthread -lm

LIB_SRCS    := $(wildcard lib/*.c)
LIB_OBJS    := $(LIB_SRCS:%.c=$(BUILD)/%.o)
LIB         := $(BUILD)/libpynvme.a

PY_INCLUDES := $(shell $(PYTHON)-config --includes)
PY_SUFFIX   := $(shell $(PYTHON)-config --extension-suffix)
EXT_SRCS    := $(wildcard python/nvme/ext/*.c)
EXT_OBJS    := $(EXT_SRCS:%.c=$(BUILD)/%.o)
EXT         := python/nvme/_nvme$(PY_SUFFIX)

TEST_SRCS   := $(wildcard tests/unit/test_*.c)
TESTS       := $(TEST_SRCS:tests/unit/%.c=$(BUILD)/tests/%)

TOOL_SRCS   := $(wildcard tools/*.c)
TOOLS       := $(TOOL_SRCS:tools/%.c=$(BUILD)/tools/%)

all: $(LIB) $(EXT) $(TESTS) $(TOOLS)

$(BUILD)/lib/%.o: lib/%.c $(wildcard lib/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

$(LIB): $(LIB_OBJS)
	rm -f $@
	ar rcs $@ $^

# The CPython API needs a few non-ISO constructs; keep every warning but allow them.
$(BUILD)/python/%.o: python/%.c $(wildcard python/nvme/ext/*.h) $(wildcard lib/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -std=gnu11 $(PY_INCLUDES) -fvisibility=hidden -c $< -o $@

$(EXT): $(EXT_OBJS) $(LIB)
	$(CC) -shared -o $@ $(EXT_OBJS) $(LIB) $(LDLIBS)

$(BUILD)/tests/%: tests/unit/%.c $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $< -o $@ $(LIB) -lcmocka $(LDLIBS)

$(BUILD)/tools/%: tools/%.c $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $< -o $@ $(LIB) $(LDLIBS)

check: $(TESTS)
	@set -e; for t in $(TESTS); do echo "== $$t"; $$t; done

clean:
	rm -rf $(BUILD)/lib $(BUILD)/python $(BUILD)/tests $(BUILD)/tools $(LIB) $(EXT)

.PHONY: all check clean
