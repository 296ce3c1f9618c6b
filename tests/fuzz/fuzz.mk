# Fuzz targets (included by the Makefile; see tests/fuzz/README.md).
#
#   make fuzz [FUZZ_SECONDS=60] [FUZZ_TARGETS="mail wav"]
#       build every tests/fuzz/fuzz_NAME.c and run each for FUZZ_SECONDS from
#       its committed seeds (tests/fuzz/corpus/NAME/); prints executions per target
#   make fuzz-build
#       only build them (build/fuzz/fuzz_NAME)
#
# clang's libFuzzer with ASan and UBSan (a UB report is a crash, not a line in
# a log).  The engine is compiled once for all targets into build/fuzz/obj;
# a target that reads a plugin's parser names the plugin source below
# (plugin sources call vm_* host functions, which the engine objects define).

FUZZ_CC      ?= clang
FUZZ_SECONDS ?= 60
FUZZ_DIR     := build/fuzz
FUZZ_SANS    := address,undefined
FUZZ_COVER    = -fsanitize=fuzzer-no-link
FUZZ_CFLAGS   = -std=c11 -D_GNU_SOURCE -g -O1 $(WARN) -fno-omit-frame-pointer \
                $(FUZZ_COVER) -fsanitize=$(FUZZ_SANS) -fno-sanitize-recover=undefined \
                -Iinclude -iquote engine $(PKG_CFLAGS) -MMD -MP
FUZZ_SRC     := $(sort $(wildcard tests/fuzz/fuzz_*.c))
FUZZ_BIN     := $(FUZZ_SRC:tests/fuzz/%.c=$(FUZZ_DIR)/%)
FUZZ_LIB_OBJ := $(patsubst %.c,$(FUZZ_DIR)/obj/%.o,$(filter-out engine/runtime/cli/main.c,$(ENGINE_SRC)))

# What a target needs besides the engine and its own file.
FUZZ_EXTRA_fuzz_mail       := tests/fuzz/mail_check.c
FUZZ_EXTRA_fuzz_s3list     := plugins/locate-s3/s3list.c
FUZZ_EXTRA_fuzz_mkv        := plugins/locate-kvs/mkv.c plugins/locate-kvs/kvs_audio.c
FUZZ_EXTRA_fuzz_transcript := plugins/transcribe-aws/transcript.c
FUZZ_EXTRA_fuzz_sms        := plugins/notify-sms/segments.c
FUZZ_EXTRA_fuzz_sns_answer := plugins/notify-sms/sns_xml.c

# A checker is the oracle, not the code under test: no coverage feedback from
# it (its branches would only steer the fuzzer into itself), and faster.
$(FUZZ_DIR)/obj/tests/fuzz/mail_check.o: FUZZ_COVER =
# Every target runs steady: a clock that stands still, a fixed hash seed (steady.c).
FUZZ_CLOCK_OBJ := $(FUZZ_DIR)/obj/tests/fuzz/steady.o
$(FUZZ_CLOCK_OBJ): FUZZ_COVER =

$(FUZZ_DIR)/obj/%.o: %.c | pkgs-ok
	@mkdir -p $(dir $@)
	@echo '  FUZZCC  $<'
	@$(FUZZ_CC) $(FUZZ_CFLAGS) -c $< -o $@

$(FUZZ_DIR)/fuzz_%: $(FUZZ_DIR)/obj/tests/fuzz/fuzz_%.o $(FUZZ_CLOCK_OBJ) \
		$$(subst .c,.o,$$(addprefix $(FUZZ_DIR)/obj/,$$(FUZZ_EXTRA_fuzz_$$*))) $(FUZZ_LIB_OBJ)
	@echo '  FUZZLD  $@'
	@$(FUZZ_CC) -fsanitize=fuzzer,$(FUZZ_SANS) -o $@ $^ $(LDLIBS)

.PHONY: fuzz fuzz-build
fuzz-build: $(FUZZ_BIN)

fuzz: deps-test
	@$(MAKE) --no-print-directory fuzz-build
	@FUZZ_SECONDS=$(FUZZ_SECONDS) FUZZ_TARGETS="$(FUZZ_TARGETS)" FUZZ_NO_BUILD=1 sh tests/fuzz/run.sh

-include $(shell find $(FUZZ_DIR)/obj -name '*.d' 2>/dev/null)
