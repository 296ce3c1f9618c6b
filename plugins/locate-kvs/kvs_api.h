/*
 * Kinesis Video Streams for locate-kvs: GetDataEndpoint (cached per stream)
 * and GetMedia streamed through the Connect audio reader (kvs_audio.h).
 * Owner: locate-kvs.
 */
#ifndef VMPIPE_KVS_API_H
#define VMPIPE_KVS_API_H

#include <pthread.h>
#include <stdint.h>

#include <vmpipe/vmpipe.h>

#include "kvs_audio.h"

#define KVS_ENDPOINTS 32            /* streams whose data endpoint is remembered */
#define KVS_ENDPOINT_TTL_MS (45 * 60 * 1000LL)

struct kvs_endpoint_cache {
	pthread_mutex_t mu;
	struct {
		char arn[1030];
		char url[512];
		int64_t at;
	} v[KVS_ENDPOINTS];
	unsigned next;
};

void kvs_cache_init(struct kvs_endpoint_cache *c);
void kvs_cache_fini(struct kvs_endpoint_cache *c);

/* The GET_MEDIA data endpoint of `arn` into url (cached).  VM_DONE or a vm_fail() status. */
vm_status kvs_data_endpoint(vm_job *job, struct kvs_endpoint_cache *c, const char *region, const char *arn,
			    char *url, size_t size);

/* GetMedia of `arn` from fragment `start` into the reader `a` (which decides
 * when it has enough).  VM_DONE when the answer ended or the reader stopped
 * it; otherwise a vm_fail() status (a reader error is VM_PERMANENT with its
 * message). */
vm_status kvs_get_media(vm_job *job, const char *region, const char *endpoint, const char *arn, const char *start,
			uint64_t max_bytes, struct kvs_audio *a);

#endif
