/*
 * fuzz-frame.c: libFuzzer target for lib/frame.c, the bounded reader every
 * byte from a Varlink peer passes through (rosterd and libroster alike).
 *
 * The input is fed to a frame_buf in chunks whose sizes come from the input
 * itself, the way a socket delivers a stream in arbitrary pieces; every
 * complete frame is parsed, and every accepted message is encoded again and
 * must parse back to an equal object. The first input byte also picks the
 * frame limit (a small one reaches the size checks quickly, the real one
 * covers the daemon's setting). Beyond what the sanitizers catch, the
 * target aborts when an invariant of frame.h is broken.
 */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "lib/frame.h"

static void check_frame(const char *text, size_t len)
{
	json_t *msg = NULL, *back = NULL;
	enum frame_error e;
	size_t elen;
	char *enc;

	if (memchr(text, '\0', len) != NULL)
		abort();        /* peek must stop at the first NUL */
	e = frame_parse(text, len, &msg);
	if (frame_error_string(e) == NULL)
		abort();
	if (e != FRAME_OK) {
		if (msg != NULL)
			abort();        /* *ret untouched on failure */
		return;
	}
	if (!json_is_object(msg))
		abort();
	/* What was accepted must survive a round trip through the writer. */
	enc = frame_encode(msg, FRAME_MAX_SIZE * 4, &elen);
	if (enc != NULL) {
		if (elen == 0 || enc[elen - 1] != '\0' || strlen(enc) != elen - 1)
			abort();
		if (frame_parse(enc, elen - 1, &back) != FRAME_OK || !json_equal(msg, back))
			abort();
		json_decref(back);
		frame_free(enc, elen);
	}
	json_decref(msg);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct frame_buf fb;
	size_t max, off = 1, chunk;

	if (size < 1)
		return 0;
	max = (data[0] & 1) ? FRAME_MAX_SIZE : 64 + (data[0] >> 1);
	/* Chunk sizes cycle through 1, 2, 3, ...: splits at many positions. */
	chunk = 1 + (data[0] >> 4);
	frame_buf_init(&fb, max);
	while (off < size) {
		size_t n = size - off < chunk ? size - off : chunk;
		const char *text;
		size_t len, held = fb.len;
		int r;

		r = frame_buf_append(&fb, data + off, n);
		if (r == -EMSGSIZE) {
			if (fb.len != held)
				abort();        /* the buffer is unchanged on error */
			break;          /* the daemon drops such a peer */
		}
		if (r < 0)
			abort();
		off += n;
		chunk = chunk % 7 + 1;
		while ((r = frame_buf_peek(&fb, &text, &len)) == 1) {
			if (len + 1 > max || len + 1 > fb.len)
				abort();
			check_frame(text, len);
			frame_buf_consume(&fb, len);
		}
		if (r != 0 && r != -EMSGSIZE)
			abort();
		if (r == -EMSGSIZE)
			break;
		if (fb.tail > fb.len || fb.len > fb.cap)
			abort();
	}
	frame_buf_free(&fb);
	return 0;
}
