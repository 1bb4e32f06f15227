# One build for everything: the C core (build/libpynvme.a), the CPython
# extension (python/nvme/_nvme*.so, built in place so PYTHONPATH=python works),
# the C unit tests (build/tests/) and the tools (build/tools/).
#
#   make          build everything
#   make check    build and run the C unit tests on the host
#   make clean
#
# SANITIZE=1 (make SANITIZE=1, make SANITIZE=1 check, ...) builds the same things
# with AddressSanitizer and UndefinedBehaviorSanitizer into build/asan/ only, so
# its objects never mix with the normal build's. Its extension is
# build/asan/python/nvme/_nvme*.so, next to copies of the package's .py files:
# with build/asan/python first on PYTHONPATH, `import nvme` loads it instead of
# the normal one. tools/sanitize-run sets up python for it (docs/sanitizers.md).

PYTHON      ?= /usr/bin/python3
CC          ?= gcc
WARNINGS    := -Wall -Wextra -Werror -Wshadow -Wno-unused-parameter -Wstrict-prototypes
ifeq ($(SANITIZE),1)
BUILD       := build/asan
# -O1 keeps stack traces readable at a bearable speed; every UBSan finding is
# fatal (no recovery), like every ASan one, so a report cannot scroll past.
CFLAGS      ?= -O1 -g
SAN_FLAGS   := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
# Makes UBSan honour UBSAN_OPTIONS=log_path beside ASan (see the file).
SAN_OBJS    := $(BUILD)/sanitizer/ubsan_log_path.o
else
BUILD       := build
CFLAGS      ?= -O2 -g
SAN_FLAGS   :=
SAN_OBJS    :=
endif
CFLAGS      += -std=c11 -D_GNU_SOURCE -fPIC -pthread $(WARNINGS) -Ilib $(SAN_FLAGS)
LDFLAGS     += $(SAN_FLAGS)
LDLIBS      := -pthread -lm

LIB_SRCS    := $(wildcard lib/*.c)
LIB_OBJS    := $(LIB_SRCS:%.c=$(BUILD)/%.o)
LIB         := $(BUILD)/libpynvme.a

PY_INCLUDES := $(shell $(PYTHON)-config --includes)
PY_SUFFIX   := $(shell $(PYTHON)-config --extension-suffix)
EXT_SRCS    := $(wildcard python/nvme/ext/*.c)
EXT_OBJS    := $(EXT_SRCS:%.c=$(BUILD)/%.o)
ifeq ($(SANITIZE),1)
EXT         := $(BUILD)/python/nvme/_nvme$(PY_SUFFIX)
PY_FILES    := $(patsubst %,$(BUILD)/%,$(wildcard python/nvme/*.py python/nvme/*/*.py))
else
EXT         := python/nvme/_nvme$(PY_SUFFIX)
PY_FILES    :=
endif

TEST_SRCS   := $(wildcard tests/unit/test_*.c)
TESTS       := $(TEST_SRCS:tests/unit/%.c=$(BUILD)/tests/%)

TOOL_SRCS   := $(wildcard tools/*.c)
TOOLS       := $(TOOL_SRCS:tools/%.c=$(BUILD)/tools/%)

all: $(LIB) $(EXT) $(PY_FILES) $(TESTS) $(TOOLS)

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

$(EXT): $(EXT_OBJS) $(SAN_OBJS) $(LIB)
	$(CC) -shared $(LDFLAGS) -o $@ $(EXT_OBJS) $(SAN_OBJS) $(LIB) $(LDLIBS)

$(BUILD)/sanitizer/%.o: tools/sanitizer/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

# The sanitizer build's package: the pure-Python files beside its extension.
$(BUILD)/python/nvme/%.py: python/nvme/%.py
	@mkdir -p $(dir $@)
	cp $< $@

$(BUILD)/tests/%: tests/unit/%.c $(SAN_OBJS) $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $< -o $@ $(SAN_OBJS) $(LIB) -lcmocka $(LDLIBS)

$(BUILD)/tools/%: tools/%.c $(SAN_OBJS) $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $< -o $@ $(SAN_OBJS) $(LIB) $(LDLIBS)

# Under SANITIZE=1 the unit tests keep leak detection on (they are our own
# programs, unlike python3) and any report fails the test (exit code 1).
SAN_ENV     := ASAN_OPTIONS=detect_leaks=1:halt_on_error=1:abort_on_error=0:strict_string_checks=1:detect_stack_use_after_return=1:check_initialization_order=1 \
               UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
check: $(TESTS)
	@set -e; for t in $(TESTS); do echo "== $$t"; $(if $(SAN_FLAGS),$(SAN_ENV)) $$t; done

clean:
	rm -rf $(BUILD)/lib $(BUILD)/python $(BUILD)/tests $(BUILD)/tools $(BUILD)/sanitizer $(LIB) $(EXT)

.PHONY: all check clean
