/*
 * audit-hash.c: see audit-hash.h and doc/audit-format.md.
 */
#include "config.h"
#include <errno.h>

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "lib/audit-hash.h"

static void put_be(unsigned char *p, uint64_t v, int n)
{
	for (int i = n - 1; i >= 0; i--, v >>= 8)
		p[i] = (unsigned char)v;
}

/*
 * The encoding goes through a small buffer into BLAKE2b: one update per
 * few hundred bytes rather than two per field, which is most of the cost
 * of hashing a record (and so of "audit verify").
 */
struct enc {
	crypto_generichash_state st;
	size_t n;
	unsigned char buf[512];
};

static void enc_flush(struct enc *e)
{
	crypto_generichash_update(&e->st, e->buf, e->n);
	e->n = 0;
}

static void enc_put(struct enc *e, const void *p, size_t n)
{
	if (e->n + n > sizeof(e->buf)) {
		enc_flush(e);
		if (n > sizeof(e->buf)) {       /* a long field (many ids) goes straight in */
			crypto_generichash_update(&e->st, p, n);
			return;
		}
	}
	memcpy(e->buf + e->n, p, n);
	e->n += n;
}

static void enc_bytes(struct enc *e, const char *s, size_t n)
{
	unsigned char len[4];

	put_be(len, (uint64_t)n, 4);
	enc_put(e, len, sizeof(len));
	enc_put(e, s, n);
}

static void enc_str(struct enc *e, const char *s)
{
	enc_bytes(e, s ? s : "", s ? strlen(s) : 0);
}

static void enc_int(struct enc *e, int64_t v)
{
	char buf[24];
	int n;

	if (v < 0) {
		/* Never written by rosterd; kept exact for whatever a file claims. */
		n = snprintf(buf, sizeof(buf), "%" PRId64, v);
		enc_bytes(e, buf, (size_t)n);
		return;
	}
	/* Decimal digits from the end: the format's integers, without snprintf's cost. */
	n = (int)sizeof(buf);
	do {
		buf[--n] = (char)('0' + (uint64_t)v % 10);
		v = (int64_t)((uint64_t)v / 10);
	} while (v != 0);
	enc_bytes(e, buf + n, sizeof(buf) - (size_t)n);
}

void audit_hash(const unsigned char prev[AUDIT_HASH_BYTES], const struct audit_fields *f,
		unsigned char out[AUDIT_HASH_BYTES])
{
	static const char tag[] = "roster.audit.v1";   /* sizeof includes the NUL */
	struct enc e;

	crypto_generichash_init(&e.st, NULL, 0, AUDIT_HASH_BYTES);
	e.n = 0;
	enc_put(&e, tag, sizeof(tag));
	enc_put(&e, prev, AUDIT_HASH_BYTES);
	enc_int(&e, f->seq);
	enc_int(&e, f->time_us);
	enc_str(&e, f->principal);
	enc_int(&e, f->uid);
	enc_int(&e, f->gid);
	enc_int(&e, f->pid);
	enc_str(&e, f->role);
	enc_str(&e, f->method);
	enc_str(&e, f->ids);
	enc_str(&e, f->fields);
	enc_int(&e, f->records);
	enc_str(&e, f->result);
	enc_str(&e, f->error);
	enc_str(&e, f->alert);
	enc_flush(&e);
	crypto_generichash_final(&e.st, out, AUDIT_HASH_BYTES);
}

void audit_checkpoint_message(int64_t seq, const unsigned char hash[AUDIT_HASH_BYTES],
			      int64_t time_us, unsigned char out[AUDIT_CP_MSG_BYTES])
{
	static const char tag[] = "roster.checkpoint.v1";

	memcpy(out, tag, sizeof(tag));                  /* 21 bytes with the NUL */
	put_be(out + 21, (uint64_t)seq, 8);
	memcpy(out + 29, hash, AUDIT_HASH_BYTES);
	put_be(out + 61, (uint64_t)time_us, 8);
}

void audit_keyroll_message(int64_t seq, const unsigned char hash[AUDIT_HASH_BYTES],
			   int64_t time_us, const unsigned char next_pubkey[32],
			   unsigned char out[AUDIT_KEYROLL_MSG_BYTES])
{
	static const char tag[] = "roster.keyroll.v1";

	memcpy(out, tag, sizeof(tag));                  /* 18 bytes with the NUL */
	put_be(out + 18, (uint64_t)seq, 8);
	memcpy(out + 26, hash, AUDIT_HASH_BYTES);
	put_be(out + 58, (uint64_t)time_us, 8);
	memcpy(out + 66, next_pubkey, 32);
}

int audit_time_parse(const char *s, int64_t *ret_us)
{
	struct tm tm, back;
	const char *end;
	int64_t frac = 0;
	int digits = 0;
	time_t t;

	/* strptime() would skip leading blanks. */
	if (s == NULL || *s < '0' || *s > '9')
		return -EINVAL;
	memset(&tm, 0, sizeof(tm));
	end = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
	if (end == NULL)
		return -EINVAL;
	if (*end == '.') {
		const char *first = ++end;

		for (; *end >= '0' && *end <= '9'; end++)
			if (digits < 6) {
				frac = frac * 10 + (*end - '0');
				digits++;
			}
		if (end == first)
			return -EINVAL;         /* "12." is not a time */
	}
	if (strcmp(end, "Z") != 0)
		return -EINVAL;
	while (digits++ < 6)
		frac *= 10;
	/*
	 * strptime() takes 31 February and second 61, and timegm() moves them
	 * on into March or the next minute: a filter would then silently mean
	 * another time than the one written. A date that does not come back
	 * the same is refused. (A leap second, :60, is refused too: the
	 * daemon's clock never shows one.)
	 */
	back = tm;
	t = timegm(&back);
	if (t == (time_t)-1 || back.tm_year != tm.tm_year || back.tm_mon != tm.tm_mon ||
	    back.tm_mday != tm.tm_mday || back.tm_hour != tm.tm_hour || back.tm_min != tm.tm_min ||
	    back.tm_sec != tm.tm_sec)
		return -EINVAL;
	*ret_us = (int64_t)t * 1000000 + frac;
	return 0;
}
