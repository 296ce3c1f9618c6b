#include "plugin.h"

#include <dlfcn.h>
#include <stdarg.h>
#include <vmpipe/vmpipe.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "pipeline.h"
#include "plugin_path.h"
#include "util.h"

const char *stage_kind_name(vm_stage_kind kind)
{
	switch (kind) {
	case VM_STAGE_LOCATE: return "locate";
	case VM_STAGE_TRANSCRIBE: return "transcribe";
	case VM_STAGE_NOTIFY: return "notify";
	}
	return "unknown";
}

const char *opt_type_name(vm_opt_type t)
{
	switch (t) {
	case VM_OPT_STRING: return "string";
	case VM_OPT_INT: return "int";
	case VM_OPT_BOOL: return "bool";
	case VM_OPT_DURATION: return "duration";
	case VM_OPT_SIZE: return "size";
	case VM_OPT_ENUM: return "enum";
	}
	return "?";
}

/* The first DIR/NAME.so of the search path that exists, into `path`; else
 * false with every file looked for in `err`. */
static bool find_plugin(const char *search, const char *name, char *path, size_t size,
			struct stat *st, char *err, size_t errsize)
{
	char dir[PATH_MAX];
	size_t n = (size_t)snprintf(err, errsize, "plugin '%s' not found: ", name);
	int tried = 0;
	for (const char *c = search; plugin_path_next(&c, dir, sizeof dir);) {
		snprintf(path, size, "%s/%s.so", dir, name);
		if (stat(path, st) == 0)
			return true;
		if (n < errsize)
			n += (size_t)snprintf(err + n, errsize - n, "%sno %s", tried++ ? ", " : "", path);
	}
	if (n < errsize)
		snprintf(err + n, errsize - n, "%s (see `vmpipe plugins -d %s`)",
			 tried ? "" : "the plugin search path is empty", search ? search : "");
	return false;
}

struct plugin_mod *plugin_open(const char *search, const char *name, char *err, size_t errsize)
{
	if (!is_plain_name(name, 64) || strchr(name, '.')) {
		snprintf(err, errsize,
			 "plugin name '%s' must be a plain name like notify-file (no path, no '.so'); "
			 "plugins load only from plugin_dir",
			 name);
		return NULL;
	}
	char path[PATH_MAX + 80];
	struct stat st;
	if (!find_plugin(search, name, path, sizeof path, &st, err, errsize))
		return NULL;
	if (!S_ISREG(st.st_mode)) {
		snprintf(err, errsize, "plugin '%s': %s is not a regular file", name, path);
		return NULL;
	}
	void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		snprintf(err, errsize, "plugin '%s': cannot load %s: %s", name, path, dlerror());
		return NULL;
	}
	const vm_plugin *p = dlsym(h, VMPIPE_PLUGIN_SYMBOL);
	const char *why = NULL;
	char buf[200];
	if (!p)
		why = "it is not a vmpipe plugin (it exports no 'vmpipe_plugin' symbol)";
	else if (p->abi_version != VMPIPE_ABI_VERSION) {
		snprintf(buf, sizeof buf, "it was built for plugin ABI version %u, this vmpipe speaks %u (rebuild it)",
			 p->abi_version, VMPIPE_ABI_VERSION);
		why = buf;
	} else if (!p->name || strcmp(p->name, name) != 0) {
		snprintf(buf, sizeof buf, "it calls itself '%.60s', not '%s'", p->name ? p->name : "(null)", name);
		why = buf;
	} else if (p->kind < VM_STAGE_LOCATE || p->kind > VM_STAGE_NOTIFY)
		why = "it declares an unknown stage kind";
	else if (!p->run)
		why = "it has no run callback";
	if (why) {
		snprintf(err, errsize, "plugin '%s' (%s) refused: %s", name, path, why);
		dlclose(h);
		return NULL;
	}
	struct plugin_mod *m = calloc(1, sizeof *m);
	m->name = strdup(name);
	m->path = strdup(path);
	m->handle = h;
	m->p = p;
	return m;
}

void plugin_close(struct plugin_mod *m)
{
	if (!m)
		return;
	/* Under valgrind/ASan, keep the code mapped so leak reports can name it. */
	if (!getenv("VMPIPE_NO_DLCLOSE"))
		dlclose(m->handle);
	free(m->name);
	free(m->path);
	free(m);
}

static size_t opt_store_size(vm_opt_type t)
{
	switch (t) {
	case VM_OPT_STRING: return sizeof(const char *);
	case VM_OPT_INT: case VM_OPT_DURATION: case VM_OPT_SIZE: return sizeof(int64_t);
	case VM_OPT_BOOL: return sizeof(bool);
	case VM_OPT_ENUM: return sizeof(int);
	}
	return 0;
}

int options_check_table(const struct plugin_mod *m, struct diag *d)
{
	int bad = 0;
	for (const vm_option *o = m->p->options; o && o->name; o++) {
		size_t sz = opt_store_size(o->type);
		if (!sz) {
			diag_add(d, "plugin '%s': option '%s' has an unknown type", m->name, o->name);
			bad++;
		} else if (o->offset != VM_OPT_NOSTORE && o->offset + sz > m->p->state_size) {
			diag_add(d, "plugin '%s': option '%s' is stored beyond its state (%zu bytes)", m->name,
				 o->name, m->p->state_size);
			bad++;
		}
		if (o->type == VM_OPT_ENUM && !o->choices) {
			diag_add(d, "plugin '%s': enum option '%s' lists no choices", m->name, o->name);
			bad++;
		}
		for (const vm_option *q = m->p->options; q < o; q++)
			if (strcmp(q->name, o->name) == 0) {
				diag_add(d, "plugin '%s': option '%s' is declared twice", m->name, o->name);
				bad++;
			}
	}
	return bad;
}

/* Parse `text` per `o`; store at state+offset unless NOSTORE.  NULL or the reason. */
static const char *parse_one(const vm_option *o, const char *text, void *state)
{
	void *dst = o->offset == VM_OPT_NOSTORE ? NULL : (char *)state + o->offset;
	int64_t n;
	bool b;
	int idx;
	switch (o->type) {
	case VM_OPT_STRING:
		if (dst)
			memcpy(dst, &text, sizeof text);
		return NULL;
	case VM_OPT_INT:
		if (parse_int(text, &n) != 0)
			return "expected an integer";
		break;
	case VM_OPT_DURATION:
		if (parse_duration(text, &n) != 0)
			return "expected a duration like 250ms, 70s, 5m, 2h or 7d";
		break;
	case VM_OPT_SIZE:
		if (parse_size(text, &n) != 0)
			return "expected a size like 512, 64k, 10M or 1G";
		break;
	case VM_OPT_BOOL:
		if (parse_bool(text, &b) != 0)
			return "expected yes or no";
		if (dst)
			memcpy(dst, &b, sizeof b);
		return NULL;
	case VM_OPT_ENUM:
		if ((idx = parse_enum(text, o->choices)) < 0)
			return "not one of the allowed values";
		if (dst)
			memcpy(dst, &idx, sizeof idx);
		return NULL;
	}
	if (dst)
		memcpy(dst, &n, sizeof n);
	return NULL;
}

int options_apply(const vm_option *table, size_t state_size, void *state,
		  const struct cfg_section *sec, const char *path, const char *what,
		  const char *const *skip, struct diag *d)
{
	(void)state_size;
	int bad = 0;
	const char *sname = sec->name;
	/* Every key in the section must be known. */
	for (size_t i = 0; i < sec->n; i++) {
		const struct cfg_entry *e = &sec->entries[i];
		bool known = false;
		for (const char *const *s = skip; s && *s && !known; s++)
			known = strcmp(*s, e->key) == 0;
		for (const vm_option *o = table; o && o->name && !known; o++)
			known = strcmp(o->name, e->key) == 0;
		if (!known) {
			char list[600] = "";
			size_t len = 0;
			for (const vm_option *o = table; o && o->name && len < sizeof list - 80; o++)
				len += (size_t)snprintf(list + len, sizeof list - len, "%s%s", len ? ", " : "", o->name);
			diag_add(d, "%s:%d: [%s] unknown option '%s' for %s (known: %s)", path, e->line, sname,
				 e->key, what, len ? list : "none");
			bad++;
		}
	}
	for (const vm_option *o = table; o && o->name; o++) {
		const struct cfg_entry *e = cfg_entry(sec, o->name);
		const char *text = e ? e->value : o->def;
		if (!e && o->required) {
			diag_add(d, "%s:%d: [%s] missing required option '%s' for %s (%s)", path, sec->line,
				 sname, o->name, what, o->help ? o->help : o->name);
			bad++;
			continue;
		}
		if (!text)
			continue;
		const char *why = parse_one(o, text, state);
		if (why) {
			if (e)
				diag_add(d, "%s:%d: [%s] option '%s' = '%s': %s%s%s", path, e->line, sname,
					 o->name, e->value, why, o->type == VM_OPT_ENUM ? ": " : "",
					 o->type == VM_OPT_ENUM ? o->choices : "");
			else
				diag_add(d, "%s: %s: bad built-in default for '%s': %s", path, what, o->name, why);
			bad++;
		}
	}
	return bad;
}

void plugin_describe(FILE *out, const vm_plugin *p)
{
	fprintf(out, "%s (%s)\n    %s\n", p->name, stage_kind_name(p->kind), p->summary ? p->summary : "");
	for (const vm_option *o = p->options; o && o->name; o++) {
		char kind[80];
		if (o->type == VM_OPT_ENUM)
			snprintf(kind, sizeof kind, "%s", o->choices);
		else
			snprintf(kind, sizeof kind, "%s", opt_type_name(o->type));
		fprintf(out, "    %-18s %-14s %s", o->name, kind, o->help ? o->help : "");
		if (o->required)
			fprintf(out, " (required)");
		else if (o->def && *o->def)
			fprintf(out, " (default: %s)", o->def);
		fputc('\n', out);
	}
}

/* ------------------------------------------------------------ host API: stage */

const char *vm_stage_name(const vm_stage *stage) { return stage->name; }
const char *vm_stage_config_dir(const vm_stage *stage) { return stage->config_dir; }

bool vm_stage_checking(const vm_stage *stage)
{
	(void)stage;
	return pipeline_checking();
}

const char *vm_stage_option(const vm_stage *stage, const char *name)
{
	const struct cfg_entry *e = cfg_entry(stage->sec, name);
	if (e)
		return e->value;
	for (const vm_option *o = stage->mod ? stage->mod->p->options : NULL; o && o->name; o++)
		if (strcmp(o->name, name) == 0)
			return o->def;
	return NULL;
}

void vm_stage_error(vm_stage *stage, const char *fmt, ...)
{
	free(stage->error);
	stage->error = NULL;
	va_list ap;
	va_start(ap, fmt);
	if (vasprintf(&stage->error, fmt, ap) < 0)
		stage->error = NULL;
	va_end(ap);
}

void vm_stage_intake_check(vm_stage *stage, vm_intake_fn check)
{
	if (stage)
		stage->intake = check;
}
