/* common.c — clocks, logging and the string hash map of common.h.
 *
 * Logging is process-wide: a level and a sink (stderr or syslog), set once in
 * main() before threads start. The hash map uses linear probing with
 * tombstones; it grows at 70% load. log_event also hands its line to one
 * event sink (httpd's LogService), under a rwlock so it can be unset while
 * threads log. text_check is the one place that decides
 * whether outside text is acceptable (libunistring does the UTF-8 part). */
#include "common.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>
#include <unistr.h>

int parse_bool(const char *s, bool *ret)
{
	static const char *const yes[] = { "1", "true", "yes", "on" };
	static const char *const no[] = { "0", "false", "no", "off" };

	for (size_t i = 0; i < ARRAY_SIZE(yes); i++) {
		if (strcasecmp(s, yes[i]) == 0) {
			*ret = true;
			return 0;
		}
		if (strcasecmp(s, no[i]) == 0) {
			*ret = false;
			return 0;
		}
	}
	return -EINVAL;
}

int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

struct timespec now_realtime(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return ts;
}

static enum log_level log_level = LOG_LEVEL_INFO;
static bool log_syslog, log_journal;

void log_detect_journal(void)
{
	const char *js = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;

	log_journal = js && sscanf(js, "%llu:%llu", &dev, &ino) == 2 && fstat(STDERR_FILENO, &st) == 0 &&
		      (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

void log_set_level(enum log_level level)
{
	log_level = level;
}

void log_to_syslog(const char *ident)
{
	openlog(ident, LOG_PID, LOG_DAEMON);
	log_syslog = true;
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	static const int prio[] = { LOG_ERR, LOG_WARNING, LOG_NOTICE, LOG_INFO, LOG_DEBUG };
	static const char *const tag[] = { "error", "warning", "notice", "info", "debug" };
	va_list ap;

	if (level > log_level)
		return;
	va_start(ap, fmt);
	if (log_syslog) {
		vsyslog(prio[level], fmt, ap);
	} else {
		char buf[1024], line[1100];
		int n;

		vsnprintf(buf, sizeof(buf), fmt, ap);
		if (log_journal)
			n = snprintf(line, sizeof(line), "<%d>%s\n", prio[level], buf);
		else
			n = snprintf(line, sizeof(line), "redfishfs: %s: %s\n", tag[level], buf);
		if (n > (int)sizeof(line) - 1) {
			n = (int)sizeof(line) - 1;
			line[n - 1] = '\n';
		}
		/* one write per line: threads' lines never interleave */
		if (write(STDERR_FILENO, line, (size_t)n) < 0)
			(void)0;   /* nowhere left to say it */
	}
	va_end(ap);
}

static pthread_rwlock_t sink_lock = PTHREAD_RWLOCK_INITIALIZER;
static log_sink_fn sink_fn;
static void *sink_userdata;

void log_set_event_sink(log_sink_fn fn, void *userdata)
{
	pthread_rwlock_wrlock(&sink_lock);
	sink_fn = fn;
	sink_userdata = userdata;
	pthread_rwlock_unlock(&sink_lock);
}

void log_event(enum log_level level, const char *origin, const char *fmt, ...)
{
	char text[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	log_msg(level, "%s", text);
	/* The audit trail keeps what the journal would at the default level. */
	if (level > LOG_LEVEL_INFO)
		return;
	pthread_rwlock_rdlock(&sink_lock);
	if (sink_fn)
		sink_fn(sink_userdata, level, origin, text);
	pthread_rwlock_unlock(&sink_lock);
}

uint64_t hash_fnv1a64(const void *data, size_t len)
{
	const unsigned char *p = data;
	uint64_t h = 1469598103934665603ULL;

	for (size_t i = 0; i < len; i++) {
		h ^= p[i];
		h *= 1099511628211ULL;
	}
	return h;
}

void uuid_from_name(const char *name, char ret[37])
{
	size_t n = strlen(name);
	unsigned char b[16];
	uint64_t h1, h2;

	h1 = hash_fnv1a64(name, n);
	/* The second: the same name with its first byte made 'R' (FNV-1a
	 * runs byte by byte, so continue from the hash of "R"). */
	h2 = hash_fnv1a64("R", n > 0);
	for (size_t i = 1; i < n; i++) {
		h2 ^= (unsigned char)name[i];
		h2 *= 1099511628211ULL;
	}
	for (int i = 0; i < 8; i++) {
		b[i] = (unsigned char)(h1 >> (56 - 8 * i));
		b[8 + i] = (unsigned char)(h2 >> (56 - 8 * i));
	}
	b[6] = (unsigned char)((b[6] & 0x0f) | 0x80);
	b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
	snprintf(ret, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
		 b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12],
		 b[13], b[14], b[15]);
}

struct strmap_slot {
	char *key;      /* NULL = empty; TOMBSTONE = deleted */
	void *value;
	uint64_t hash;
};

static char tombstone_mark;
#define TOMBSTONE (&tombstone_mark)

struct strmap {
	struct strmap_slot *slots;
	size_t cap;     /* power of two */
	size_t used;    /* live + tombstones */
	size_t live;
};

struct strmap *strmap_new(void)
{
	struct strmap *m = calloc(1, sizeof(*m));

	if (!m)
		return NULL;
	m->cap = 16;
	m->slots = calloc(m->cap, sizeof(*m->slots));
	if (!m->slots) {
		free(m);
		return NULL;
	}
	return m;
}

struct strmap *strmap_free(struct strmap *m)
{
	if (!m)
		return NULL;
	for (size_t i = 0; i < m->cap; i++)
		if (m->slots[i].key && m->slots[i].key != TOMBSTONE)
			free(m->slots[i].key);
	free(m->slots);
	free(m);
	return NULL;
}

static struct strmap_slot *strmap_find(const struct strmap *m, const char *key, uint64_t h)
{
	size_t mask = m->cap - 1;

	for (size_t i = h & mask;; i = (i + 1) & mask) {
		struct strmap_slot *s = &m->slots[i];

		if (!s->key)
			return NULL;
		if (s->key != TOMBSTONE && s->hash == h && strcmp(s->key, key) == 0)
			return s;
	}
}

void *strmap_get(const struct strmap *m, const char *key)
{
	struct strmap_slot *s = strmap_find(m, key, hash_fnv1a64(key, strlen(key)));

	return s ? s->value : NULL;
}

static int strmap_grow(struct strmap *m)
{
	size_t ncap = m->live * 2 >= m->cap / 2 ? m->cap * 2 : m->cap;
	struct strmap_slot *ns = calloc(ncap, sizeof(*ns));

	if (!ns)
		return -ENOMEM;
	for (size_t i = 0; i < m->cap; i++) {
		struct strmap_slot *s = &m->slots[i];

		if (!s->key || s->key == TOMBSTONE)
			continue;
		for (size_t j = s->hash & (ncap - 1);; j = (j + 1) & (ncap - 1)) {
			if (!ns[j].key) {
				ns[j] = *s;
				break;
			}
		}
	}
	free(m->slots);
	m->slots = ns;
	m->cap = ncap;
	m->used = m->live;
	return 0;
}

int strmap_put(struct strmap *m, const char *key, void *value)
{
	uint64_t h = hash_fnv1a64(key, strlen(key));
	struct strmap_slot *s = strmap_find(m, key, h);
	size_t mask;

	if (s) {
		s->value = value;
		return 0;
	}
	if ((m->used + 1) * 10 >= m->cap * 7) {
		int r = strmap_grow(m);

		if (r < 0)
			return r;
	}
	mask = m->cap - 1;
	for (size_t i = h & mask;; i = (i + 1) & mask) {
		s = &m->slots[i];
		if (!s->key || s->key == TOMBSTONE) {
			char *k = strdup(key);

			if (!k)
				return -ENOMEM;
			if (!s->key)
				m->used++;
			s->key = k;
			s->value = value;
			s->hash = h;
			m->live++;
			return 0;
		}
	}
}

void *strmap_remove(struct strmap *m, const char *key)
{
	struct strmap_slot *s = strmap_find(m, key, hash_fnv1a64(key, strlen(key)));
	void *v;

	if (!s)
		return NULL;
	v = s->value;
	free(s->key);
	s->key = TOMBSTONE;
	s->value = NULL;
	m->live--;
	return v;
}

size_t strmap_size(const struct strmap *m)
{
	return m->live;
}

bool strmap_next(const struct strmap *m, size_t *iter, const char **ret_key, void **ret_value)
{
	for (; *iter < m->cap; (*iter)++) {
		struct strmap_slot *s = &m->slots[*iter];

		if (s->key && s->key != TOMBSTONE) {
			if (ret_key)
				*ret_key = s->key;
			if (ret_value)
				*ret_value = s->value;
			(*iter)++;
			return true;
		}
	}
	return false;
}

/* ---- text ------------------------------------------------------------------ */

int text_check(const char *s, size_t n, bool multiline)
{
	const uint8_t *p = (const uint8_t *)s, *end = p + n;

	if (u8_check(p, n))
		return -EILSEQ;
	while (p < end) {
		ucs4_t c;
		int len = u8_mbtouc(&c, p, (size_t)(end - p));

		if (len <= 0)
			return -EILSEQ;
		if ((c < 0x20 && !(multiline && (c == '\t' || c == '\n' || c == '\r'))) ||
		    (c >= 0x7f && c < 0xa0))
			return -EINVAL;
		p += len;
	}
	return 0;
}

char *text_escape(const char *s, size_t n, char *out, size_t cap)
{
	size_t o = 0;

	if (!cap)
		return out;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		size_t need = c >= 0x20 && c < 0x7f ? 1 : 4;

		if (o + need >= cap)
			break;
		if (need == 1)
			out[o++] = (char)c;
		else
			o += (size_t)snprintf(out + o, cap - o, "\\x%02x", c);
	}
	out[o] = '\0';
	return out;
}

/* ---- log_state_changed --------------------------------------------------- */

static pthread_mutex_t states_lock = PTHREAD_MUTEX_INITIALIZER;
static struct strmap *states;

bool log_state_changed(const char *key, int state)
{
	bool changed;
	void *old;

	pthread_mutex_lock(&states_lock);
	if (!states || strmap_size(states) >= 4096) {
		strmap_free(states);    /* forget all: at worst one more line each */
		states = strmap_new();
	}
	old = states ? strmap_get(states, key) : NULL;
	/* Stored as 2 * state + 1, so 0 (fine) is not NULL (unknown). */
	changed = old != (void *)(intptr_t)((intptr_t)state * 2 + 1) && (old || state != 0);
	if (states && changed)
		strmap_put(states, key, (void *)(intptr_t)((intptr_t)state * 2 + 1));
	pthread_mutex_unlock(&states_lock);
	return changed;
}

/* ---- password files ------------------------------------------------------ */

int password_file_read(const char *path, char **ret_password)
{
	char buf[4097];
	struct stat st;
	size_t n = 0;
	int fd, r = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		r = -errno;
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		r = -EINVAL;
		goto out;
	}
	if (st.st_mode & (S_IRWXG | S_IRWXO)) {
		r = -EPERM;
		goto out;
	}
	for (;;) {
		ssize_t k = read(fd, buf + n, sizeof(buf) - n);

		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0) {
			r = -errno;
			goto out;
		}
		if (k == 0)
			break;
		n += k;
		if (n == sizeof(buf)) {
			r = -EINVAL;
			goto out;
		}
	}
	if (n && buf[n - 1] == '\n')
		n--;
	if (n && buf[n - 1] == '\r')
		n--;
	if (n == 0 || memchr(buf, '\0', n) || memchr(buf, '\n', n)) {
		r = -EINVAL;
		goto out;
	}
	if (!(*ret_password = strndup(buf, n)))
		r = -ENOMEM;
out:
	explicit_bzero(buf, sizeof(buf));
	close(fd);
	return r;
}
