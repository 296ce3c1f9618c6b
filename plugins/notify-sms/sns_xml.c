/* SNS Publish's answer; see sns_xml.h. */
#include "sns_xml.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <expat.h>

/* The first MessageId element, whatever its namespace; text directly in it
 * only (an element inside does not end it). */
struct xml_id {
	int depth; /* 0: outside; 1: in MessageId; more: in an element inside it */
	bool done;
	char id[200];
	size_t n;
};

static void XMLCALL x_start(void *u, const XML_Char *name, const XML_Char **atts)
{
	(void)atts;
	struct xml_id *x = u;
	const char *local = strrchr(name, ' ') ? strrchr(name, ' ') + 1 : name;
	if (x->depth)
		x->depth++;
	else if (!x->done && strcmp(local, "MessageId") == 0)
		x->depth = 1;
}

static void XMLCALL x_end(void *u, const XML_Char *name)
{
	(void)name;
	struct xml_id *x = u;
	if (x->depth && --x->depth == 0)
		x->done = true;
}

static void XMLCALL x_text(void *u, const XML_Char *s, int len)
{
	struct xml_id *x = u;
	for (int i = 0; x->depth == 1 && i < len && x->n + 1 < sizeof x->id; i++)
		x->id[x->n++] = s[i];
}

char *sms_sns_message_id(const unsigned char *body, size_t len)
{
	struct xml_id x = {0};
	XML_Parser p = XML_ParserCreateNS(NULL, ' ');
	if (!p)
		return NULL;
	XML_SetUserData(p, &x);
	XML_SetElementHandler(p, x_start, x_end);
	XML_SetCharacterDataHandler(p, x_text);
	bool ok = XML_Parse(p, (const char *)body, (int)(len > 1 << 20 ? 1 << 20 : len), 1) ==
		  XML_STATUS_OK;
	XML_ParserFree(p);
	x.id[x.n] = '\0';
	return ok && x.done && x.id[0] ? strdup(x.id) : NULL;
}

