/* http.c — the small HTTP/1.1 client the KLAP and AES transports need:
 * one POST at a time on a kept-alive connection to one device.
 *
 * Bounded on every side: the header block is at most KASA_HTTP_MAX_HEADER
 * bytes, a body at most KASA_MAX_FRAME (by Content-Length, or read to the
 * close when the device sends none); every step waits against the caller's
 * deadline (net.c). Chunked bodies are decoded (bounded the same way).
 * What we take from a reply: the status, the body, and the TP_SESSIONID
 * cookie with its TIMEOUT attribute (KLAP and AES sessions live in it).
 *
 * kasa_http_parse() is the whole reply parser, pure, so the fuzz target
 * drives it directly. Callers serialise requests on one fd (the device's
 * mutex in dev.c). */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "internal.h"

void kasa_http_reply_clear(struct kasa_http_reply *r)
{
	if (!r)
		return;
	free(r->body);
	memset(r, 0, sizeof(*r));
}

/* A decimal number of at most 9 digits; -1 when it is not one. */
static long kasa_http_num(const char *p, const char *end, int base)
{
	long v = 0;
	size_t digits = 0;

	while (p < end && (*p == ' ' || *p == '\t'))
		p++;
	while (end > p && (end[-1] == ' ' || end[-1] == '\t'))
		end--;
	for (; p < end; p++, digits++) {
		int d;

		if (*p >= '0' && *p <= '9')
			d = *p - '0';
		else if (base == 16 && *p >= 'a' && *p <= 'f')
			d = *p - 'a' + 10;
		else if (base == 16 && *p >= 'A' && *p <= 'F')
			d = *p - 'A' + 10;
		else
			return -1;
		if (digits >= 9)
			return -1;
		v = v * base + d;
	}
	return digits ? v : -1;
}

/* Set-Cookie: TP_SESSIONID=XYZ;TIMEOUT=86400 (attributes in any order). */
static void kasa_http_cookie(const char *v, const char *end, struct kasa_http_reply *ret)
{
	const char *semi = memchr(v, ';', (size_t)(end - v));
	const char *nv_end = semi ? semi : end;

	while (v < nv_end && *v == ' ')
		v++;
	if ((size_t)(nv_end - v) < sizeof(ret->cookie) && nv_end - v > 0 && memchr(v, '=', (size_t)(nv_end - v))) {
		memcpy(ret->cookie, v, (size_t)(nv_end - v));
		ret->cookie[nv_end - v] = '\0';
		for (char *c = ret->cookie; *c; c++)
			if ((unsigned char)*c < 0x21 || *c == 0x7f)
				*c = '_';
	}
	for (const char *p = nv_end; p && p < end; ) {
		const char *next = memchr(p + 1, ';', (size_t)(end - p - 1));
		const char *a = p + 1, *aend = next ? next : end;

		while (a < aend && *a == ' ')
			a++;
		if ((size_t)(aend - a) > 8 && strncasecmp(a, "TIMEOUT=", 8) == 0) {
			long t = kasa_http_num(a + 8, aend, 10);

			if (t > 0)
				ret->cookie_timeout_s = (int)t;
		}
		p = next;
	}
}

/* Decode a chunked body in [p, end): 0 with *ret_body, 1 when incomplete. */
static int kasa_http_unchunk(const uint8_t *p, const uint8_t *end, uint8_t **ret_body,
			     size_t *ret_len)
{
	uint8_t *out = NULL;
	size_t len = 0;

	for (;;) {
		const uint8_t *eol = NULL;
		const uint8_t *semi;
		long n;

		for (const uint8_t *q = p; q + 1 < end; q++)
			if (q[0] == '\r' && q[1] == '\n') {
				eol = q;
				break;
			}
		if (!eol) {
			free(out);
			return (size_t)(end - p) > 32 ? -EPROTO : 1;
		}
		semi = memchr(p, ';', (size_t)(eol - p));
		n = kasa_http_num((const char *)p, (const char *)(semi ? semi : eol), 16);
		if (n < 0 || len + (size_t)n > KASA_MAX_FRAME) {
			free(out);
			return -EPROTO;
		}
		p = eol + 2;
		if ((size_t)(end - p) < (size_t)n + 2) {
			free(out);
			return 1;
		}
		if (n == 0) {
			/* No trailers expected; the final CRLF may be all that is left. */
			if (!out)
				out = malloc(1);
			if (!out)
				return -ENOMEM;
			out[len] = '\0';
			*ret_body = out;
			*ret_len = len;
			return 0;
		}
		{
			uint8_t *grown = realloc(out, len + (size_t)n + 1);

			if (!grown) {
				free(out);
				return -ENOMEM;
			}
			out = grown;
		}
		memcpy(out + len, p, (size_t)n);
		len += (size_t)n;
		p += n;
		if (p[0] != '\r' || p[1] != '\n') {
			free(out);
			return -EPROTO;
		}
		p += 2;
	}
}

int kasa_http_parse(const uint8_t *buf, size_t len, bool eof, struct kasa_http_reply *ret)
{
	struct kasa_http_reply r = { 0 };
	const char *s = (const char *)buf, *hend = NULL, *line, *body;
	long clen = -1;
	bool chunked = false;
	size_t blen;

	for (size_t i = 0; i + 3 < len && i < KASA_HTTP_MAX_HEADER; i++)
		if (memcmp(buf + i, "\r\n\r\n", 4) == 0) {
			hend = s + i;
			break;
		}
	if (!hend)
		return len >= KASA_HTTP_MAX_HEADER || eof ? -EPROTO : 1;
	if (hend - s < 12 || strncmp(s, "HTTP/1.", 7) != 0 || s[8] != ' ')
		return -EPROTO;
	r.status = (int)kasa_http_num(s + 9, s + 12, 10);
	if (r.status < 100 || (s + 12 < hend && s[12] != ' ' && s[12] != '\r'))
		return -EPROTO;
	line = memchr(s, '\n', (size_t)(hend - s));
	while (line && line < hend) {
		const char *l = line + 1, *eol = memchr(l, '\r', (size_t)(hend + 2 - l));
		const char *colon;

		if (!eol || eol > hend)
			eol = hend;
		colon = memchr(l, ':', (size_t)(eol - l));
		if (colon) {
			size_t nl = (size_t)(colon - l);
			const char *v = colon + 1;

			while (v < eol && (*v == ' ' || *v == '\t'))
				v++;
			if (nl == 14 && strncasecmp(l, "Content-Length", 14) == 0) {
				clen = kasa_http_num(v, eol, 10);
				if (clen < 0)
					return -EPROTO;
			} else if (nl == 17 && strncasecmp(l, "Transfer-Encoding", 17) == 0) {
				if ((size_t)(eol - v) >= 7 && strncasecmp(eol - 7, "chunked", 7) == 0)
					chunked = true;
			} else if (nl == 10 && strncasecmp(l, "Set-Cookie", 10) == 0) {
				kasa_http_cookie(v, eol, &r);
			}
		}
		line = eol < hend ? memchr(eol, '\n', (size_t)(hend + 2 - eol)) : NULL;
	}
	body = hend + 4;
	blen = len - (size_t)(body - s);
	if (chunked) {
		int k = kasa_http_unchunk((const uint8_t *)body, buf + len, &r.body, &r.len);

		if (k == 1 && eof)
			return -EPROTO;
		if (k != 0)
			return k;
	} else {
		if (clen > KASA_MAX_FRAME || (clen < 0 && blen > KASA_MAX_FRAME))
			return -EPROTO;
		if (clen >= 0 && blen < (size_t)clen)
			return eof ? -EPROTO : 1;
		if (clen < 0 && !eof && r.status != 204 && r.status != 304)
			return 1;   /* no length: the body ends with the connection */
		if (clen >= 0)
			blen = (size_t)clen;
		else if (r.status == 204 || r.status == 304)
			blen = 0;
		r.body = malloc(blen + 1);
		if (!r.body)
			return -ENOMEM;
		memcpy(r.body, body, blen);
		r.body[blen] = '\0';
		r.len = blen;
	}
	*ret = r;
	return 0;
}

int kasa_http_post(int *fd, const char *host, uint16_t port, const char *path,
		   const char *cookie, const char *content_type, const char *extra_headers,
		   const void *body, size_t len, int64_t deadline, struct kasa_http_reply *ret)
{
	_cleanup_free_ uint8_t *in = NULL;
	char head[1024];
	size_t got = 0, cap = 0;
	int n, r;

	if (len > KASA_MAX_FRAME * 2)
		return -EMSGSIZE;
	if (*fd >= 0 && !kasa_idle_ok(*fd)) {
		close(*fd);
		*fd = -1;
	}
	if (*fd < 0) {
		r = kasa_connect(host, port, deadline);
		if (r < 0)
			return r;
		*fd = r;
	}
	n = snprintf(head, sizeof(head),
		     "POST %s HTTP/1.1\r\nHost: %s:%u\r\nContent-Type: %s\r\n"
		     "Content-Length: %zu\r\nAccept: */*\r\n%s%s%s%s\r\n",
		     path, host, (unsigned)port, content_type, len,
		     cookie ? "Cookie: " : "", cookie ? cookie : "", cookie ? "\r\n" : "",
		     extra_headers ? extra_headers : "");
	if (n < 0 || (size_t)n >= sizeof(head)) {
		r = -EINVAL;
		goto fail;
	}
	r = kasa_send_all(*fd, head, (size_t)n, deadline);
	if (r >= 0 && len > 0)
		r = kasa_send_all(*fd, body, len, deadline);
	if (r == -EPIPE)
		r = -ECONNRESET;
	if (r < 0)
		goto fail;
	for (;;) {
		ssize_t k;

		if (cap - got < 16384) {
			uint8_t *grown;

			if (cap > KASA_MAX_FRAME + KASA_HTTP_MAX_HEADER + 65536) {
				r = -EPROTO;
				goto fail;
			}
			grown = realloc(in, cap + 65536 + 1);
			if (!grown) {
				r = -ENOMEM;
				goto fail;
			}
			in = grown;
			cap += 65536;
		}
		k = recv(*fd, in + got, cap - got, 0);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			r = kasa_wait(*fd, POLLIN, deadline);
			if (r < 0)
				goto fail;
			continue;
		}
		/* The request went out whole and the peer closed unanswered:
		 * the device may have acted on it (-ECONNABORTED, as for XOR,
		 * so a command is not sent twice). */
		if (k < 0) {
			r = got == 0 && (errno == ECONNRESET || errno == EPIPE) ? -ECONNABORTED :
			    got == 0 ? -errno : -EPROTO;
			goto fail;
		}
		if (k == 0 && got == 0) {
			r = -ECONNABORTED;
			goto fail;
		}
		got += (size_t)k;
		r = kasa_http_parse(in, got, k == 0, ret);
		if (r < 0)
			goto fail;
		if (r == 0)
			break;
	}
	/* Keep-alive unless the peer closed or asked to (we do not look at
	 * "Connection: close": kasa_idle_ok() sees the close before reuse). */
	return 0;
fail:
	close(*fd);
	*fd = -1;
	return r;
}
