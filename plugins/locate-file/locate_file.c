/*
 * locate-file: the recording is a file on local disk (a PBX spool, the demo).
 *
 * The file name comes from `pattern` ({contact_id}, {initial_contact_id},
 * {id}) under `dir`.  The plugin asks to be called again until the file exists
 * and has stopped changing for `settle` (a file last modified longer ago is
 * taken at once), and gives up after `wait`.
 * Any path that resolves outside `dir` (.., symlinks) is refused.  A job
 * record that already carries a file:// URI is checked the same way.  The
 * file found is opened without following a link and its identity recorded
 * (vm_recording_file_id), so the stages after this one read that very file:
 * swapping the path for a link to another file in between gets nothing.
 * A job resumed from a checkpoint is located again (state.c), and must find
 * the file it found before (recording.file_id).
 * A .wav recording's duration comes from its header (recording.duration_seconds).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <vmpipe/vmpipe.h>

struct locate_file {
	const char *dir;
	const char *pattern;
	int64_t wait_ms;
	int64_t settle_ms;
	int64_t poll_ms;
	char root[PATH_MAX]; /* realpath of dir, set by init */
};

static bool safe_component(const char *v)
{
	return v && *v && !strchr(v, '/') && strcmp(v, ".") != 0 && strcmp(v, "..") != 0;
}

/* Expand the pattern; -1 with a message on a bad value or placeholder. */
static int expand(const struct locate_file *lf, vm_job *job, char *out, size_t size, char *err,
		  size_t errsize)
{
	size_t n = 0;
	for (const char *p = lf->pattern; *p;) {
		if (*p == '{') {
			const char *close = strchr(p, '}');
			if (!close) {
				snprintf(err, errsize, "unterminated { in pattern");
				return -1;
			}
			const char *v = NULL;
			size_t len = (size_t)(close - p - 1);
			if (len == 10 && strncmp(p + 1, "contact_id", len) == 0)
				v = vm_job_get_str(job, "contact.id");
			else if (len == 18 && strncmp(p + 1, "initial_contact_id", len) == 0)
				v = vm_job_get_str(job, "contact.initial_id");
			else if (len == 2 && strncmp(p + 1, "id", len) == 0)
				v = vm_job_id(job);
			else {
				snprintf(err, errsize, "unknown placeholder {%.*s} in pattern", (int)len, p + 1);
				return -1;
			}
			if (!safe_component(v)) {
				snprintf(err, errsize, "value for {%.*s} is missing or not a plain file name",
					 (int)len, p + 1);
				return -1;
			}
			int w = snprintf(out + n, size - n, "%s", v);
			if (w < 0 || (size_t)w >= size - n)
				goto toolong;
			n += (size_t)w;
			p = close + 1;
		} else {
			if (n + 1 >= size)
				goto toolong;
			out[n++] = *p++;
		}
	}
	out[n] = '\0';
	return 0;
toolong:
	snprintf(err, errsize, "expanded path is too long");
	return -1;
}

/* Is `path` (already resolved) inside root? */
static bool inside(const char *root, const char *path)
{
	size_t n = strlen(root);
	return strncmp(root, path, n) == 0 && (path[n] == '/' || (n == 1 && root[0] == '/'));
}

/* Not there (yet): ask again, or give up after `wait`. */
static vm_status not_yet(const struct locate_file *lf, vm_job *job, const char *what)
{
	int64_t now = vm_now_ms(), since;
	if (!vm_job_get_int(job, "recording.search_started_at", &since)) {
		vm_job_set_int(job, "recording.search_started_at", now);
		since = now;
	}
	if (now - since >= lf->wait_ms) {
		vm_job_set_str(job, "recording.error", "not found");
		vm_job_set_str(job, "recording.search_started_at", NULL);
		return vm_fail(job, VM_PERMANENT, "recording not found: %s (waited %llds in %s)", what,
			       (long long)(lf->wait_ms / 1000), lf->dir);
	}
	return vm_retry(job, lf->poll_ms);
}

/* Bytes read for the WAV header: fmt and data chunk headers, and the usual
 * LIST/bext chunks before them. */
#define WAV_HEAD_MAX (64 * 1024)

/*
 * recording.duration_seconds from the WAV header, so the mail has a duration
 * when no transcriber runs or it fails.  Only the header is read, never the
 * samples.  A file that is not a WAV we can read just has no duration.
 */
static void probe_duration(vm_job *job, int fd, const char *path, int64_t size)
{
	unsigned char *head = malloc(WAV_HEAD_MAX);
	if (!head)
		return;
	/* Through the descriptor located: the very file, whatever the path says now. */
	ssize_t n = pread(fd, head, WAV_HEAD_MAX, 0);
	vm_wav wav;
	char err[256];
	if (n < 0) {
		vm_log(job, VM_LOG_WARN, "duration unknown: cannot read %s: %s", path, strerror(errno));
	} else if (vm_wav_probe(head, (size_t)n, (uint64_t)size, &wav, err, sizeof err) == VM_WAV_OK) {
		vm_job_set_num(job, "recording.duration_seconds", wav.duration);
		vm_log(job, VM_LOG_DEBUG, "%u Hz, %u channel(s), %.2f s%s", wav.src_rate,
		       wav.src_channels, wav.duration, wav.truncated ? " (cut short)" : "");
	} else {
		vm_log(job, VM_LOG_INFO, "duration unknown: %s: %s", path, err);
	}
	free(head);
}

/*
 * Open `real` (resolved from `path` and found inside dir) without following a
 * link, and make sure the open file is what the resolved path still names:
 * the path was resolved before the open, and a directory on the way could
 * have been swapped for a link in between.  *fd >= 0 with *st filled when it
 * is the regular file to use; otherwise *fd is -1 and the status says what
 * to do (ask again, or refuse).
 */
static vm_status open_checked(const struct locate_file *lf, vm_job *job, const char *path,
			      const char *real, int *fd, struct stat *st)
{
	*fd = open(real, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	if (*fd < 0) {
		if (errno == ENOENT || errno == ENOTDIR)
			return not_yet(lf, job, real);
		if (errno == ELOOP)
			return vm_fail(job, VM_PERMANENT, "recording %s became a symbolic link: refused", real);
		return vm_fail(job, VM_TRANSIENT, "cannot open %s: %s", real, strerror(errno));
	}
	char again[PATH_MAX];
	struct stat named;
	vm_status s = VM_DONE;
	if (fstat(*fd, st) != 0)
		s = vm_fail(job, VM_TRANSIENT, "cannot stat %s: %s", real, strerror(errno));
	else if (!S_ISREG(st->st_mode))
		s = vm_fail(job, VM_PERMANENT, "recording %s is not a regular file", real);
	else if (!realpath(path, again) || strcmp(again, real) != 0 || stat(again, &named) != 0 ||
		 named.st_dev != st->st_dev || named.st_ino != st->st_ino)
		s = not_yet(lf, job, real); /* it changed while we looked: look again */
	else
		return VM_DONE;
	close(*fd);
	*fd = -1;
	return s;
}

static vm_status run(const void *state, vm_job *job)
{
	const struct locate_file *lf = state;
	char rel[PATH_MAX], path[PATH_MAX * 2 + 2], err[256];
	const char *uri = vm_job_get_str(job, "recording.uri");
	if (uri && strncmp(uri, "file://", 7) == 0) {
		/* Given directly by a job record: decode and confine it like the rest. */
		if (vm_file_uri_path(uri, path, sizeof path) != 0)
			return vm_fail(job, VM_PERMANENT, "recording.uri '%.200s' is not an absolute file URI", uri);
	} else if (uri) {
		return vm_fail(job, VM_PERMANENT,
			       "recording.uri '%.200s' is not a file:// URI (locate-file reads local files)", uri);
	} else {
		if (expand(lf, job, rel, sizeof rel, err, sizeof err) != 0)
			return vm_fail(job, VM_PERMANENT, "pattern '%s': %s", lf->pattern, err);
		snprintf(path, sizeof path, "%s/%s", lf->root, rel);
	}

	char real[PATH_MAX];
	if (!realpath(path, real)) {
		if (errno != ENOENT && errno != ENOTDIR)
			return vm_fail(job, VM_TRANSIENT, "cannot resolve %s: %s", path, strerror(errno));
		/* Not there yet; but never wait for a path that could not be inside dir. */
		if (strstr(path, "/../") || !inside(lf->root, path))
			return vm_fail(job, VM_PERMANENT, "recording path %s is outside %s: refused", path, lf->dir);
		return not_yet(lf, job, path);
	}
	if (!inside(lf->root, real))
		return vm_fail(job, VM_PERMANENT, "recording path %s resolves outside %s: refused", path, lf->dir);
	struct stat st;
	int fd = -1;
	vm_status s = open_checked(lf, job, path, real, &fd, &st);
	if (fd < 0)
		return s;

	/* Still being written?  A file last modified `settle` ago or earlier has
	 * finished (every write moves mtime): take it at once.  Otherwise wait
	 * until its size holds for `settle`. */
	int64_t now = vm_now_ms(), seen_size = -1, seen_at = 0;
	int64_t mtime = (int64_t)st.st_mtim.tv_sec * 1000 + st.st_mtim.tv_nsec / 1000000;
	bool quiet = lf->settle_ms <= 0 || now - mtime >= lf->settle_ms;
	vm_job_get_int(job, "recording.seen_size", &seen_size);
	vm_job_get_int(job, "recording.seen_at", &seen_at);
	if (quiet) {
		/* done below */
	} else if (seen_size != (int64_t)st.st_size || seen_at == 0) {
		vm_job_set_int(job, "recording.seen_size", (int64_t)st.st_size);
		vm_job_set_int(job, "recording.seen_at", now);
		if (lf->settle_ms > 0) {
			close(fd);
			return vm_retry(job, lf->settle_ms);
		}
	} else if (now - seen_at < lf->settle_ms) {
		close(fd);
		return vm_retry(job, lf->settle_ms - (now - seen_at));
	}

	/* The file that readers (vm_fetch) must find there, and no other.  A job
	 * resumed from its checkpoint was located before: it must be that very
	 * file still (the checkpoint is no authority for the path, and the path
	 * is no authority for the file). */
	char before[128] = "";
	const char *had = vm_job_get_str(job, "recording.file_id");
	if (had)
		snprintf(before, sizeof before, "%s", had);
	int rc = vm_recording_file_id(job, fd);
	const char *now_id = vm_job_get_str(job, "recording.file_id");
	if (rc == 0 && *before && (!now_id || strcmp(now_id, before) != 0)) {
		close(fd);
		return vm_fail(job, VM_PERMANENT,
			       "recording %s is not the file the locate stage found (replaced or changed since): refused",
			       real);
	}
	const char *type = vm_audio_type(real);
	if (rc == 0 && type && strcmp(type, "audio/wav") == 0)
		probe_duration(job, fd, real, (int64_t)st.st_size);
	close(fd);
	if (rc != 0)
		return vm_fail(job, VM_TRANSIENT, "cannot identify recording %s: %s", real, strerror(errno));
	char furi[PATH_MAX * 3 + 8];
	if (vm_file_uri(real, furi, sizeof furi) != 0)
		return vm_fail(job, VM_PERMANENT, "recording path %s is too long for a file URI", real);
	vm_job_set_str(job, "recording.uri", furi);
	vm_job_set_int(job, "recording.size", (int64_t)st.st_size);
	vm_job_set_str(job, "recording.content_type", type ? type : "application/octet-stream");
	vm_job_set_str(job, "recording.seen_size", NULL);
	vm_job_set_str(job, "recording.seen_at", NULL);
	vm_job_set_str(job, "recording.search_started_at", NULL);
	vm_log(job, VM_LOG_INFO, "recording %s (%lld bytes)", real, (long long)st.st_size);
	return vm_done(job);
}

static int init(vm_stage *stage, void *state)
{
	struct locate_file *lf = state;
	/* Relative to the pipeline file, like every path option. */
	char buf[PATH_MAX * 2];
	if (lf->dir[0] == '/')
		snprintf(buf, sizeof buf, "%s", lf->dir);
	else
		snprintf(buf, sizeof buf, "%s/%s", vm_stage_config_dir(stage), lf->dir);
	if (!realpath(buf, lf->root)) {
		vm_stage_error(stage, "option 'dir': cannot use %s: %s", buf, strerror(errno));
		return -1;
	}
	struct stat st;
	if (stat(lf->root, &st) != 0 || !S_ISDIR(st.st_mode)) {
		vm_stage_error(stage, "option 'dir': %s is not a directory", lf->dir);
		return -1;
	}
	if (strstr(lf->pattern, "..") || lf->pattern[0] == '/') {
		vm_stage_error(stage, "option 'pattern': '%s' must be a relative name without '..'", lf->pattern);
		return -1;
	}
	return 0;
}

#define O(f) offsetof(struct locate_file, f)
static const vm_option options[] = {
	{"dir", VM_OPT_STRING, NULL, true, O(dir), "directory the recordings are written to", NULL},
	{"pattern", VM_OPT_STRING, "{contact_id}.wav", false, O(pattern),
	 "file name under dir: {contact_id}, {initial_contact_id}, {id}", NULL},
	{"wait", VM_OPT_DURATION, "2m", false, O(wait_ms), "give up when the file is not there after this",
	 NULL},
	{"settle", VM_OPT_DURATION, "1s", false, O(settle_ms),
	 "a file modified less than this long ago is still being written: wait until its size holds this long",
	 NULL},
	{"poll", VM_OPT_DURATION, "1s", false, O(poll_ms), "how often to look again", NULL},
	{NULL, 0, NULL, false, 0, NULL, NULL},
};

const vm_plugin vmpipe_plugin = {
	.abi_version = VMPIPE_ABI_VERSION,
	.kind = VM_STAGE_LOCATE,
	.name = "locate-file",
	.summary = "find the recording on local disk (a PBX spool, the demo)",
	.options = options,
	.state_size = sizeof(struct locate_file),
	.init = init,
	.run = run,
};
