/*
 * A small expat walker for the AWS XML answers (S3 errors and listings, STS).
 * Owner: awsnet.  AWS answers are shallow documents of leaf elements, so a
 * callback per leaf (with its parent's name) is all the callers need.
 */
#ifndef VMPIPE_AWS_XML_H
#define VMPIPE_AWS_XML_H

#include <stddef.h>

/*
 * Called for every element that closes, with its local name (namespace prefix
 * stripped), its parent's local name ("" at the root) and its text (NUL-
 * terminated, borrowed: copy it to keep it).  Return 0 to go on, non-zero to
 * stop the walk.
 */
typedef int (*aws_xml_leaf_fn)(void *arg, const char *parent, const char *name,
			       const char *text, size_t len);

/* Walk `xml`.  0 when the whole document parsed (or the callback stopped it),
 * -1 when it is not well-formed, too deep or too large. */
int aws_xml_walk(const char *xml, size_t len, aws_xml_leaf_fn fn, void *arg);

/*
 * The text of the first element named `name` (under a parent named `parent`,
 * or anywhere when `parent` is NULL), malloc()ed; NULL when absent.
 */
char *aws_xml_text(const char *xml, size_t len, const char *parent, const char *name);

#endif
