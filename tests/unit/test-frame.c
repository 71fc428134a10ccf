/*
 * test-frame.c: unit tests for lib/frame.c, the one bounded reader and
 * writer of Varlink frames. Covers split and merged frames, the size limit
 * at and around its boundary, wiping, nesting depth, duplicate keys and
 * frame_encode's limit and terminator.
 *
 * A recording jansson allocator is installed in main() so that the tests can
 * see whether frame_free() wipes a buffer before releasing it.
 */
#include "config.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <check.h>
#include <jansson.h>

#include "lib/frame.h"

/* --- recording allocator ----------------------------------------------- */

static const void *watch_ptr;   /* the block whose release we want to see */
static size_t watch_len;
static int watch_freed;         /* 1 once released */
static int watch_was_zero;      /* 1 if every watched byte was 0 at release */

static void *rec_malloc(size_t n)
{
	return malloc(n);
}

static void rec_free(void *p)
{
	if (p != NULL && p == watch_ptr) {
		const unsigned char *b = p;

		watch_was_zero = 1;
		for (size_t i = 0; i < watch_len; i++)
			if (b[i] != 0)
				watch_was_zero = 0;
		watch_freed = 1;
		watch_ptr = NULL;
	}
	free(p);
}

/* --- helpers ------------------------------------------------------------ */

/* A heap buffer of n copies of ch (not NUL-terminated). */
static char *filled(size_t n, char ch)
{
	char *p = malloc(n ? n : 1);

	ck_assert_ptr_nonnull(p);
	memset(p, ch, n);
	return p;
}

/* Assert that the buffer holds one complete frame equal to want. */
static void expect_frame(const struct frame_buf *fb, const char *want)
{
	const char *f = NULL;
	size_t len = 0;

	ck_assert_int_eq(frame_buf_peek(fb, &f, &len), 1);
	ck_assert_uint_eq(len, strlen(want));
	ck_assert_mem_eq(f, want, len);
	ck_assert_int_eq(f[len], '\0');
}

/* Nest depth levels: objects ("{\"a\":" ... "}") or, inside one object, arrays. */
static char *nested(int depth, bool arrays)
{
	size_t cap = (size_t)depth * 8 + 16, n = 0;
	char *s = malloc(cap);

	ck_assert_ptr_nonnull(s);
	if (arrays) {
		n += (size_t)sprintf(s + n, "{\"a\":");
		for (int i = 1; i < depth; i++)
			s[n++] = '[';
		for (int i = 1; i < depth; i++)
			s[n++] = ']';
		if (depth == 1)
			n += (size_t)sprintf(s + n, "1");
		s[n++] = '}';
	} else {
		for (int i = 1; i < depth; i++)
			n += (size_t)sprintf(s + n, "{\"a\":");
		s[n++] = '{';
		s[n++] = '}';
		for (int i = 1; i < depth; i++)
			s[n++] = '}';
	}
	s[n] = '\0';
	return s;
}

static enum frame_error parse_str(const char *s, json_t **ret)
{
	return frame_parse(s, strlen(s), ret);
}

/* Refused with the given reason and *ret left alone. */
static void expect_refused(const char *s, enum frame_error want)
{
	json_t *sentinel = (json_t *)&watch_len, *j = sentinel;

	ck_assert_msg(parse_str(s, &j) == want, "frame_parse(%s) gave %d, want %d",
		      s, (int)frame_parse(s, strlen(s), &j), (int)want);
	ck_assert_ptr_eq(j, sentinel);
}

static void expect_ok(const char *s)
{
	json_t *j = NULL;
	enum frame_error e = parse_str(s, &j);

	ck_assert_msg(e == FRAME_OK, "frame_parse(%.60s...) gave %d (%s)", s, (int)e,
		      frame_error_string(e));
	ck_assert_ptr_nonnull(j);
	ck_assert(json_is_object(j));
	json_decref(j);
}

/* --- frame_buf: splitting and merging ------------------------------------ */

START_TEST(test_empty_buffer_has_no_frame)
{
	struct frame_buf fb;
	const char *f = NULL;
	size_t len = 7;

	frame_buf_init(&fb, FRAME_MAX_SIZE);
	ck_assert_int_eq(frame_buf_peek(&fb, &f, &len), 0);
	ck_assert_ptr_null(f);
	ck_assert_uint_eq(len, 7);
	ck_assert_int_eq(frame_buf_append(&fb, "x", 0), 0);
	ck_assert_uint_eq(fb.len, 0);
	frame_buf_free(&fb);
	frame_buf_free(&fb);    /* twice is harmless */
	ck_assert_ptr_null(fb.data);
	ck_assert_uint_eq(fb.len, 0);
}
END_TEST

START_TEST(test_one_frame_delivered_byte_by_byte)
{
	static const char msg[] = "{\"method\":\"io.roster.Admin.Status\"}";
	struct frame_buf fb;
	const char *f;
	size_t len;

	frame_buf_init(&fb, FRAME_MAX_SIZE);
	/* sizeof(msg) includes the NUL: the frame delimiter arrives last. */
	for (size_t i = 0; i < sizeof(msg); i++) {
		ck_assert_int_eq(frame_buf_append(&fb, msg + i, 1), 0);
		if (i + 1 < sizeof(msg))
			ck_assert_int_eq(frame_buf_peek(&fb, &f, &len), 0);
	}
	expect_frame(&fb, msg);
	frame_buf_consume(&fb, strlen(msg));
	ck_assert_uint_eq(fb.len, 0);
	ck_assert_int_eq(frame_buf_peek(&fb, &f, &len), 0);
	frame_buf_free(&fb);
}
END_TEST

START_TEST(test_two_frames_in_one_append)
{
	static const char two[] = "{\"a\":1}\0{\"b\":[2]}";   /* + implicit final NUL */
	struct frame_buf fb;
	const char *f;
	size_t len;

	frame_buf_init(&fb, FRAME_MAX_SIZE);
	ck_assert_int_eq(frame_buf_append(&fb, two, sizeof(two)), 0);
	expect_frame(&fb, "{\"a\":1}");
	/* Peeking does not consume. */
	expect_frame(&fb, "{\"a\":1}");
	frame_buf_consume(&fb, strlen("{\"a\":1}"));
	expect_frame(&fb, "{\"b\":[2]}");
	frame_buf_consume(&fb, strlen("{\"b\":[2]}"));
	ck_assert_uint_eq(fb.len, 0);
	ck_assert_int_eq(frame_buf_peek(&fb, &f, &len), 0);
	frame_buf_free(&fb);
}
END_TEST

START_TEST(test_frame_followed_by_partial_frame)
{
	static const char first[] = "{\"a\":1}\0{\"b\":";
	static const char rest[] = "2}";     /* with its NUL */
	struct frame_buf fb;
	const char *f;
	size_t len;

	frame_buf_init(&fb, FRAME_MAX_SIZE);
	ck_assert_int_eq(frame_buf_append(&fb, first, sizeof(first) - 1), 0);
	expect_frame(&fb, "{\"a\":1}");
	frame_buf_consume(&fb, strlen("{\"a\":1}"));
	ck_assert_uint_eq(fb.len, strlen("{\"b\":"));
	ck_assert_int_eq(frame_buf_peek(&fb, &f, &len), 0);
	ck_assert_int_eq(frame_buf_append(&fb, rest, sizeof(rest)), 0);
	expect_frame(&fb, "{\"b\":2}");
	frame_buf_free(&fb);
}
END_TEST

START_TEST(test_empty_frame_is_a_frame_of_length_zero)
{
	struct frame_buf fb;
	const char *f = NULL;
	size_t len = 99;

	frame_buf_init(&fb, FRAME_MAX_SIZE);
	ck_assert_int_eq(frame_buf_append(&fb, "\0{}", 4), 0);
	ck_assert_int_eq(frame_buf_peek(&fb, &f, &len), 1);
	ck_assert_uint_eq(len, 0);
	frame_buf_consume(&fb, len);
	expect_frame(&fb, "{}");
	frame_buf_free(&fb);
}
END_TEST

START_TEST(test_consume_shifts_and_wipes_the_vacated_bytes)
{
	static const char data[] = "{\"secret\":\"hunter2hunter2\"}\0{\"x\":1}\0{\"y\"";
	const size_t first = strlen("{\"secret\":\"hunter2hunter2\"}");
	struct frame_buf fb;
	size_t before;

	frame_buf_init(&fb, FRAME_MAX_SIZE);
	ck_assert_int_eq(frame_buf_append(&fb, data, sizeof(data) - 1), 0);
	before = fb.len;
	ck_assert_uint_eq(before, sizeof(data) - 1);
	frame_buf_consume(&fb, first);
	ck_assert_uint_eq(fb.len, before - first - 1);
	/* The rest moved to the front, byte for byte. */
	ck_assert_mem_eq(fb.data, data + first + 1, fb.len);
	/* The bytes past the new end, which held the tail before the shift, are zero. */
	for (size_t i = fb.len; i < before; i++)
		ck_assert_msg(fb.data[i] == 0, "byte %zu not wiped after consume", i);
	ck_assert_ptr_null(memmem(fb.data, before, "hunter2", 7));
	expect_frame(&fb, "{\"x\":1}");
	frame_buf_free(&fb);
}
END_TEST

/* --- frame_buf: the size limit ------------------------------------------- */

START_TEST(test_max_bytes_without_nul_in_one_append_refused)
{
	struct frame_buf fb;
	char *big = filled(FRAME_MAX_SIZE, 'a');
	const char *f;
	size_t len;

	frame_buf_init(&fb, FRAME_MAX_SIZE);
	ck_assert_int_eq(frame_buf_append(&fb, big, FRAME_MAX_SIZE), -EMSGSIZE);
	/* On error the buffer is unchanged. */
	ck_assert_uint_eq(fb.len, 0);
	ck_assert_int_eq(frame_buf_peek(&fb, &f, &len), 0);
	frame_buf_free(&fb);
	free(big);
}
END_TEST

START_TEST(test_max_bytes_without_nul_accumulated_refused)
{
	struct frame_buf fb;
	char *big = filled(FRAME_MAX_SIZE, 'a');

	frame_buf_init(&fb, FRAME_MAX_SIZE);
	/* max - 1 bytes may still become a frame of exactly max bytes. */
	ck_assert_int_eq(frame_buf_append(&fb, big, FRAME_MAX_SIZE / 2), 0);
	ck_assert_int_eq(frame_buf_append(&fb, big, FRAME_MAX_SIZE / 2 - 1), 0);
	ck_assert_uint_eq(fb.len, FRAME_MAX_SIZE - 1);
	/* The max-th byte without a NUL cannot. */
	ck_assert_int_eq(frame_buf_append(&fb, "a", 1), -EMSGSIZE);
	ck_assert_uint_eq(fb.len, FRAME_MAX_SIZE - 1);
	ck_assert_int_eq(frame_buf_append(&fb, big, 100), -EMSGSIZE);
	ck_assert_uint_eq(fb.len, FRAME_MAX_SIZE - 1);
	frame_buf_free(&fb);
	free(big);
}
END_TEST

START_TEST(test_frame_of_exactly_max_bytes_accepted)
{
	struct frame_buf fb;
	char *big = filled(FRAME_MAX_SIZE, 'a');
	const char *f = NULL;
	size_t len = 0;

	/* max - 1 bytes of text and the NUL: exactly FRAME_MAX_SIZE. */
	big[FRAME_MAX_SIZE - 1] = '\0';
	frame_buf_init(&fb, FRAME_MAX_SIZE);
	ck_assert_int_eq(frame_buf_append(&fb, big, FRAME_MAX_SIZE), 0);
	ck_assert_int_eq(frame_buf_peek(&fb, &f, &len), 1);
	ck_assert_uint_eq(len, FRAME_MAX_SIZE - 1);
	ck_assert_ptr_eq(f, fb.data);
	frame_buf_consume(&fb, len);
	ck_assert_uint_eq(fb.len, 0);
	frame_buf_free(&fb);

	/* The same, with the NUL in a second append. */
	frame_buf_init(&fb, FRAME_MAX_SIZE);
	ck_assert_int_eq(frame_buf_append(&fb, big, FRAME_MAX_SIZE - 1), 0);
	ck_assert_int_eq(frame_buf_peek(&fb, &f, &len), 0);
	ck_assert_int_eq(frame_buf_append(&fb, "", 1), 0);
	ck_assert_int_eq(frame_buf_peek(&fb, &f, &len), 1);
	ck_assert_uint_eq(len, FRAME_MAX_SIZE - 1);
	frame_buf_free(&fb);
	free(big);
}
END_TEST

START_TEST(test_frame_of_max_plus_one_bytes_refused_by_append_or_peek)
{
	struct frame_buf fb;
	char *big = filled(FRAME_MAX_SIZE + 1, 'a');
	const char *f;
	size_t len;
	int r;

	/* max bytes of text and the NUL: one byte too many. */
	big[FRAME_MAX_SIZE] = '\0';
	frame_buf_init(&fb, FRAME_MAX_SIZE);
	r = frame_buf_append(&fb, big, FRAME_MAX_SIZE + 1);
	if (r == 0)
		r = frame_buf_peek(&fb, &f, &len);
	ck_assert_int_eq(r, -EMSGSIZE);
	frame_buf_free(&fb);
	free(big);
}
END_TEST

START_TEST(test_small_limit_boundaries)
{
	struct frame_buf fb;
	const char *f;
	size_t len;

	/* With max 8: 7 bytes of text + NUL is the largest frame. */
	frame_buf_init(&fb, 8);
	ck_assert_int_eq(frame_buf_append(&fb, "1234567", 7), 0);
	ck_assert_int_eq(frame_buf_append(&fb, "8", 1), -EMSGSIZE);
	ck_assert_int_eq(frame_buf_append(&fb, "", 1), 0);
	ck_assert_int_eq(frame_buf_peek(&fb, &f, &len), 1);
	ck_assert_uint_eq(len, 7);
	frame_buf_consume(&fb, len);
	/* After consuming, a new partial frame gets the full allowance again. */
	ck_assert_int_eq(frame_buf_append(&fb, "abcdefg", 7), 0);
	ck_assert_int_eq(frame_buf_append(&fb, "h", 1), -EMSGSIZE);
	frame_buf_free(&fb);

	/* 8 bytes of text + NUL in one append: refused by append or by peek. */
	frame_buf_init(&fb, 8);
	len = 0;
	{
		int r = frame_buf_append(&fb, "12345678", 9);

		if (r == 0)
			r = frame_buf_peek(&fb, &f, &len);
		ck_assert_int_eq(r, -EMSGSIZE);
	}
	frame_buf_free(&fb);
}
END_TEST

/*
 * The contract: append refuses when the bytes held would exceed one maximum
 * frame without a terminating NUL. That holds whether or not the same
 * append also carried the NUL of an earlier frame.
 */
START_TEST(test_oversize_tail_after_complete_frame_in_same_append_refused)
{
	struct frame_buf fb;
	size_t n = 3 + FRAME_MAX_SIZE;
	char *buf = filled(n, 'a');
	size_t held;
	int r;

	memcpy(buf, "{}", 3);            /* a complete frame, then max bytes, no NUL */
	frame_buf_init(&fb, FRAME_MAX_SIZE);
	r = frame_buf_append(&fb, buf, n);
	held = fb.len;
	/* Release first, so that a failure leaks nothing under CK_FORK=no. */
	frame_buf_free(&fb);
	free(buf);
	ck_assert_int_eq(r, -EMSGSIZE);
	ck_assert_uint_eq(held, 0);
}
END_TEST

/*
 * A peer that sends one byte per write makes the daemon append once per
 * byte. Every byte up to one maximum frame is held, and the next is refused;
 * the unfinished-tail count (not a rescan) is what makes this linear, which
 * the daemon relies on; timing is left to scripts/bench, not unit tests.
 */
START_TEST(test_byte_by_byte_max_frame)
{
	struct frame_buf fb;
	const char *f;
	size_t len, bad = 0;

	frame_buf_init(&fb, FRAME_MAX_SIZE);
	for (size_t i = 0; i < FRAME_MAX_SIZE - 1; i++)
		bad += frame_buf_append(&fb, "a", 1) != 0;
	ck_assert_uint_eq(bad, 0);
	ck_assert_uint_eq(fb.tail, FRAME_MAX_SIZE - 1);
	ck_assert_int_eq(frame_buf_peek(&fb, &f, &len), 0);
	ck_assert_int_eq(frame_buf_append(&fb, "a", 1), -EMSGSIZE);
	ck_assert_int_eq(frame_buf_append(&fb, "", 1), 0);      /* the NUL completes it */
	ck_assert_int_eq(frame_buf_peek(&fb, &f, &len), 1);     /* exactly the maximum */
	ck_assert_uint_eq(len, FRAME_MAX_SIZE - 1);
	frame_buf_free(&fb);
}
END_TEST

/* --- frame_parse ---------------------------------------------------------- */

START_TEST(test_parse_valid_object)
{
	json_t *j = NULL;
	static const char text[] = "{\"method\":\"io.roster.Clients.Get\",\"parameters\":{\"id\":\"x\"}}TRAILING";

	/* Only len bytes are parsed: the trailing text is not part of the frame. */
	ck_assert_int_eq(frame_parse(text, strlen(text) - strlen("TRAILING"), &j), FRAME_OK);
	ck_assert_ptr_nonnull(j);
	ck_assert_str_eq(json_string_value(json_object_get(j, "method")), "io.roster.Clients.Get");
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(j, "parameters"), "id")), "x");
	json_decref(j);
}
END_TEST

START_TEST(test_parse_bad_json_refused)
{
	expect_refused("", FRAME_BAD_JSON);
	expect_refused("{", FRAME_BAD_JSON);
	expect_refused("{\"a\":}", FRAME_BAD_JSON);
	expect_refused("{\"a\":1,}", FRAME_BAD_JSON);
	expect_refused("{'a':1}", FRAME_BAD_JSON);
	expect_refused("{\"a\":1} {}", FRAME_BAD_JSON);
	expect_refused("{\"a\":1}}", FRAME_BAD_JSON);
	expect_refused("{\"a\":\"\\u0000\"}", FRAME_BAD_JSON);
	expect_refused("{\"a\":\"\xff\"}", FRAME_BAD_JSON);
	expect_refused("nul", FRAME_BAD_JSON);
}
END_TEST

START_TEST(test_parse_array_is_not_object)
{
	expect_refused("[]", FRAME_NOT_OBJECT);
	expect_refused("[{\"a\":1}]", FRAME_NOT_OBJECT);
}
END_TEST

/* Scalars at the top level are refused, whatever the reason given. */
START_TEST(test_parse_scalars_refused)
{
	static const char *const scalars[] = { "\"str\"", "42", "-1.5", "true", "null" };

	for (size_t i = 0; i < sizeof(scalars) / sizeof(scalars[0]); i++) {
		json_t *sentinel = (json_t *)&watch_len, *j = sentinel;

		ck_assert_msg(parse_str(scalars[i], &j) != FRAME_OK, "%s accepted", scalars[i]);
		ck_assert_ptr_eq(j, sentinel);
	}
}
END_TEST

/*
 * A string or a number is valid JSON that is not an object: the reason
 * reported should be FRAME_NOT_OBJECT ("message is not a JSON object"),
 * not FRAME_BAD_JSON ("message is not valid JSON").
 */
START_TEST(test_parse_scalar_reason_is_not_object)
{
	expect_refused("\"str\"", FRAME_NOT_OBJECT);
	expect_refused("42", FRAME_NOT_OBJECT);
}
END_TEST

START_TEST(test_parse_depth_16_objects_ok_17_refused)
{
	char *s16 = nested(FRAME_MAX_DEPTH, false), *s17 = nested(FRAME_MAX_DEPTH + 1, false);

	expect_ok(s16);
	expect_refused(s17, FRAME_TOO_DEEP);
	free(s16);
	free(s17);
}
END_TEST

START_TEST(test_parse_depth_16_arrays_ok_17_refused)
{
	char *s16 = nested(FRAME_MAX_DEPTH, true), *s17 = nested(FRAME_MAX_DEPTH + 1, true);

	expect_ok(s16);
	expect_refused(s17, FRAME_TOO_DEEP);
	free(s16);
	free(s17);
}
END_TEST

START_TEST(test_parse_depth_of_siblings_does_not_add_up)
{
	/* Two members each 15 arrays deep inside the object: depth 16, twice. */
	static const char s[] =
		"{\"a\":[[[[[[[[[[[[[[[]]]]]]]]]]]]]]],\"b\":[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]}";

	expect_ok(s);
}
END_TEST

START_TEST(test_parse_brackets_inside_strings_not_counted)
{
	/* Depth 1 in structure, with 40 brackets of each kind inside strings. */
	expect_ok("{\"[[[[[[[[[[[[[[[[[[[[\":\"{{{{{{{{{{{{{{{{{{{{\","
		  "\"x\":\"[[[[[[[[[[[[[[[[[[[[{{{{{{{{{{{{{{{{{{{{\"}");
	/* Escaped quotes do not end the string: the brackets stay inside it. */
	expect_ok("{\"a\":\"\\\"[[[[[[[[[[[[[[[[[[[[\\\"{{{{{{{{{{{{{{{{{{{\\\"\"}");
	/* At depth 16 with brackets in strings at the deepest level. */
	{
		char *s = nested(FRAME_MAX_DEPTH, false);
		char *t = malloc(strlen(s) + 64);
		char *mid = strstr(s, "{}");

		ck_assert_ptr_nonnull(t);
		ck_assert_ptr_nonnull(mid);
		sprintf(t, "%.*s{\"k\":\"[[[{{{\\\"[[[\"}%s", (int)(mid - s), s, mid + 2);
		expect_ok(t);
		free(t);
		free(s);
	}
}
END_TEST

START_TEST(test_parse_escaped_backslash_ends_string)
{
	/*
	 * "\\" is an escaped backslash: the quote after it closes the string,
	 * so the 17 levels that follow are structure and must be counted.
	 */
	char *deep = nested(FRAME_MAX_DEPTH + 1, false);
	char *t = malloc(strlen(deep) + 32);

	ck_assert_ptr_nonnull(t);
	sprintf(t, "{\"s\":\"\\\\\",\"n\":%s}", deep);
	expect_refused(t, FRAME_TOO_DEEP);
	/* The same with an escaped quote then an escaped backslash. */
	sprintf(t, "{\"s\":\"\\\"\\\\\",\"n\":%s}", deep);
	expect_refused(t, FRAME_TOO_DEEP);
	free(t);
	free(deep);
}
END_TEST

START_TEST(test_parse_duplicate_keys_refused)
{
	expect_refused("{\"a\":1,\"a\":2}", FRAME_BAD_JSON);
	expect_refused("{\"a\":1,\"a\":1}", FRAME_BAD_JSON);
	expect_refused("{\"p\":{\"id\":\"x\",\"id\":\"y\"}}", FRAME_BAD_JSON);
	expect_refused("{\"p\":[{\"k\":1,\"k\":2}]}", FRAME_BAD_JSON);
	/* Same key in different objects is fine. */
	expect_ok("{\"a\":{\"k\":1},\"b\":{\"k\":2}}");
}
END_TEST

START_TEST(test_frame_error_strings)
{
	const enum frame_error all[] = { FRAME_OK, FRAME_TOO_DEEP, FRAME_BAD_JSON, FRAME_NOT_OBJECT };

	for (size_t i = 0; i < 4; i++) {
		ck_assert_ptr_nonnull(frame_error_string(all[i]));
		ck_assert_uint_gt(strlen(frame_error_string(all[i])), 0);
		for (size_t k = 0; k < i; k++)
			ck_assert_str_ne(frame_error_string(all[i]), frame_error_string(all[k]));
	}
	ck_assert_ptr_nonnull(frame_error_string((enum frame_error)99));
}
END_TEST

/* --- frame_encode / frame_free -------------------------------------------- */

START_TEST(test_encode_compact_with_nul_terminator)
{
	json_t *m = json_pack("{s:s, s:{s:i}}", "method", "io.roster.Admin.Status",
			      "parameters", "n", 5);
	size_t len = 0;
	char *buf;
	static const char want[] = "{\"method\":\"io.roster.Admin.Status\",\"parameters\":{\"n\":5}}";

	ck_assert_ptr_nonnull(m);
	buf = frame_encode(m, FRAME_MAX_SIZE, &len);
	ck_assert_ptr_nonnull(buf);
	ck_assert_uint_eq(len, sizeof(want));       /* text + NUL */
	ck_assert_int_eq(buf[len - 1], '\0');
	ck_assert_str_eq(buf, want);
	frame_free(buf, len);
	json_decref(m);
}
END_TEST

START_TEST(test_encode_respects_max_exactly)
{
	json_t *m = json_pack("{s:s}", "a", "bcdef");
	const size_t exact = strlen("{\"a\":\"bcdef\"}") + 1;
	size_t len = 12345;
	char *buf;

	buf = frame_encode(m, exact, &len);
	ck_assert_ptr_nonnull(buf);
	ck_assert_uint_eq(len, exact);
	frame_free(buf, len);

	len = 12345;
	ck_assert_ptr_null(frame_encode(m, exact - 1, &len));
	ck_assert_uint_eq(len, 12345);       /* untouched on failure */
	json_decref(m);
}
END_TEST

START_TEST(test_encode_large_message_against_frame_max)
{
	/* A string member sized so that the frame is exactly FRAME_MAX_SIZE, then one more. */
	const size_t overhead = strlen("{\"a\":\"\"}") + 1, vlen = FRAME_MAX_SIZE - overhead;
	char *v = filled(vlen + 2, 'x');
	size_t len = 0;
	json_t *m;
	char *buf;

	v[vlen] = '\0';
	m = json_pack("{s:s}", "a", v);
	buf = frame_encode(m, FRAME_MAX_SIZE, &len);
	ck_assert_ptr_nonnull(buf);
	ck_assert_uint_eq(len, FRAME_MAX_SIZE);
	ck_assert_int_eq(buf[FRAME_MAX_SIZE - 1], '\0');
	frame_free(buf, len);
	json_decref(m);

	v[vlen] = 'x';
	v[vlen + 1] = '\0';
	m = json_pack("{s:s}", "a", v);
	ck_assert_ptr_null(frame_encode(m, FRAME_MAX_SIZE, &len));
	json_decref(m);
	free(v);
}
END_TEST

START_TEST(test_encode_then_parse_round_trip)
{
	json_t *m = json_pack("{s:s, s:[i,i], s:{s:b}}", "s", "Zürich \"q\" \\", "a", 1, 2,
			      "o", "t", 1);
	json_t *back = NULL;
	size_t len;
	char *buf = frame_encode(m, FRAME_MAX_SIZE, &len);
	struct frame_buf fb;
	const char *f;
	size_t flen;

	ck_assert_ptr_nonnull(buf);
	/* The encoded frame goes through the reader as one frame. */
	frame_buf_init(&fb, FRAME_MAX_SIZE);
	ck_assert_int_eq(frame_buf_append(&fb, buf, len), 0);
	ck_assert_int_eq(frame_buf_peek(&fb, &f, &flen), 1);
	ck_assert_uint_eq(flen, len - 1);
	ck_assert_int_eq(frame_parse(f, flen, &back), FRAME_OK);
	ck_assert(json_equal(m, back));
	json_decref(back);
	frame_buf_free(&fb);
	frame_free(buf, len);
	json_decref(m);
}
END_TEST

START_TEST(test_frame_free_wipes_before_release)
{
	json_t *m = json_pack("{s:s}", "passphrase", "correct horse battery staple");
	size_t len;
	char *buf = frame_encode(m, FRAME_MAX_SIZE, &len);

	ck_assert_ptr_nonnull(buf);
	watch_ptr = buf;
	watch_len = len;
	watch_freed = watch_was_zero = 0;
	frame_free(buf, len);
	ck_assert_int_eq(watch_freed, 1);      /* released through jansson's free */
	ck_assert_int_eq(watch_was_zero, 1);   /* and wiped first */
	frame_free(NULL, 0);                   /* no-op */
	json_decref(m);
}
END_TEST

static Suite *frame_suite(void)
{
	Suite *s = suite_create("frame");
	TCase *tc;

	tc = tcase_create("buffer");
	tcase_add_test(tc, test_empty_buffer_has_no_frame);
	tcase_add_test(tc, test_one_frame_delivered_byte_by_byte);
	tcase_add_test(tc, test_two_frames_in_one_append);
	tcase_add_test(tc, test_frame_followed_by_partial_frame);
	tcase_add_test(tc, test_empty_frame_is_a_frame_of_length_zero);
	tcase_add_test(tc, test_consume_shifts_and_wipes_the_vacated_bytes);
	suite_add_tcase(s, tc);

	tc = tcase_create("limits");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_max_bytes_without_nul_in_one_append_refused);
	tcase_add_test(tc, test_max_bytes_without_nul_accumulated_refused);
	tcase_add_test(tc, test_frame_of_exactly_max_bytes_accepted);
	tcase_add_test(tc, test_frame_of_max_plus_one_bytes_refused_by_append_or_peek);
	tcase_add_test(tc, test_small_limit_boundaries);
	tcase_add_test(tc, test_oversize_tail_after_complete_frame_in_same_append_refused);
	tcase_add_test(tc, test_byte_by_byte_max_frame);
	suite_add_tcase(s, tc);

	tc = tcase_create("parse");
	tcase_add_test(tc, test_parse_valid_object);
	tcase_add_test(tc, test_parse_bad_json_refused);
	tcase_add_test(tc, test_parse_array_is_not_object);
	tcase_add_test(tc, test_parse_scalars_refused);
	tcase_add_test(tc, test_parse_scalar_reason_is_not_object);
	tcase_add_test(tc, test_parse_depth_16_objects_ok_17_refused);
	tcase_add_test(tc, test_parse_depth_16_arrays_ok_17_refused);
	tcase_add_test(tc, test_parse_depth_of_siblings_does_not_add_up);
	tcase_add_test(tc, test_parse_brackets_inside_strings_not_counted);
	tcase_add_test(tc, test_parse_escaped_backslash_ends_string);
	tcase_add_test(tc, test_parse_duplicate_keys_refused);
	tcase_add_test(tc, test_frame_error_strings);
	suite_add_tcase(s, tc);

	tc = tcase_create("encode");
	tcase_add_test(tc, test_encode_compact_with_nul_terminator);
	tcase_add_test(tc, test_encode_respects_max_exactly);
	tcase_add_test(tc, test_encode_large_message_against_frame_max);
	tcase_add_test(tc, test_encode_then_parse_round_trip);
	tcase_add_test(tc, test_frame_free_wipes_before_release);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr;
	int failures;

	json_set_alloc_funcs(rec_malloc, rec_free);
	sr = srunner_create(frame_suite());
	srunner_run_all(sr, CK_NORMAL);
	failures = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failures ? 1 : 0;
}
