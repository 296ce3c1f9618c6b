# vmpipe — one build for everything.
#
#   make            engine (build/vmpipe) and plugins (build/plugins/*.so)
#   make run        process the sample voicemail on the default pipeline (etc/local.ini)
#   make check      install missing dependencies, build, run every test
#   make bench      benchmarks (table + build/bench.json)
#   make install    PREFIX=/usr/local DESTDIR= (make uninstall: the same variables)
#   make man        the man pages (build/man/), from docs/*.[1-8].md with lowdown
#   make deb        a Debian package (../vmpipe_VERSION_ARCH.deb; debian/)
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

.PHONY: all deps deps-test run check check-unit check-integration bench install uninstall man deb clean lambda pkgs-ok
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
	@$(CC) $(SANFLAGS) $(LDFLAGS) -o $@ $(ENGINE_OBJ) $(EXPORTS) $(LDLIBS)

.SECONDARY:
.SECONDEXPANSION:
$(BUILD)/plugins/%.so: $$(subst .c,.o,$$(addprefix $(BUILD)/obj/,$$(wildcard plugins/$$*/*.c)))
	@mkdir -p $(dir $@)
	@echo '  LD      $@'
	@$(CC) $(SANFLAGS) $(LDFLAGS) -shared -o $@ $^ \
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

# The plain and the sanitizer builds at once, each on every core (a plain
# `make check`, as CI runs it, would otherwise compile one file at a time).
check: deps-test
	@j=-j$$(nproc 2>/dev/null || echo 2); \
	$(MAKE) --no-print-directory $$j all tests-build fuzz-build & plain=$$!; \
	$(MAKE) --no-print-directory $$j SAN=1 all tests-build; san=$$?; \
	wait $$plain && [ $$san -eq 0 ]
	@sh tests/run.sh

bench: deps-test
	@$(MAKE) --no-print-directory all
	@sh tests/bench/run.sh $(BUILD)

# The AWS Lambda package: $(BUILD)/vmpipe-lambda.zip (docs/lambda.md).
lambda: all
	@sh scripts/package-lambda.sh $(BUILD)

# Man pages: the Markdown in docs/ made roff by lowdown (Debian's package;
# scripts/deps.sh).  The page's own "# name(N)" line goes (.TH says it) and
# its "## SECTION"s become .SH.  Dated by the source's last change.
MAN_SRC   := $(wildcard docs/*.[1-8].md)
MAN_PAGES := $(MAN_SRC:docs/%.md=$(BUILD)/man/%)
man: $(MAN_PAGES)
$(BUILD)/man/%: docs/%.md
	@mkdir -p $(dir $@)
	@echo '  MAN     $@'
	@command -v lowdown >/dev/null || { echo "vmpipe: lowdown makes the man pages: run \`make deps\`" >&2; exit 1; }
	@sed -e '1{/^# /d}' -e 's/^##/#/' $< | lowdown -s -Tman -M title=$(basename $*) \
	  -M section=$(subst .,,$(suffix $*)) -M date=$$(date -u -r $< +%Y-%m-%d) \
	  -M source='vmpipe $(VERSION)' -M volume=vmpipe -o $@.tmp && mv $@.tmp $@

MANDIR  = $(PREFIX)/share/man
# Debian wants it under the multiarch directory (debian/rules sets it).
PKGCONFIGDIR ?= $(PREFIX)/lib/pkgconfig
DOCDIR  = $(PREFIX)/share/doc/vmpipe
# What `make install` puts in place, for `make uninstall` (directories that
# are vmpipe's alone go whole).
INSTALLED_FILES = bin/vmpipe bin/vmpipe-sendmail lib/systemd/system/vmpipe.service \
	lib/sysusers.d/vmpipe.conf lib/tmpfiles.d/vmpipe.conf share/bash-completion/completions/vmpipe \
	$(foreach m,$(MAN_SRC:docs/%.md=%),share/man/man$(subst .,,$(suffix $(m)))/$(m))
INSTALLED_DIRS  = lib/vmpipe include/vmpipe share/vmpipe share/doc/vmpipe

# Installed pipelines: their outbox is /var/spool/vmpipe/outbox (or
# VMPIPE_OUTBOX), which they do not create (create = no): a demo run as root
# makes no directory in /var/spool.
OUTBOX_SED    = s|\.\./build/outbox|/var/spool/vmpipe/outbox|
CREATE_SED    = /^dir = .*VMPIPE_OUTBOX/a create = no
INSTALLED_INI = sed -e 's|\.\./samples/|$(PREFIX)/share/vmpipe/samples/|' -e '$(OUTBOX_SED)' -e '$(CREATE_SED)'

install: all man
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib/vmpipe/plugins \
	  $(DESTDIR)$(PREFIX)/include/vmpipe $(DESTDIR)$(PKGCONFIGDIR) \
	  $(DESTDIR)$(PREFIX)/share/vmpipe/templates
	install -m 755 $(BUILD)/vmpipe $(DESTDIR)$(PREFIX)/bin/vmpipe
	ln -sf vmpipe $(DESTDIR)$(PREFIX)/bin/vmpipe-sendmail
	install -m 644 $(PLUGIN_SO) $(DESTDIR)$(PREFIX)/lib/vmpipe/plugins/
	install -m 644 include/vmpipe/*.h $(DESTDIR)$(PREFIX)/include/vmpipe/
	for f in $$(cd etc/templates && find . -type f); do \
	  install -D -m 644 etc/templates/$$f $(DESTDIR)$(PREFIX)/share/vmpipe/templates/$$f || exit 1; done
	sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@VERSION@|$(VERSION)|g' vmpipe.pc.in \
	  > $(DESTDIR)$(PKGCONFIGDIR)/vmpipe.pc
	install -d $(DESTDIR)$(PREFIX)/lib/systemd/system $(DESTDIR)$(DOCDIR)/examples
	install -m 644 docs/*.md $(DESTDIR)$(DOCDIR)/
	sed -e 's|@PREFIX@|$(PREFIX)|g' deploy/vmpipe.service.in \
	  > $(DESTDIR)$(PREFIX)/lib/systemd/system/vmpipe.service
	install -D -m 644 deploy/vmpipe.sysusers $(DESTDIR)$(PREFIX)/lib/sysusers.d/vmpipe.conf
	install -D -m 644 deploy/vmpipe.tmpfiles $(DESTDIR)$(PREFIX)/lib/tmpfiles.d/vmpipe.conf
	install -D -m 644 deploy/vmpipe.bash-completion \
	  $(DESTDIR)$(PREFIX)/share/bash-completion/completions/vmpipe
	for m in $(MAN_SRC:docs/%.md=%); do s=$${m##*.}; \
	  install -D -m 644 $(BUILD)/man/$$m $(DESTDIR)$(MANDIR)/man$$s/$$m || exit 1; done
	# Examples to copy to /etc/vmpipe/ (docs/pbx.md, docs/transcribe-whisper.md),
	# made to point at the installed sample rather than the source tree.
	for f in asterisk whisper pipeline; do $(INSTALLED_INI) etc/$$f.ini \
	  > $(DESTDIR)$(DOCDIR)/examples/$$f.ini || exit 1; done
	# The default pipeline of `vmpipe run` without -c (vmpipe(1), FILES), with
	# the sample it runs on.
	sed -e 's|\.\./samples/|samples/|' -e '$(OUTBOX_SED)' -e '$(CREATE_SED)' \
	  etc/local.ini > $(DESTDIR)$(PREFIX)/share/vmpipe/local.ini
	for f in samples/connect-event.json samples/recordings/*.wav; do \
	  install -D -m 644 $$f $(DESTDIR)$(PREFIX)/share/vmpipe/$$f || exit 1; done

uninstall:
	rm -f $(addprefix $(DESTDIR)$(PREFIX)/,$(INSTALLED_FILES)) $(DESTDIR)$(PKGCONFIGDIR)/vmpipe.pc
	rm -rf $(addprefix $(DESTDIR)$(PREFIX)/,$(INSTALLED_DIRS))

# The Debian package (debian/: dpkg-buildpackage runs `make install` into
# debian/vmpipe with PREFIX=/usr).  Unsigned; the .deb lands in $(DEB_OUT).
DEB_OUT ?= $(BUILD)/deb
deb:
	@sh scripts/build-deb.sh $(DEB_OUT)

clean:
	rm -rf build build-san

include tests/fuzz/fuzz.mk

-include $(shell find $(BUILD)/obj $(BUILD)/tests $(BUILD)/test-plugins -name '*.d' 2>/dev/null)
