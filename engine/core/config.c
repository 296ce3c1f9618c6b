#include "config.h"

#include <errno.h>
#include <ini.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

void diag_add(struct diag *d, const char *fmt, ...)
{
	char *m = NULL;
	va_list ap;
	va_start(ap, fmt);
	if (vasprintf(&m, fmt, ap) < 0)
		m = NULL;
	va_end(ap);
	char **nm = realloc(d->msgs, (d->n + 1) * sizeof *nm);
	if (!m || !nm) {
		free(m);
		if (nm)
			d->msgs = nm;
		return;
	}
	d->msgs = nm;
	d->msgs[d->n++] = m;
}

void diag_print(const struct diag *d)
{
	for (size_t i = 0; i < d->n; i++)
		log_msg(NULL, NULL, VM_LOG_ERROR, "%s", d->msgs[i]);
}

void diag_free(struct diag *d)
{
	for (size_t i = 0; i < d->n; i++)
		free(d->msgs[i]);
	free(d->msgs);
	d->msgs = NULL;
	d->n = 0;
}

/* A default may hold references of its own (${A:-${B:-x}}), as in sh; this
 * deep at most. */
#define EXPAND_DEPTH 8

/* The '}' that closes the "${" whose '{' is at p: braces in between balance, so a default
 * may hold braces ("${SUBJ:-Voicemail from {{caller}}}").  NULL: none. */
static const char *closing_brace(const char *p)
{
	int depth = 1; /* p is the '{' of "${" */
	for (const char *q = p + 1; *q; q++) {
		if (*q == '{')
			depth++;
		else if (*q == '}' && --depth == 0)
			return q;
	}
	return NULL;
}

static char *expand(const char *in, size_t len, int depth, char *err, size_t errsize);

char *cfg_expand(const char *in, char *err, size_t errsize)
{
	return expand(in, strlen(in), 0, err, errsize);
}

static char *expand(const char *in, size_t len, int depth, char *err, size_t errsize)
{
	if (depth > EXPAND_DEPTH) {
		snprintf(err, errsize, "variable references nested more than %d deep", EXPAND_DEPTH);
		return NULL;
	}
	const char *end = in + len;
	size_t cap = len + 64, n = 0;
	char *out = malloc(cap);
	if (!out)
		return NULL;
#define PUT(s, len)                                                  \
	do {                                                         \
		size_t l_ = (len);                                   \
		if (n + l_ + 1 > cap) {                              \
			cap = (n + l_ + 1) * 2;                      \
			char *nb_ = realloc(out, cap);               \
			if (!nb_) {                                  \
				free(out);                           \
				return NULL;                         \
			}                                            \
			out = nb_;                                   \
		}                                                    \
		memcpy(out + n, (s), l_);                            \
		n += l_;                                             \
	} while (0)
	for (const char *p = in; p < end;) {
		if (p[0] == '$' && p + 1 < end && p[1] == '$') {
			PUT("$", 1);
			p += 2;
			continue;
		}
		if (p[0] != '$' || p + 1 >= end || p[1] != '{') {
			PUT(p, 1);
			p++;
			continue;
		}
		const char *close = closing_brace(p + 1);
		if (!close || close >= end) {
			snprintf(err, errsize, "unterminated ${ in value");
			free(out);
			return NULL;
		}
		const char *name = p + 2;
		const char *def = NULL;
		const char *colon = memchr(name, ':', (size_t)(close - name));
		size_t nlen = colon ? (size_t)(colon - name) : (size_t)(close - name);
		if (colon) {
			if (colon[1] != '-') {
				snprintf(err, errsize, "bad variable reference (use ${VAR} or ${VAR:-default})");
				free(out);
				return NULL;
			}
			def = colon + 2;
		}
		char var[128];
		bool ok = nlen > 0 && nlen < sizeof var;
		for (size_t i = 0; ok && i < nlen; i++)
			ok = (name[i] == '_' || (name[i] >= 'A' && name[i] <= 'Z') ||
			      (name[i] >= 'a' && name[i] <= 'z') || (i && name[i] >= '0' && name[i] <= '9'));
		if (!ok) {
			snprintf(err, errsize, "bad variable name '%.*s'", (int)(nlen > 60 ? 60 : nlen), name);
			free(out);
			return NULL;
		}
		memcpy(var, name, nlen);
		var[nlen] = '\0';
		const char *val = getenv(var);
		if (val && *val) {
			PUT(val, strlen(val));
		} else if (def) {
			char *d = expand(def, (size_t)(close - def), depth + 1, err, errsize);
			if (!d) {
				free(out);
				return NULL;
			}
			size_t dl = strlen(d);
			/* PUT may return on failure: d must not leak then. */
			if (n + dl + 1 > cap) {
				char *nb = realloc(out, (n + dl + 1) * 2);
				if (!nb) {
					free(d);
					free(out);
					return NULL;
				}
				out = nb;
				cap = (n + dl + 1) * 2;
			}
			PUT(d, dl);
			free(d);
		} else if (!val) {
			snprintf(err, errsize, "environment variable %s is not set (write ${%s:-default} to allow that)",
				 var, var);
			free(out);
			return NULL;
		}
		p = close + 1;
	}
#undef PUT
	out[n] = '\0';
	return out;
}

/* inih calls the reader once per line: that is how we know line numbers and
 * see section headers that have no entries. */
struct reader {
	FILE *f;
	int line;
	struct cfg *c;
	struct diag *d;
	int errors;
};

static char *trim(char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	char *e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\n' || e[-1] == '\r'))
		*--e = '\0';
	return s;
}

static struct cfg_section *add_section(struct cfg *c, const char *name, int line)
{
	struct cfg_section *ns = realloc(c->sections, (c->n + 1) * sizeof *ns);
	if (!ns)
		return NULL;
	c->sections = ns;
	struct cfg_section *s = &c->sections[c->n++];
	memset(s, 0, sizeof *s);
	s->name = strdup(name);
	s->line = line;
	return s;
}

static char *read_line(char *str, int num, void *stream)
{
	struct reader *r = stream;
	char *got = fgets(str, num, r->f);
	if (!got)
		return NULL;
	r->line++;
	/* inih reads at most INI_MAX_LINE bytes: a longer line would come back in
	 * pieces, each parsed (and counted) as a line of its own.  Refuse it once,
	 * by its real number, and hand inih a comment in its place. */
	size_t len = strlen(str);
	int ch;
	if (len && str[len - 1] != '\n' && (ch = fgetc(r->f)) != EOF && ch != '\n') {
		while ((ch = fgetc(r->f)) != EOF && ch != '\n')
			;
		diag_add(r->d, "%s:%d: line is longer than %d characters", r->c->path, r->line, num - 2);
		r->errors++;
		snprintf(str, (size_t)num, ";\n");
		return got;
	}
	char tmp[256];
	snprintf(tmp, sizeof tmp, "%s", str);
	char *t = trim(tmp);
	if (*t == '[') {
		char *close = strchr(t, ']');
		if (close) {
			*close = '\0';
			char *name = trim(t + 1);
			for (size_t i = 0; i < r->c->n; i++)
				if (strcmp(r->c->sections[i].name, name) == 0) {
					diag_add(r->d, "%s:%d: section [%s] appears twice (first on line %d)",
						 r->c->path, r->line, name, r->c->sections[i].line);
					r->errors++;
				}
			add_section(r->c, name, r->line);
		}
	}
	return got;
}

static int on_entry(void *user, const char *section, const char *name, const char *value)
{
	struct reader *r = user;
	struct cfg *c = r->c;
	if (c->n == 0 || strcmp(c->sections[c->n - 1].name, section) != 0) {
		diag_add(r->d, "%s:%d: option '%s' is outside any section (start with [pipeline])", c->path,
			 r->line, name);
		r->errors++;
		return 1;
	}
	struct cfg_section *s = &c->sections[c->n - 1];
	for (size_t i = 0; i < s->n; i++) {
		if (strcmp(s->entries[i].key, name) == 0) {
			diag_add(r->d, "%s:%d: [%s] option '%s' is set twice (first on line %d)", c->path,
				 r->line, section, name, s->entries[i].line);
			r->errors++;
			return 1;
		}
	}
	char err[200];
	char *v = cfg_expand(value, err, sizeof err);
	if (!v) {
		diag_add(r->d, "%s:%d: [%s] option '%s': %s", c->path, r->line, section, name, err);
		r->errors++;
		return 1;
	}
	struct cfg_entry *ne = realloc(s->entries, (s->n + 1) * sizeof *ne);
	if (!ne) {
		free(v);
		return 0;
	}
	s->entries = ne;
	s->entries[s->n++] = (struct cfg_entry){strdup(name), v, r->line, strdup(value)};
	return 1;
}

int cfg_load(const char *path, struct cfg *c, struct diag *d)
{
	memset(c, 0, sizeof *c);
	c->path = strdup(path);
	FILE *f = fopen(path, "r");
	if (!f) {
		diag_add(d, "%s: cannot open pipeline file: %s", path, strerror(errno));
		return -1;
	}
	/* Debian's inih: ';' and '#' start comments, " ;" an inline comment.  No
	 * continuation lines: an indented "name = value" is an ordinary entry. */
	ini_allow_multiline = false;
	struct reader r = {f, 0, c, d, 0};
	int rc = ini_parse_stream(read_line, &r, on_entry, &r);
	fclose(f);
	if (rc > 0) {
		diag_add(d, "%s:%d: syntax error (expected [section] or name = value)", path, rc);
		return -1;
	}
	if (rc < 0) {
		diag_add(d, "%s: cannot read pipeline file", path);
		return -1;
	}
	return r.errors ? -1 : 0;
}

void cfg_free(struct cfg *c)
{
	for (size_t i = 0; i < c->n; i++) {
		struct cfg_section *s = &c->sections[i];
		for (size_t j = 0; j < s->n; j++) {
			free(s->entries[j].key);
			free(s->entries[j].value);
			free(s->entries[j].raw);
		}
		free(s->entries);
		free(s->name);
	}
	free(c->sections);
	free(c->path);
	memset(c, 0, sizeof *c);
}

const struct cfg_section *cfg_section(const struct cfg *c, const char *name)
{
	for (size_t i = 0; i < c->n; i++)
		if (strcmp(c->sections[i].name, name) == 0)
			return &c->sections[i];
	return NULL;
}

const struct cfg_entry *cfg_entry(const struct cfg_section *s, const char *key)
{
	for (size_t i = 0; s && i < s->n; i++)
		if (strcmp(s->entries[i].key, key) == 0)
			return &s->entries[i];
	return NULL;
}
