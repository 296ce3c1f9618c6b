/*
 * XML for AWS answers, with expat: never string search, so a key named
 * "<Code>" inside a listing cannot be mistaken for an error code.
 */
#include "xml.h"

#include <expat.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* AWS documents are a few levels deep; deeper ones are refused. */
#define XML_MAX_DEPTH 16
/* Text of one element; S3 keys are at most 1024 bytes, messages short. */
#define XML_MAX_TEXT 65536
#define XML_MAX_NAME 128

struct walk {
	XML_Parser p;
	aws_xml_leaf_fn fn;
	void *arg;
	int depth;
	bool failed, stopped;
	char names[XML_MAX_DEPTH][XML_MAX_NAME];
	char *text;
	size_t len, cap;
};

static const char *local_name(const char *name)
{
	const char *c = strrchr(name, ':');
	return c ? c + 1 : name;
}

static void on_start(void *ud, const XML_Char *name, const XML_Char **attrs)
{
	struct walk *w = ud;
	(void)attrs;
	if (w->depth >= XML_MAX_DEPTH) {
		w->failed = true;
		XML_StopParser(w->p, XML_FALSE);
		return;
	}
	snprintf(w->names[w->depth], XML_MAX_NAME, "%s", local_name(name));
	w->depth++;
	w->len = 0;
}

static void on_end(void *ud, const XML_Char *name)
{
	struct walk *w = ud;
	(void)name;
	if (w->depth <= 0)
		return;
	w->depth--;
	const char *parent = w->depth > 0 ? w->names[w->depth - 1] : "";
	if (w->text)
		w->text[w->len] = '\0';
	if (w->fn(w->arg, parent, w->names[w->depth], w->text ? w->text : "", w->len)) {
		w->stopped = true;
		XML_StopParser(w->p, XML_FALSE);
	}
	w->len = 0;
}

static void on_text(void *ud, const XML_Char *s, int n)
{
	struct walk *w = ud;
	if (n <= 0)
		return;
	if (w->len + (size_t)n + 1 > XML_MAX_TEXT) {
		w->failed = true;
		XML_StopParser(w->p, XML_FALSE);
		return;
	}
	if (w->len + (size_t)n + 1 > w->cap) {
		size_t cap = w->cap ? w->cap : 256;
		while (cap < w->len + (size_t)n + 1)
			cap *= 2;
		char *t = realloc(w->text, cap);
		if (!t) {
			w->failed = true;
			XML_StopParser(w->p, XML_FALSE);
			return;
		}
		w->text = t;
		w->cap = cap;
	}
	memcpy(w->text + w->len, s, (size_t)n);
	w->len += (size_t)n;
}

/* AWS never sends a DTD: one that declares entities is an attack, refuse it. */
static void on_entity(void *ud, const XML_Char *name, int pe, const XML_Char *value, int vlen,
		      const XML_Char *base, const XML_Char *sys, const XML_Char *pub,
		      const XML_Char *notation)
{
	struct walk *w = ud;
	(void)name, (void)pe, (void)value, (void)vlen, (void)base, (void)sys, (void)pub,
		(void)notation;
	w->failed = true;
	XML_StopParser(w->p, XML_FALSE);
}

int aws_xml_walk(const char *xml, size_t len, aws_xml_leaf_fn fn, void *arg)
{
	if (!xml || len == 0 || len > (size_t)INT32_MAX)
		return -1;
	struct walk *w = calloc(1, sizeof *w);
	if (!w)
		return -1;
	w->p = XML_ParserCreate("UTF-8");
	if (!w->p) {
		free(w);
		return -1;
	}
	w->fn = fn;
	w->arg = arg;
	XML_SetUserData(w->p, w);
	XML_SetElementHandler(w->p, on_start, on_end);
	XML_SetCharacterDataHandler(w->p, on_text);
	XML_SetEntityDeclHandler(w->p, on_entity);
	enum XML_Status st = XML_Parse(w->p, xml, (int)len, XML_TRUE);
	int rc = (st == XML_STATUS_OK || w->stopped) && !w->failed ? 0 : -1;
	XML_ParserFree(w->p);
	free(w->text);
	free(w);
	return rc;
}

struct find {
	const char *parent, *name;
	char *out;
};

static int find_leaf(void *arg, const char *parent, const char *name, const char *text,
		     size_t len)
{
	struct find *f = arg;
	if (strcmp(name, f->name) != 0 || (f->parent && strcmp(parent, f->parent) != 0))
		return 0;
	f->out = strndup(text, len);
	return 1;
}

char *aws_xml_text(const char *xml, size_t len, const char *parent, const char *name)
{
	struct find f = {parent, name, NULL};
	if (aws_xml_walk(xml, len, find_leaf, &f) != 0) {
		free(f.out);
		return NULL;
	}
	return f.out;
}
