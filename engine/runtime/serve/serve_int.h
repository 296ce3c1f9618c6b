/*
 * Inside `vmpipe serve` (serve.h): what its files share.  serve.c is the
 * loop (set-up, signals, drain, job ends), serve_intake.c admits events,
 * serve_spool.c takes them from the spool, serve_queue.c from Amazon SQS,
 * serve_http.c answers HTTP on its own threads.  Everything else here runs
 * on the loop's thread.
 */
#ifndef VMPIPE_SERVE_INT_H
#define VMPIPE_SERVE_INT_H

#include <jansson.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>

#include "metrics.h"
#include "core/sched.h"
#include "serve.h"
#include "spool.h"
#include "aws/sqs.h"
#include "core/tenant.h"

#define SCAN_EVERY_MS 30000  /* a full look at the spool besides inotify */
#define LATER_MS 5000        /* a store that could not be reached: look again */
#define SWEEP_EVERY_MS 3600000
#define TMP_MAX_AGE_S (36 * 3600) /* Maildir's rule for abandoned tmp/ files */
#define INTAKE_SLICE 64      /* files taken per turn of the loop */

/* One load of the pipelines.  Jobs keep the one they started on across a
 * SIGHUP; it is closed when the last of them ends. */
struct gen {
	struct tenants *ts;
	size_t refs;
};

/* The loop's part of a job (the scheduler's `owner`). */
struct held {
	struct gen *gen;
	char cur[NAME_MAX + 1];   /* its event, kept in SPOOL/cur/ until the job ends */
	int64_t accepted_ms;
	bool resumed;             /* from its checkpoint: the record's own recording stands */
};

struct srv {
	const struct serve_opts *o;
	char spool[PATH_MAX];
	char owner[200];
	struct gen *gen;
	struct sched *s;
	struct metrics *m;
	json_t *ids;              /* ids of jobs in flight here */
	json_t *curs;             /* SPOOL/cur names in flight here */
	struct web *web;          /* serve_http.c */
	int lock_fd, ino_fd, sig_fd, sock_fd;
	int64_t drain_ms, keep_done_ms;
	bool stopping;
	bool waiting;             /* the state store could not be reached: intake waits LATER_MS */
	int64_t next_scan;        /* real ms (CLOCK_MONOTONIC) */
	int64_t next_sweep;
	/* SQS intake (the section below "SQS intake"). */
	struct sqs *queue;        /* [serve] queue / --queue; NULL: none */
	int64_t queue_vis_ms;
	struct queue_later *later; /* messages whose admission waits for the state store */
};


/* ADMIT_DEFER: not now, this one only (a retry of a job still running):
 * the spool keeps the file for a later scan, the queue gives the message
 * back; ADMIT_LATER: not now, nothing (the store cannot be read). */
enum admit { ADMIT_STARTED, ADMIT_SKIP, ADMIT_DONE, ADMIT_LATER, ADMIT_DEFER, ADMIT_REFUSED };

/* CLOCK_MONOTONIC milliseconds: the loop's own timers (scans, drain). */
int64_t mono_ms(void);
/* SPOOL/cur/NAME into buf ("" when it does not fit). */
void cur_path(const struct srv *v, const char *name, char *buf, size_t size);
void held_free(struct held *h);
void gen_unref(struct gen *g);

/* serve_intake.c */
/* Claim, checkpoint and start the job of one event (SQS: a dropped mail is
 * refused there); *hp is its part of the loop when ADMIT_STARTED.  `why`
 * says what happened otherwise. */
enum admit admit(struct srv *v, const char *text, size_t len, struct held **hp, char *why,
		 size_t whysize);
/* The same for a job made already (owned); `retry`: a retry request's. */
enum admit admit_job(struct srv *v, vm_job *job, bool retry, struct held **hp, char *why, size_t whysize);

/* serve_spool.c */
/* One entry of SPOOL/new (or SPOOL/cur at start: in_cur): taken, rejected or
 * quarantined.  True when it cost work (INTAKE_SLICE counts those). */
bool take(struct srv *v, const char *name, bool in_cur);
/* The entries of SPOOL/SUB (taken, with take_them, up to INTAKE_SLICE: then
 * next_scan is now); how many there are. */
size_t scan(struct srv *v, const char *sub, bool take_them);
/* A look at cur/ then new/ (a slice of each); `resumed` (may be NULL): how
 * many were in cur/. */
void intake_round(struct srv *v, size_t *resumed);
void clean_tmp(struct srv *v);
void read_inotify(struct srv *v);

/* serve_http.c: the HTTP threads (metrics at `metrics`, the listen pages of
 * the pipelines `ts` at `listen`, each when set). */
int web_start(struct srv *v, struct tenants *ts, const char *metrics, const char *listen, char *err,
	      size_t errsize);
/* Readable when /healthz asks whether the loop turns; web_turn() answers. */
int web_fd(const struct srv *v);
void web_turn(struct srv *v);
void web_stop(struct srv *v);
/* SIGHUP: the listen pages take the new pipelines' [serve] settings (public_url, the
 * link key, the state and recording directories); on an error they keep
 * theirs.  The listen address itself changes at the next start. */
void web_reload(struct srv *v, struct tenants *ts);

/* serve_queue.c: 0, or an exit status after logging why. */
int queue_open(struct srv *v);
void queue_take(struct srv *v);
void queue_retry_later(struct srv *v);
void queue_job_ended(struct srv *v, const char *id, const struct sched_end *e);
void queue_stop_intake(struct srv *v);
void queue_close(struct srv *v);

#endif
