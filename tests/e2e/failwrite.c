/*
 * failwrite.c: fault injection for tests/e2e/stream-fail.sh, for a failure
 * only exhausted memory causes. Preloaded into rosterd (LD_PRELOAD), it
 * makes libuv's uv_write() fail with UV_ENOMEM, as queueing a reply does
 * when there is no memory for it, while the file named by the environment
 * variable ROSTER_TEST_FAILWRITE exists. Everything else is the real
 * daemon. rosterd writes each reply with uv_try_write() first and queues
 * only what the socket did not take, so only a client that has stopped
 * reading meets the failure.
 */
#include "config.h"             /* defines _GNU_SOURCE, for RTLD_NEXT */

#include <dlfcn.h>
#include <stdlib.h>
#include <unistd.h>

#include <uv.h>

typedef int (*uv_write_fn)(uv_write_t *, uv_stream_t *, const uv_buf_t[], unsigned int,
			   uv_write_cb);

int uv_write(uv_write_t *req, uv_stream_t *handle, const uv_buf_t bufs[], unsigned int nbufs,
	     uv_write_cb cb)
{
	static uv_write_fn real;
	const char *trigger = getenv("ROSTER_TEST_FAILWRITE");

	if (trigger != NULL && access(trigger, F_OK) == 0)
		return UV_ENOMEM;
	if (real == NULL)
		real = (uv_write_fn)dlsym(RTLD_NEXT, "uv_write");
	if (real == NULL)
		abort();
	return real(req, handle, bufs, nbufs, cb);
}
