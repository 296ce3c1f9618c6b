# vmpipe — one build for everything.
#
#   make            engine (build/vmpipe) and plugins (build/plugins/*.so)
#   make run        process the sample voicemail on the default pipeline (etc/local.ini)
#   make check      install missing dependencies, build, run every test
#   make bench      benchmarks (table + build/bench.json)
#   make install    PREFIX=/usr/local DESTDIR=
#   make SAN=1      AddressSanitizer + UBSan build in build-san/
#   make fuzz       run every libFuzzer target FUZZ_SECONDS (60) each (tests/fuzz/fuzz.mk)
#
# Sources are discovered: engine/**.c, plugins/NAME/*.c (one NAME.so each; a
# plugin's extra pkg-config packages go in plugins/NAME/pkgs), tests/unit/test_*.c.

PREFIX  ?= /usr/local
DESTDIR ?=
VERSION := 0.1.0

CC      ?= cc
ifeq ($(SAN),1)
BUILD   ?= build-san
SANFLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
OPT     := -O1 -g
else
BUILD   ?= build
SANFLAGS :=
OPT     := -O2 -g
endif

PKGS    := libcurl libcrypto inih jansson expat libmicrohttpd
WARN    := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wformat=2 -Wno-format-nonliteral
CFLAGS  ?= $(OPT)
# pkg-config runs when a recipe first needs it (recursive `=`, cached once),
# never while the Makefile is read: on a fresh machine `make run` installs
# the packages (deps) before anything is compiled or linked.
PKG_CFLAGS = $(eval PKG_CFLAGS := $$(shell pkg-config --cflags $(PKGS)))$(PKG_CFLAGS)
PKG_LIBS   = $(eval PKG_LIBS := $$(shell pkg-config --libs $(PKGS)))$(PKG_LIBS)
ALL_CFLAGS = -std=c11 -D_GNU_SOURCE -fPIC $(WARN) $(CFLAGS) $(SANFLAGS) -Iinclude -iquote engine \
             $(PKG_CFLAGS) -MMD -MP
# libgsm (GSM 6.10 audio, engine/audio/gsm.c) and libmp3lame (MP3, engine/audio/mp3.c)
# ship no pkg-config file: linked by name.
LDLIBS     = $(PKG_LIBS) -lgsm -lmp3lame -ldl -lpthread -lm
# The engine exports only vm_* to the plugins it dlopen()s.
EXPORTS := -Wl,--dynamic-list=engine/exports.list

ENGINE_SRC  := $(sort $(wildcard engine/*/*.c engine/runtime/*/*.c))
ENGINE_OBJ  := $(ENGINE_SRC:%.c=$(BUILD)/obj/%.o)
LIB_OBJ     := $(filter-out $(BUILD)/obj/engine/runtime/cli/main.o,$(ENGINE_OBJ))
PLUGINS     := $(notdir $(patsubst %/,%,$(sort $(dir $(wildcard plugins/*/*.c)))))
PLUGIN_SO   := $(PLUGINS:%=$(BUILD)/plugins/%.so)
UNIT_SRC    := $(sort $(wildcard tests/unit/test_*.c))
UNIT_BIN    := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)
TEST_PLUGIN_SRC := $(sort $(wildcard tests/plugins/*.c))
TEST_PLUGIN_SO  := $(TEST_PLUGIN_SRC:tests/plugins/%.c=$(BUILD)/test-plugins/%.so)

.PHONY: all deps deps-test run check check-unit check-integration bench install clean lambda pkgs-ok
all: $(BUILD)/vmpipe $(PLUGIN_SO)

deps:
	@sh scripts/deps.sh

# What the tests and benchmarks need besides.
deps-test:
	@sh scripts/deps.sh --test

# Before the first compile: say what is missing instead of failing on a header.
pkgs-ok:
	@pkg-config --exists $(PKGS) || { echo "vmpipe: missing development packages" \
	  "($$(for p in $(PKGS); do pkg-config --exists $$p || printf '%s ' $$p; done)): run \`make deps\`" \
	  "(or \`make run\` / \`make check\`, which run it first)" >&2; exit 1; }
	@[ -f /usr/include/gsm.h ] || [ -f /usr/include/gsm/gsm.h ] || { echo "vmpipe: missing" \
	  "development package libgsm1-dev (gsm.h): run \`make deps\`" >&2; exit 1; }
	@[ -f /usr/include/lame/lame.h ] || { echo "vmpipe: missing" \
	  "development package libmp3lame-dev (lame/lame.h): run \`make deps\`" >&2; exit 1; }

$(BUILD)/obj/%.o: %.c | pkgs-ok
	@mkdir -p $(dir $@)
	@echo '  CC      $<'
	@$(CC) $(ALL_CFLAGS) -c $< -o $@

$(BUILD)/vmpipe: $(ENGINE_OBJ) engine/exports.list
	@echo '  LD      $@'
	@$(CC) $(SANFLAGS) -o $@ $(ENGINE_OBJ) $(EXPORTS) $(LDLIBS)

.SECONDARY:
.SECONDEXPANSION:
$(BUILD)/plugins/%.so: $$(subst .c,.o,$$(addprefix $(BUILD)/obj/,$$(wildcard plugins/$$*/*.c)))
	@mkdir -p $(dir $@)
	@echo '  LD      $@'
	@$(CC) $(SANFLAGS) -shared -o $@ $^ \
	  $(shell [ -f plugins/$*/pkgs ] && pkg-config --libs $$(cat plugins/$*/pkgs))

# Plugin objects may need extra include flags from their pkgs file.
$(BUILD)/obj/plugins/%.o: plugins/%.c | pkgs-ok
	@mkdir -p $(dir $@)
	@echo '  CC      $<'
	@$(CC) $(ALL_CFLAGS) $(shell f=plugins/$(firstword $(subst /, ,$*))/pkgs; \
	  [ -f $$f ] && pkg-config --cflags $$(cat $$f)) -c $< -o $@

$(BUILD)/tests/%: tests/unit/%.c $(LIB_OBJ)
	@mkdir -p $(dir $@)
	@echo '  TEST    $@'
	@$(CC) $(ALL_CFLAGS) -o $@ $< $(LIB_OBJ) $(EXPORTS) $(LDLIBS) -lcmocka

$(BUILD)/test-plugins/%.so: tests/plugins/%.c include/vmpipe/plugin.h $(wildcard tests/plugins/*.h)
	@mkdir -p $(dir $@)
	@echo '  PLUGIN  $@'
	@$(CC) $(ALL_CFLAGS) -shared -o $@ $<

tests-build: all $(UNIT_BIN) $(TEST_PLUGIN_SO)
.PHONY: tests-build

# deps first, then a fresh make: this one read the Makefile before deps ran.
run: deps
	@$(MAKE) --no-print-directory all
	@sh scripts/demo.sh $(BUILD)

check: deps-test
	@$(MAKE) --no-print-directory all tests-build fuzz-build
	@$(MAKE) --no-print-directory SAN=1 all tests-build
	@sh tests/run.sh

bench: deps-test
	@$(MAKE) --no-print-directory all
	@sh tests/bench/run.sh $(BUILD)

# The AWS Lambda package: $(BUILD)/vmpipe-lambda.zip (docs/lambda.md).
lambda: all
	@sh scripts/package-lambda.sh $(BUILD)

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib/vmpipe/plugins \
	  $(DESTDIR)$(PREFIX)/include/vmpipe $(DESTDIR)$(PREFIX)/lib/pkgconfig \
	  $(DESTDIR)$(PREFIX)/share/vmpipe/templates
	install -m 755 $(BUILD)/vmpipe $(DESTDIR)$(PREFIX)/bin/vmpipe
	ln -sf vmpipe $(DESTDIR)$(PREFIX)/bin/vmpipe-sendmail
	install -m 644 $(PLUGIN_SO) $(DESTDIR)$(PREFIX)/lib/vmpipe/plugins/
	install -m 644 include/vmpipe/*.h $(DESTDIR)$(PREFIX)/include/vmpipe/
	for f in $$(cd etc/templates && find . -type f); do \
	  install -D -m 644 etc/templates/$$f $(DESTDIR)$(PREFIX)/share/vmpipe/templates/$$f || exit 1; done
	sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@VERSION@|$(VERSION)|g' vmpipe.pc.in \
	  > $(DESTDIR)$(PREFIX)/lib/pkgconfig/vmpipe.pc
	install -d $(DESTDIR)$(PREFIX)/lib/systemd/system $(DESTDIR)$(PREFIX)/share/doc/vmpipe
	install -m 644 docs/*.md $(DESTDIR)$(PREFIX)/share/doc/vmpipe/
	sed -e 's|@PREFIX@|$(PREFIX)|g' deploy/vmpipe.service.in \
	  > $(DESTDIR)$(PREFIX)/lib/systemd/system/vmpipe.service
	# The default pipeline of `vmpipe run` without -c (vmpipe(1), FILES), with
	# the sample it runs on; its outbox moves out of the source tree's build/.
	sed -e 's|\.\./samples/|samples/|' -e 's|\.\./build/outbox|/var/spool/vmpipe/outbox|' \
	  etc/local.ini > $(DESTDIR)$(PREFIX)/share/vmpipe/local.ini
	for f in samples/connect-event.json samples/recordings/*.wav; do \
	  install -D -m 644 $$f $(DESTDIR)$(PREFIX)/share/vmpipe/$$f || exit 1; done

clean:
	rm -rf build build-san

include tests/fuzz/fuzz.mk

-include $(shell find $(BUILD)/obj $(BUILD)/tests $(BUILD)/test-plugins -name '*.d' 2>/dev/null)
