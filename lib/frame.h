/*
 * frame.h: the one bounded reader for Varlink frames, shared by rosterd and
 * libroster. A frame is one JSON object terminated by a NUL byte. Every byte
 * read from a socket passes through frame_buf_append(), which refuses to hold
 * more than one maximum-size frame, and every frame is parsed by
 * frame_parse(), which bounds nesting depth before jansson sees the text.
 *
 * This code never logs and never interprets the message beyond "is it a
 * JSON object within limits".
 */
#pragma once

#include <stddef.h>
#include <jansson.h>

/* The largest frame either side accepts, terminating NUL included. */
#define FRAME_MAX_SIZE (64u * 1024u)
/* The deepest nesting of objects and arrays accepted in a frame. */
#define FRAME_MAX_DEPTH 16

struct frame_buf {
	char *data;     /* owned; wiped on free, since frames carry passphrases */
	size_t len;     /* bytes held */
	size_t tail;    /* bytes after the last NUL held: the unfinished frame */
	size_t cap;     /* bytes allocated */
	size_t max;     /* most bytes a single frame may take */
};

/* Initialise an empty buffer that accepts frames of at most max bytes. */
void frame_buf_init(struct frame_buf *fb, size_t max);
/* Wipe and release the buffer; safe on an initialised, empty buffer. */
void frame_buf_free(struct frame_buf *fb);

/*
 * Append n bytes read from the peer. Returns 0, -EMSGSIZE if the bytes held
 * would exceed one maximum frame without a terminating NUL, or -ENOMEM.
 * On error the buffer is unchanged.
 */
int frame_buf_append(struct frame_buf *fb, const void *data, size_t n);

/*
 * Find the next complete frame. Returns 1 and points *ret_frame at its text
 * (NUL-terminated, inside the buffer, valid until the next call that changes
 * the buffer) with *ret_len its length without the NUL; 0 if no complete
 * frame is held; -EMSGSIZE if the first frame is longer than the maximum.
 */
int frame_buf_peek(const struct frame_buf *fb, const char **ret_frame, size_t *ret_len);

/* Drop the first frame (len + 1 bytes), wiping the bytes it occupied. */
void frame_buf_consume(struct frame_buf *fb, size_t len);

/* Why frame_parse() refused a frame. */
enum frame_error {
	FRAME_OK = 0,
	FRAME_TOO_DEEP,
	FRAME_BAD_JSON,
	FRAME_NOT_OBJECT,
};

/*
 * Parse one frame's text (len bytes, no NUL inside). On success returns
 * FRAME_OK and stores a new reference in *ret (caller must json_decref);
 * otherwise returns the reason and leaves *ret untouched. Duplicate keys are
 * refused, as is any nesting deeper than FRAME_MAX_DEPTH.
 */
enum frame_error frame_parse(const char *text, size_t len, json_t **ret);

/* A short English phrase for a frame_error. */
const char *frame_error_string(enum frame_error e);

/*
 * Serialise a message as one frame: compact JSON followed by a NUL. Returns a
 * buffer allocated by jansson (release it with frame_free) and its length
 * including the NUL in *ret_len, or NULL if the message cannot be encoded or
 * would exceed max bytes.
 */
char *frame_encode(const json_t *msg, size_t max, size_t *ret_len);

/*
 * Wipe and release a buffer from frame_encode(). len is the length it
 * reported. jansson may use an allocator of the program's choosing (rosterd
 * installs a wiping one), so plain free() would be wrong.
 */
void frame_free(char *buf, size_t len);
