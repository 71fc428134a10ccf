/*
 * frame.c: bounded Varlink framing (see frame.h). Shared by the daemon and
 * the client library so that both ends enforce the same limits.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "lib/frame.h"

void frame_buf_init(struct frame_buf *fb, size_t max)
{
	memset(fb, 0, sizeof(*fb));
	fb->max = max;
}

void frame_buf_free(struct frame_buf *fb)
{
	if (fb->data != NULL) {
		sodium_memzero(fb->data, fb->cap);
		free(fb->data);
	}
	fb->data = NULL;
	fb->len = fb->cap = fb->tail = 0;
}

int frame_buf_append(struct frame_buf *fb, const void *data, size_t n)
{
	const char *last_nul;
	size_t need, ncap, tail;
	char *nd;

	if (n == 0)
		return 0;
	/*
	 * Only the bytes after the last NUL are an unfinished frame. Track
	 * their count instead of searching for it again on every append, so a
	 * peer sending one byte at a time costs linear time, and refuse to
	 * hold more of it than one maximum frame.
	 */
	last_nul = memrchr(data, '\0', n);
	tail = last_nul ? (size_t)((const char *)data + n - last_nul - 1) : fb->tail + n;
	if (tail >= fb->max)
		return -EMSGSIZE;
	if (n > SIZE_MAX - fb->len)
		return -ENOMEM;
	need = fb->len + n;
	if (need > fb->cap) {
		ncap = fb->cap ? fb->cap : 4096;
		while (ncap < need)
			ncap *= 2;
		/* Grow by copy so the old bytes can be wiped, not left behind by realloc. */
		nd = malloc(ncap);
		if (nd == NULL)
			return -ENOMEM;
		if (fb->len > 0)
			memcpy(nd, fb->data, fb->len);
		if (fb->data != NULL) {
			sodium_memzero(fb->data, fb->cap);
			free(fb->data);
		}
		fb->data = nd;
		fb->cap = ncap;
	}
	memcpy(fb->data + fb->len, data, n);
	fb->len += n;
	fb->tail = tail;
	return 0;
}

int frame_buf_peek(const struct frame_buf *fb, const char **ret_frame, size_t *ret_len)
{
	const char *nul;
	size_t len;

	/* No NUL held (all bytes are the unfinished tail): nothing to search. */
	if (fb->len == 0 || fb->tail == fb->len)
		return fb->len >= fb->max ? -EMSGSIZE : 0;
	nul = memchr(fb->data, '\0', fb->len);
	if (nul == NULL)
		return fb->len >= fb->max ? -EMSGSIZE : 0;
	len = (size_t)(nul - fb->data);
	if (len + 1 > fb->max)
		return -EMSGSIZE;
	*ret_frame = fb->data;
	*ret_len = len;
	return 1;
}

void frame_buf_consume(struct frame_buf *fb, size_t len)
{
	size_t drop = len + 1;

	if (drop > fb->len)
		drop = fb->len;
	memmove(fb->data, fb->data + drop, fb->len - drop);
	sodium_memzero(fb->data + fb->len - drop, drop);
	fb->len -= drop;
	if (fb->tail > fb->len)
		fb->tail = fb->len;
}

/*
 * jansson's own depth limit is a compile-time 2048; ours is far lower, so
 * measure the nesting first. This is not a JSON parser: it only tracks
 * whether it is inside a string (honouring backslash escapes) and counts
 * brackets outside strings. Malformed text is left for jansson to reject.
 */
static int depth_ok(const char *s, size_t len)
{
	int depth = 0, in_str = 0;

	for (size_t i = 0; i < len; i++) {
		char ch = s[i];

		if (in_str) {
			if (ch == '\\')
				i++;
			else if (ch == '"')
				in_str = 0;
			continue;
		}
		switch (ch) {
		case '"':
			in_str = 1;
			break;
		case '{':
		case '[':
			if (++depth > FRAME_MAX_DEPTH)
				return 0;
			break;
		case '}':
		case ']':
			depth--;
			break;
		default:
			break;
		}
	}
	return 1;
}

enum frame_error frame_parse(const char *text, size_t len, json_t **ret)
{
	json_error_t jerr;
	json_t *j;

	if (!depth_ok(text, len))
		return FRAME_TOO_DEEP;
	/* DECODE_ANY, so a bare string or number is named as "not an object". */
	j = json_loadb(text, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
	if (j == NULL)
		return FRAME_BAD_JSON;
	if (!json_is_object(j)) {
		json_decref(j);
		return FRAME_NOT_OBJECT;
	}
	*ret = j;
	return FRAME_OK;
}

const char *frame_error_string(enum frame_error e)
{
	switch (e) {
	case FRAME_OK:
		return "ok";
	case FRAME_TOO_DEEP:
		return "message nested too deeply";
	case FRAME_BAD_JSON:
		return "message is not valid JSON";
	case FRAME_NOT_OBJECT:
		return "message is not a JSON object";
	}
	return "unknown frame error";
}

char *frame_encode(const json_t *msg, size_t max, size_t *ret_len)
{
	char *s;
	size_t n;

	s = json_dumps(msg, JSON_COMPACT);
	if (s == NULL)
		return NULL;
	n = strlen(s) + 1;       /* the NUL terminator is the frame delimiter */
	if (n > max) {
		frame_free(s, n);
		return NULL;
	}
	*ret_len = n;
	return s;
}

void frame_free(char *buf, size_t len)
{
	json_malloc_t m;
	json_free_t f;

	if (buf == NULL)
		return;
	sodium_memzero(buf, len);
	json_get_alloc_funcs(&m, &f);
	f(buf);
}
