/*
 * The listen routes of `vmpipe serve` (see listen.h).
 */
#include "listen.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <vmpipe/vmpipe.h>

#include "core/clock.h"
#include "core/config.h"
#include "core/job.h"
#include "core/link_job.h"
#include "core/log.h"
#include "core/state.h"
#include "core/util.h"
#include "mail/listen_page.h"
#include "mail/mbuf.h"
#include "mail/vars.h"
#include "playable.h"
#include "range.h"

#define MAX_DIRS 64
#define RECORD_MAX (4 << 20)

struct listen {
	struct link_key key;
	char public_url[1024];  /* with a trailing '/' */
	int state_fd[MAX_DIRS]; /* the state directories (the base's, then its tenants') */
	size_t nstates;
	const struct pipeline *s3[MAX_DIRS]; /* those that keep checkpoints on S3 (the caller
					      * keeps them alive while this is in use) */
	size_t ns3;
	int dir_fd[MAX_DIRS];   /* the recording directories (O_PATH) */
	char dir[MAX_DIRS][PATH_MAX];
	size_t ndirs;
	char csp[600];
	struct playable_cache *cache;
	char timezone[128];     /* the pipeline's `timezone` ("" : the host's) */
	struct tenants *ts;     /* kept alive by serve while these pages are in use */
};

/* ------------------------------------------------------------ set-up */

static int add_dir(struct listen *l, const char *base, const char *d, size_t n, char *err, size_t errsize)
{
	char path[PATH_MAX], real[PATH_MAX];
	if (n == 0)
		return 0;
	if (l->ndirs == MAX_DIRS) {
		snprintf(err, errsize, "[serve] recording_dirs: at most %d directories", MAX_DIRS);
		return -1;
	}
	int k = d[0] == '/' ? snprintf(path, sizeof path, "%.*s", (int)n, d)
			    : snprintf(path, sizeof path, "%s/%.*s", base, (int)n, d);
	if (k < 0 || (size_t)k >= sizeof path || !realpath(path, real)) {
		snprintf(err, errsize, "recording directory %.*s: %s", (int)n, d, strerror(errno));
		return -1;
	}
	for (size_t i = 0; i < l->ndirs; i++)
		if (strcmp(l->dir[i], real) == 0)
			return 0;
	int fd = open(real, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		snprintf(err, errsize, "recording directory %s: %s", real, strerror(errno));
		return -1;
	}
	l->dir_fd[l->ndirs] = fd;
	snprintf(l->dir[l->ndirs++], PATH_MAX, "%s", real);
	return 0;
}

/* The state directory and the recording directories of `p` (the base, or
 * a tenant that links here); a tenant's missing state directory is no
 * error (it keeps its checkpoints elsewhere: S3). */
static int add_pipeline(struct listen *l, const struct pipeline *p, bool base, char (*states)[PATH_MAX],
			char *err, size_t errsize)
{
	char path[PATH_MAX];
	int where = state_dir(p, path, sizeof path);
	if (where < 0 && base) {
		snprintf(err, errsize, "listen: the listen pages read jobs from the state (there is none)");
		return -1;
	}
	if (where == 1) { /* on S3: read with the pipeline's own state calls */
		char place[PATH_MAX + 80], other[PATH_MAX + 80];
		bool dup = state_place(p, place, sizeof place) != 0;
		for (size_t i = 0; i < l->ns3 && !dup; i++)
			dup = state_place(l->s3[i], other, sizeof other) == 0 && strcmp(other, place) == 0;
		if (!dup && l->ns3 < MAX_DIRS)
			l->s3[l->ns3++] = p;
	}
	bool seen = where != 0;
	for (size_t i = 0; i < l->nstates && !seen; i++)
		seen = strcmp(states[i], path) == 0;
	if (!seen) {
		if (l->nstates == MAX_DIRS) {
			snprintf(err, errsize, "listen: at most %d state directories", MAX_DIRS);
			return -1;
		}
		int fd = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (fd < 0 && (base || errno != ENOENT)) {
			snprintf(err, errsize, "listen: state directory %s: %s", path, strerror(errno));
			return -1;
		}
		if (fd >= 0) {
			snprintf(states[l->nstates], PATH_MAX, "%s", path);
			l->state_fd[l->nstates++] = fd;
		}
	}
	const char *dirs = p->serve.recording_dirs;
	if (!dirs || !*dirs) {
		const struct cfg_entry *e = cfg_entry(cfg_section(&p->cfg, "locate"), "dir");
		dirs = e ? e->value : "";
	}
	for (const char *s = dirs; *s;) {
		size_t n = strcspn(s, ":");
		if (add_dir(l, p->dir, s, n, err, errsize) != 0)
			return -1;
		s += n + (s[n] == ':');
	}
	return 0;
}

struct listen *listen_new(struct tenants *ts, char *err, size_t errsize)
{
	struct listen *l = calloc(1, sizeof *l);
	char (*states)[PATH_MAX] = calloc(MAX_DIRS, PATH_MAX);
	if (!l || !states) {
		free(l);
		free(states);
		snprintf(err, errsize, "out of memory");
		return NULL;
	}
	const struct pipeline *p = tenants_base(ts);
	const char *pub = p->serve.public_url;
	if (!pub || !*pub) {
		snprintf(err, errsize, "listen: [serve] public_url is not set (the address owners open links at)");
		goto fail;
	}
	snprintf(l->public_url, sizeof l->public_url, "%s%s", pub, pub[strlen(pub) - 1] == '/' ? "" : "/");
	snprintf(l->timezone, sizeof l->timezone, "%s", p->set.timezone ? p->set.timezone : "");
	l->ts = ts;
	char path[PATH_MAX];
	link_key_path(p, path, sizeof path);
	if (link_key_load(path, true, &l->key, err, errsize) != 0)
		goto fail;
	/* The base, and every tenant whose mails link here (tenant.c: those
	 * that name no public_url of their own). */
	size_t n = tenants_load_all(ts);
	for (size_t i = 0; i < n; i++) {
		const struct pipeline *t = tenants_nth(ts, i);
		if (t && (i == 0 || (t->serve.public_url && strcmp(t->serve.public_url, pub) == 0)) &&
		    add_pipeline(l, t, i == 0, states, err, errsize) != 0)
			goto fail;
	}
	if (l->ndirs == 0) {
		snprintf(err, errsize, "listen: no recording directory ([serve] recording_dirs, or [locate] dir)");
		goto fail;
	}
	listen_csp("'self'", l->csp, sizeof l->csp);
	if (!(l->cache = playable_cache_new())) {
		snprintf(err, errsize, "out of memory");
		goto fail;
	}
	free(states);
	return l;
fail:
	free(states);
	listen_free(l);
	return NULL;
}

void listen_free(struct listen *l)
{
	if (!l)
		return;
	link_key_clear(&l->key);
	playable_cache_free(l->cache);
	for (size_t i = 0; i < l->nstates; i++)
		close(l->state_fd[i]);
	for (size_t i = 0; i < l->ndirs; i++)
		close(l->dir_fd[i]);
	free(l);
}

/* ------------------------------------------------------------ answers */

static enum MHD_Result page(struct listen *l, struct MHD_Connection *c, unsigned status, char *html, size_t len)
{
	if (!html)
		return MHD_NO;
	struct MHD_Response *r = MHD_create_response_from_buffer(len, html, MHD_RESPMEM_MUST_FREE);
	if (!r) {
		free(html);
		return MHD_NO;
	}
	http_common_headers(r);
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "text/html; charset=utf-8");
	MHD_add_response_header(r, "Content-Security-Policy", l->csp);
	enum MHD_Result ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result refuse(struct listen *l, struct MHD_Connection *c, unsigned status, const char *title,
			      const char *text)
{
	size_t len = 0;
	char *html = listen_error_page(title, text, &len);
	return page(l, c, status, html, len);
}

/* The query string back from libmicrohttpd's decoded arguments (each one,
 * repeats included, re-encoded), for link_verify_job(). */
static void pct(mbuf *b, const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; p && *p; p++) {
		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
		    *p == '-' || *p == '.' || *p == '_' || *p == '~')
			mbuf_putc(b, (char)*p);
		else
			mbuf_printf(b, "%%%02X", *p);
	}
}

static enum MHD_Result add_arg(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
	(void)kind;
	mbuf *b = cls;
	if (b->len)
		mbuf_putc(b, '&');
	pct(b, key);
	mbuf_putc(b, '=');
	pct(b, value);
	return MHD_YES;
}

/* The job a link names, or a refusal queued (*answered). */
static vm_job *job_of(struct listen *l, struct MHD_Connection *c, int64_t *exp, enum MHD_Result *answered)
{
	mbuf q = MBUF_INIT;
	MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, add_arg, &q);
	char *id = NULL;
	enum link_verdict v = link_verify_job(l->key.k, l->key.len, q.data ? q.data : "", clock_now_ms() / 1000, &id,
					      exp);
	mbuf_free(&q);
	if (v == LINK_MALFORMED || v == LINK_OLD) {
		*answered = refuse(l, c, MHD_HTTP_NOT_FOUND, "Not a voicemail link",
				   "This address is not a voicemail link. Open the link exactly as it appears in the e-mail.");
	} else if (v == LINK_FORGED) {
		log_msg(NULL, "listen", VM_LOG_WARN, "refused a forged link");
		*answered = refuse(l, c, MHD_HTTP_FORBIDDEN, "Link not valid",
				   "This voicemail link is not valid: it was altered or was not made here.");
	} else if (v == LINK_EXPIRED) {
		char when[64];
		format_human_date(*exp * 1000, when, sizeof when);
		char text[200];
		snprintf(text, sizeof text, "This voicemail link expired on %s.", when);
		*answered = refuse(l, c, MHD_HTTP_FORBIDDEN, "Link expired", text);
	} else {
		char name[LINK_JOB_ID_MAX + 8];
		snprintf(name, sizeof name, "%s.json", id);
		int fd = -1;
		for (size_t i = 0; i < l->nstates && fd < 0; i++)
			fd = openat(l->state_fd[i], name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
		char *text = NULL;
		size_t n = 0;
		vm_job *job = NULL;
		char jerr[200];
		if (fd >= 0 && read_fd(fd, RECORD_MAX, &text, &n) == 0)
			job = job_from_string(text, jerr, sizeof jerr);
		if (fd >= 0)
			close(fd);
		bool unavailable = false;
		for (size_t i = 0; i < l->ns3 && !job && fd < 0; i++)
			if (state_load(l->s3[i], NULL, id, &job) < 0) {
				log_msg(NULL, "listen", VM_LOG_WARN, "job %s: the state on S3 cannot be read", id);
				unavailable = true;
			}
		free(text);
		free(id);
		if (!job && unavailable)
			*answered = refuse(l, c, MHD_HTTP_SERVICE_UNAVAILABLE, "Voicemail not available right now",
					   "This voicemail cannot be read right now. Try again in a minute.");
		else if (!job)
			*answered = refuse(l, c, MHD_HTTP_NOT_FOUND, "Voicemail not found",
					   "This voicemail is no longer kept here.");
		return job;
	}
	free(id);
	return NULL;
}

/*
 * Open the job's recording beneath a recording directory, one component at
 * a time, none a symbolic link.  The descriptor, or -1.
 */
static int open_recording(const struct listen *l, const vm_job *job)
{
	char path[PATH_MAX];
	if (vm_file_uri_path(vm_job_get_str(job, "recording.uri"), path, sizeof path) != 0)
		return -1;
	for (size_t i = 0; i < l->ndirs; i++) {
		size_t dn = strlen(l->dir[i]);
		if (strncmp(path, l->dir[i], dn) != 0 || path[dn] != '/')
			continue;
		char rel[PATH_MAX];
		snprintf(rel, sizeof rel, "%s", path + dn + 1);
		int fd = dup(l->dir_fd[i]);
		char *save = NULL;
		for (char *part = strtok_r(rel, "/", &save); part && fd >= 0; part = strtok_r(NULL, "/", &save)) {
			bool last = !save || !*save;
			int next = -1;
			if (strcmp(part, ".") != 0 && strcmp(part, "..") != 0)
				next = openat(fd, part, O_NOFOLLOW | O_CLOEXEC | (last ? O_RDONLY : O_PATH | O_DIRECTORY));
			close(fd);
			fd = next;
		}
		struct stat st;
		if (fd >= 0 && (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))) {
			close(fd);
			fd = -1;
		}
		return fd;
	}
	return -1;
}

static enum MHD_Result listen_page_answer(struct listen *l, struct MHD_Connection *c, vm_job *job, int64_t exp)
{
	char *audio = NULL, *download = NULL;
	int fd = open_recording(l, job);
	if (fd >= 0) {
		close(fd);
		audio = link_make_job(l->key.k, l->key.len, l->public_url, "audio", vm_job_id(job), exp);
		if (audio && asprintf(&download, "%s&dl=1", audio) < 0)
			download = NULL;
	}
	size_t len = 0;
	/* Times as the mail gave them: in the zone of the job's own pipeline. */
	const char *tenant = vm_job_get_str(job, "tenant");
	struct diag d = {0};
	const struct pipeline *own = tenant && *tenant ? tenants_get(l->ts, tenant, &d) : NULL;
	diag_free(&d);
	job->timezone = own && own->set.timezone && *own->set.timezone ? own->set.timezone
		      : l->timezone[0] ? l->timezone : NULL;
	char *html = listen_page(job, download ? audio : NULL, download, exp, &len);
	free(audio);
	free(download);
	return page(l, c, MHD_HTTP_OK, html, len);
}

/* 416 with the size the ranges are counted in. */
static enum MHD_Result unsatisfiable(struct MHD_Connection *c, uint64_t size)
{
	char cr[64];
	snprintf(cr, sizeof cr, "bytes */%" PRIu64, size);
	struct MHD_Response *r = MHD_create_response_from_buffer(
		sizeof "range not satisfiable\n" - 1, (void *)"range not satisfiable\n", MHD_RESPMEM_PERSISTENT);
	if (!r)
		return MHD_NO;
	http_common_headers(r);
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_RANGE, cr);
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain; charset=utf-8");
	enum MHD_Result ret = MHD_queue_response(c, MHD_HTTP_RANGE_NOT_SATISFIABLE, r);
	MHD_destroy_response(r);
	return ret;
}

/*
 * The recording, in the form browsers play (playable.h): the file itself
 * (sendfile) or its MP3 from the cache.  HEAD, Range, If-Range and
 * If-None-Match count in the form served; its ETag says which form it is.
 */
static enum MHD_Result audio_answer(struct listen *l, struct MHD_Connection *c, vm_job *job)
{
	int fd = open_recording(l, job);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) != 0) {
		if (fd >= 0)
			close(fd);
		return refuse(l, c, MHD_HTTP_NOT_FOUND, "Recording not available",
			      "The recording of this voicemail is no longer kept here.");
	}
	char id[80], etag[96];
	snprintf(id, sizeof id, "%" PRIx64 "-%" PRIx64 "-%" PRIx64, (uint64_t)st.st_ino, (uint64_t)st.st_size,
		 (uint64_t)st.st_mtim.tv_sec * 1000000000u + (uint64_t)st.st_mtim.tv_nsec);
	const char *uri = vm_job_get_str(job, "recording.uri"), *type = vm_audio_type(uri), *ext = NULL;
	unsigned char *conv = NULL;
	size_t clen = 0;
	const char *ctype = NULL;
	bool converted = playable_get(l->cache, fd, id, &conv, &clen, &ctype) == 0;
	if (converted) {
		close(fd);
		fd = -1;
		type = ctype;
		ext = strcmp(ctype, "audio/mpeg") == 0 ? ".mp3" : ".wav";
	}
	snprintf(etag, sizeof etag, "\"%s%s\"", id, converted ? "-p" : "");
	uint64_t size = converted ? clen : (uint64_t)st.st_size, off = 0, len = size;
	unsigned status = MHD_HTTP_OK;
	const char *inm = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_IF_NONE_MATCH);
	const char *range = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_RANGE);
	const char *if_range = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_IF_RANGE);
	int k = if_range && strcmp(if_range, etag) != 0 ? 0 : http_range(range, size, &off, &len);
	struct MHD_Response *r;
	if (inm && (strstr(inm, etag) || strcmp(inm, "*") == 0)) {
		status = MHD_HTTP_NOT_MODIFIED;
		r = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
	} else if (k < 0) {
		if (fd >= 0)
			close(fd);
		free(conv);
		return unsatisfiable(c, size);
	} else if (converted) {
		status = k ? MHD_HTTP_PARTIAL_CONTENT : MHD_HTTP_OK;
		memmove(conv, conv + off, len);
		r = MHD_create_response_from_buffer_with_free_callback(len, conv, free);
		if (r)
			conv = NULL; /* the response's now */
	} else {
		status = k ? MHD_HTTP_PARTIAL_CONTENT : MHD_HTTP_OK;
		r = MHD_create_response_from_fd_at_offset64(len, fd, off); /* owns fd from here */
		if (r)
			fd = -1;
	}
	if (fd >= 0)
		close(fd);
	free(conv);
	if (!r)
		return MHD_NO;
	http_common_headers(r);
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	MHD_add_response_header(r, MHD_HTTP_HEADER_ACCEPT_RANGES, "bytes");
	MHD_add_response_header(r, MHD_HTTP_HEADER_ETAG, etag);
	if (status == MHD_HTTP_PARTIAL_CONTENT) {
		char cr[96];
		snprintf(cr, sizeof cr, "bytes %" PRIu64 "-%" PRIu64 "/%" PRIu64, off, off + len - 1, size);
		MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_RANGE, cr);
	}
	const char *dl = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "dl");
	if (dl && strcmp(dl, "1") == 0) {
		const char *dot = strrchr(uri, '.'), *slash = strrchr(uri, '/');
		if (!ext)
			ext = dot && dot > slash && strlen(dot) <= 5 && is_plain_name(dot + 1, 4) ? dot : "";
		char cd[LINK_JOB_ID_MAX + 64];
		snprintf(cd, sizeof cd, "attachment; filename=\"voicemail-%s%s\"", vm_job_id(job), ext);
		MHD_add_response_header(r, "Content-Disposition", cd);
	}
	enum MHD_Result ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return ret;
}

enum MHD_Result listen_answer(void *ctx, struct MHD_Connection *c, const char *method, const char *url)
{
	(void)method;
	struct listen *l = ctx;
	bool audio = strcmp(url, "/l/audio") == 0;
	if (!audio && strcmp(url, "/l/") != 0)
		return refuse(l, c, MHD_HTTP_NOT_FOUND, "Not a voicemail link",
			      "This address is not a voicemail link. Open the link exactly as it appears in the e-mail.");
	int64_t exp = 0;
	enum MHD_Result answered = MHD_NO;
	vm_job *job = job_of(l, c, &exp, &answered);
	if (!job)
		return answered;
	enum MHD_Result r = audio ? audio_answer(l, c, job) : listen_page_answer(l, c, job, exp);
	job_free(job);
	return r;
}
