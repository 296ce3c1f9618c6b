/*
 * The shared AWS files (~/.aws/credentials and ~/.aws/config), read the way
 * the AWS CLI reads them.  Owner: awsnet.
 *
 *  - profile name: the argument, else AWS_PROFILE, else "default";
 *  - credentials file (AWS_SHARED_CREDENTIALS_FILE, ~/.aws/credentials):
 *    section [NAME];
 *  - config file (AWS_CONFIG_FILE, ~/.aws/config): section [profile NAME],
 *    or [default] for the default profile;
 *  - keys in the credentials file win over the same keys in the config file.
 * A missing file is not an error (the CLI does the same).
 */
#ifndef VMPIPE_AWS_PROFILE_H
#define VMPIPE_AWS_PROFILE_H

#include <stdbool.h>
#include <stddef.h>

/* Every field malloc()ed or NULL; freed by aws_profile_clear(). */
struct aws_profile {
	char *name;
	char *region;
	char *aws_access_key_id;
	char *aws_secret_access_key;
	char *aws_session_token;
	char *role_arn;
	char *web_identity_token_file;
	char *role_session_name;
	char *endpoint_url;
	bool found; /* some section of that name exists in either file */
};

/* Load profile `name` (NULL: the environment's).  0, or -1 when a file
 * exists but cannot be parsed (err says which line). */
int aws_profile_load(const char *name, struct aws_profile *out, char *err, size_t errsz);
void aws_profile_clear(struct aws_profile *p);

#endif
