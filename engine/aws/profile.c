/*
 * Shared config/credentials files, parsed with inih.
 */
#include "profile.h"

#include <ini.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct load {
	struct aws_profile *p;
	const char *want_section; /* in this file */
	const char *alt_section;  /* config file: [profile default] also names default */
	bool is_credentials;
};

/* The fields a profile can carry, in struct order after name/region. */
static char **field(struct aws_profile *p, const char *key)
{
	static const struct {
		const char *key;
		size_t off;
	} map[] = {
		{"region", offsetof(struct aws_profile, region)},
		{"aws_access_key_id", offsetof(struct aws_profile, aws_access_key_id)},
		{"aws_secret_access_key", offsetof(struct aws_profile, aws_secret_access_key)},
		{"aws_session_token", offsetof(struct aws_profile, aws_session_token)},
		{"role_arn", offsetof(struct aws_profile, role_arn)},
		{"web_identity_token_file", offsetof(struct aws_profile, web_identity_token_file)},
		{"role_session_name", offsetof(struct aws_profile, role_session_name)},
		{"endpoint_url", offsetof(struct aws_profile, endpoint_url)},
	};
	for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
		if (strcasecmp(map[i].key, key) == 0)
			return (char **)((char *)p + map[i].off);
	return NULL;
}

static int on_value(void *user, const char *section, const char *name, const char *value)
{
	struct load *l = user;
	if (strcmp(section, l->want_section) != 0 &&
	    !(l->alt_section && strcmp(section, l->alt_section) == 0))
		return 1;
	l->p->found = true;
	char **f = field(l->p, name);
	if (!f)
		return 1;
	/* The credentials file is read second and wins. */
	if (*f && !l->is_credentials)
		return 1;
	char *v = strdup(value);
	if (!v)
		return 0;
	free(*f);
	*f = v;
	return 1;
}

static int load_file(const char *env, const char *home_rel, struct load *l, char *err,
		     size_t errsz)
{
	char path[4096];
	const char *p = getenv(env);
	if (p && *p) {
		snprintf(path, sizeof path, "%s", p);
	} else {
		const char *home = getenv("HOME");
		if (!home || !*home)
			return 0;
		snprintf(path, sizeof path, "%s/%s", home, home_rel);
	}
	FILE *f = fopen(path, "r");
	if (!f)
		return 0; /* absent: nothing to read, as in the CLI */
	int rc = ini_parse_file(f, on_value, l);
	fclose(f);
	if (rc != 0) {
		snprintf(err, errsz, "%s: %s%d", path, rc > 0 ? "syntax error on line " : "error ",
			 rc);
		return -1;
	}
	return 0;
}

int aws_profile_load(const char *name, struct aws_profile *out, char *err, size_t errsz)
{
	memset(out, 0, sizeof *out);
	if (!name || !*name)
		name = getenv("AWS_PROFILE");
	if (!name || !*name)
		name = "default";
	out->name = strdup(name);
	if (!out->name)
		return -1;

	char cfg_section[300];
	snprintf(cfg_section, sizeof cfg_section, "profile %s", name);
	bool is_default = strcmp(name, "default") == 0;
	struct load cfg = {out, is_default ? "default" : cfg_section,
			   is_default ? cfg_section : NULL, false};
	struct load cred = {out, name, NULL, true};
	if (load_file("AWS_CONFIG_FILE", ".aws/config", &cfg, err, errsz) != 0 ||
	    load_file("AWS_SHARED_CREDENTIALS_FILE", ".aws/credentials", &cred, err, errsz) != 0) {
		aws_profile_clear(out);
		return -1;
	}
	return 0;
}

void aws_profile_clear(struct aws_profile *p)
{
	free(p->name);
	free(p->region);
	free(p->aws_access_key_id);
	free(p->aws_secret_access_key);
	free(p->aws_session_token);
	free(p->role_arn);
	free(p->web_identity_token_file);
	free(p->role_session_name);
	free(p->endpoint_url);
	memset(p, 0, sizeof *p);
}
