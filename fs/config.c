/* config.c — redfishfs configuration: the INI file and the --kasa strings.
 *
 * Called from main() before anything starts (single-threaded); nothing here
 * logs: errors go to the caller's buffer as "FILE:LINE: what".
 *
 * libinih parses key = value lines, comments and a BOM. It neither reports
 * line numbers to the handler nor calls it for a section without keys, so
 * we feed it lines through our own reader: the reader counts lines (the
 * handler's line is the last one read), left-trims each line (an indented
 * key is a key, never an inih continuation line), rejects overlong lines,
 * and sees every [section] header first, so an unknown or empty section is
 * reported at its own line. After the first error the reader ends the input.
 *
 * Keys are looked up in the option table (options.c), so each is spelled
 * one way and '-' and '_' are the same; keys of sections main owns go to
 * the ext callback in their canonical spelling.
 */
#include "fs.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"

#define KASA_DEFAULT_PORT 9999

static void seterr(char *err, size_t errlen, const char *fmt, ...) _printf_(3, 4);
static void seterr(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

void fs_config_init(struct fs_config *c)
{
	*c = (struct fs_config){
		.timeout_ms = FS_DEFAULT_TIMEOUT_MS,
		.max_age_ms = FS_DEFAULT_MAX_AGE_MS,
		.poll_s = FS_DEFAULT_POLL_S,
		.discover_interval_s = FS_DEFAULT_DISCOVER_INTERVAL_S,
	};
}

void fs_kasa_clear(struct fs_kasa *k)
{
	if (!k)
		return;
	free(k->name);
	free(k->host);
	free(k->user);
	free(k->password_file);
	*k = (struct fs_kasa){ 0 };
}

void fs_config_clear(struct fs_config *c)
{
	for (size_t i = 0; i < c->n_kasa; i++)
		fs_kasa_clear(&c->kasa[i]);
	free(c->kasa);
	free(c->discover);
	free(c->kasa_user);
	free(c->kasa_password_file);
	fs_config_init(c);
}

int fs_parse_int(const char *s, long min, long max, int *ret)
{
	char *end;
	long v;

	if (!s || !(isdigit((unsigned char)s[0]) || (s[0] == '-' && isdigit((unsigned char)s[1]))))
		return -EINVAL;
	errno = 0;
	v = strtol(s, &end, 10);
	if (*end)
		return -EINVAL;
	if (errno == ERANGE || v < min || v > max)
		return -ERANGE;
	*ret = (int)v;
	return 0;
}

bool fs_name_valid(const char *name)
{
	size_t n = name ? strlen(name) : 0;

	if (n == 0 || n > FS_NAME_MAX || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)name[i]) && !strchr("_.-", name[i]))
			return false;
	return true;
}

static bool host_char_ok(char ch)
{
	return isalnum((unsigned char)ch) || ch == '.' || ch == '-' || ch == '_';
}

int fs_parse_host_port(const char *s, char **ret_host, uint16_t *ret_port, char *err, size_t errlen)
{
	const char *host = s, *host_end, *colon;
	bool v6 = false;
	int port = KASA_DEFAULT_PORT;
	char *h;

	if (!s || !*s) {
		seterr(err, errlen, "empty host");
		return -EINVAL;
	}
	if (s[0] == '[') {
		host = s + 1;
		host_end = strchr(host, ']');
		if (!host_end) {
			seterr(err, errlen, "'%s': missing ']'", s);
			return -EINVAL;
		}
		colon = host_end[1] ? host_end + 1 : NULL;
		if (colon && *colon != ':') {
			seterr(err, errlen, "'%s': expected ':PORT' after ']'", s);
			return -EINVAL;
		}
		v6 = true;
	} else {
		colon = strchr(s, ':');
		if (colon && strchr(colon + 1, ':')) {
			seterr(err, errlen, "'%s': write an IPv6 address as [ADDRESS]:PORT", s);
			return -EINVAL;
		}
		host_end = colon ? colon : s + strlen(s);
	}
	if (host_end == host) {
		seterr(err, errlen, "'%s': empty host", s);
		return -EINVAL;
	}
	if (*host == '-') {   /* "--kasa -f": an option, not a host */
		seterr(err, errlen, "'%s': a host cannot start with '-'", s);
		return -EINVAL;
	}
	if ((size_t)(host_end - host) > FS_HOST_MAX) {
		seterr(err, errlen, "'%s': host name too long", s);
		return -EINVAL;
	}
	for (const char *p = host; p < host_end; p++) {
		/* brackets: hex digits, ':' '.', and a "%zone" suffix */
		bool ok = v6 ? isalnum((unsigned char)*p) || strchr(":.%", *p) : host_char_ok(*p);

		if (!ok) {
			seterr(err, errlen, "'%s': invalid character '%c' in host", s, *p);
			return -EINVAL;
		}
	}
	if (v6 && !memchr(host, ':', (size_t)(host_end - host))) {
		seterr(err, errlen, "'%s': not an IPv6 address in brackets", s);
		return -EINVAL;
	}
	if (colon && fs_parse_int(colon + 1, 1, 65535, &port) < 0) {
		seterr(err, errlen, "'%s': port must be a number from 1 to 65535", s);
		return -EINVAL;
	}
	h = strndup(host, (size_t)(host_end - host));
	if (!h) {
		seterr(err, errlen, "out of memory");
		return -ENOMEM;
	}
	*ret_host = h;
	*ret_port = (uint16_t)port;
	return 0;
}

int fs_parse_kasa(const char *spec, struct fs_kasa *ret, char *err, size_t errlen)
{
	const char *eq = spec ? strchr(spec, '=') : NULL;
	const char *hp = eq ? eq + 1 : spec;
	char *name = NULL, *host = NULL;
	uint16_t port;
	int r;

	if (!spec || !*spec) {
		seterr(err, errlen, "empty strip address");
		return -EINVAL;
	}
	if (eq) {
		name = strndup(spec, (size_t)(eq - spec));
		if (!name) {
			seterr(err, errlen, "out of memory");
			return -ENOMEM;
		}
		if (!fs_name_valid(name)) {
			seterr(err, errlen,
			       "'%s': a strip name is 1 to %d characters of A-Z a-z 0-9 _ . -",
			       spec, FS_NAME_MAX);
			free(name);
			return -EINVAL;
		}
	}
	r = fs_parse_host_port(hp, &host, &port, err, errlen);
	if (r < 0) {
		free(name);
		return r;
	}
	*ret = (struct fs_kasa){ .name = name, .host = host, .port = port };
	return 0;
}

int fs_config_add_kasa(struct fs_config *c, struct fs_kasa *k, char *err, size_t errlen)
{
	struct fs_kasa *nk;

	for (size_t i = 0; i < c->n_kasa; i++) {
		const struct fs_kasa *o = &c->kasa[i];

		if (k->name && o->name && strcmp(k->name, o->name) == 0) {
			seterr(err, errlen, "strip name '%s' used twice", k->name);
			return -EEXIST;
		}
		if (strcmp(k->host, o->host) == 0 && k->port == o->port) {
			seterr(err, errlen, "strip %s:%u given twice", k->host, (unsigned)k->port);
			return -EEXIST;
		}
	}
	nk = realloc(c->kasa, (c->n_kasa + 1) * sizeof(*nk));
	if (!nk) {
		seterr(err, errlen, "out of memory");
		return -ENOMEM;
	}
	c->kasa = nk;
	c->kasa[c->n_kasa++] = *k;
	*k = (struct fs_kasa){ 0 };
	return 0;
}

int fs_parse_discover(const char *s, struct fs_discover *ret, char *err, size_t errlen)
{
	const char *colon = s ? strchr(s, ':') : NULL;
	size_t n = colon ? (size_t)(colon - s) : (s ? strlen(s) : 0);
	struct fs_discover d = { .port = KASA_DEFAULT_PORT };
	struct in_addr a;
	int port;

	if (!s || !*s) {
		seterr(err, errlen, "empty discovery address");
		return -EINVAL;
	}
	if (n == 0 || n >= sizeof(d.addr)) {
		seterr(err, errlen, "'%s': expected a numeric IPv4 (broadcast) address[:PORT]", s);
		return -EINVAL;
	}
	memcpy(d.addr, s, n);
	d.addr[n] = '\0';
	if (inet_pton(AF_INET, d.addr, &a) != 1) {
		seterr(err, errlen, "'%s': expected a numeric IPv4 (broadcast) address[:PORT]", s);
		return -EINVAL;
	}
	if (colon) {
		if (fs_parse_int(colon + 1, 1, 65535, &port) < 0) {
			seterr(err, errlen, "'%s': port must be a number from 1 to 65535", s);
			return -EINVAL;
		}
		d.port = (uint16_t)port;
	}
	*ret = d;
	return 0;
}

int fs_config_add_discover(struct fs_config *c, const char *list, char *err, size_t errlen)
{
	_cleanup_free_ char *copy = list ? strdup(list) : NULL;
	struct fs_discover *items = NULL, *nd;
	size_t n = 0;
	char *save = NULL, *tok;
	int r = 0;

	if (!list || !*list) {
		seterr(err, errlen, "empty discovery address");
		return -EINVAL;
	}
	if (!copy) {
		seterr(err, errlen, "out of memory");
		return -ENOMEM;
	}
	/* strtok_r would skip empty items ("a,,b"): look for them first. */
	for (const char *p = list;;) {
		const char *q = strchr(p, ',');
		const char *e = q ? q : p + strlen(p);

		while (p < e && isspace((unsigned char)*p))
			p++;
		if (p == e) {
			seterr(err, errlen, "'%s': empty item in the discovery list", list);
			return -EINVAL;
		}
		if (!q)
			break;
		p = q + 1;
	}
	items = calloc(strlen(list) / 2 + 1, sizeof(*items));
	if (!items) {
		seterr(err, errlen, "out of memory");
		return -ENOMEM;
	}
	for (tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		char *end;

		while (isspace((unsigned char)*tok))
			tok++;
		end = tok + strlen(tok);
		while (end > tok && isspace((unsigned char)end[-1]))
			*--end = '\0';
		r = fs_parse_discover(tok, &items[n++], err, errlen);
		if (r < 0)
			goto out;
	}
	for (size_t i = 0; i < n; i++) {
		bool dup = false;

		for (size_t k = 0; k < c->n_discover && !dup; k++)
			dup = !strcmp(c->discover[k].addr, items[i].addr) &&
			      c->discover[k].port == items[i].port;
		if (dup)
			continue;
		nd = realloc(c->discover, (c->n_discover + 1) * sizeof(*nd));
		if (!nd) {
			seterr(err, errlen, "out of memory");
			r = -ENOMEM;
			goto out;
		}
		c->discover = nd;
		c->discover[c->n_discover++] = items[i];
	}
out:
	free(items);
	return r;
}

/* ---- the INI file --------------------------------------------------------------- */

enum cfg_section { SEC_NONE, SEC_REDFISHFS, SEC_KASA, SEC_KASA_ALL, SEC_EXT };

struct cfg_parse {
	struct fs_config *c;
	const char *file;
	FILE *f;
	int line;                 /* last line handed to inih */
	char *buf;                /* getline buffer */
	size_t bufcap;
	char *err;
	size_t errlen;
	int error;                /* first error (-errno), 0 if none */
	int error_line;

	/* the current section */
	enum cfg_section sec;
	int sec_line;
	char sec_name[FS_NAME_MAX + 1];  /* of [kasa NAME] */
	char ext_sec[128];               /* a section of another module */
	enum fs_section ext_kind;        /* its kind in the option table */
	bool kasa_has_host;
	char *kasa_user, *kasa_pwfile;   /* [kasa NAME] keys seen before its host */
	/* single-valued keys of [redfishfs] already set */
	bool set_timeout, set_max_age, set_poll, set_discover_interval;
};

static int cfg_fail(struct cfg_parse *p, int line, int error, const char *fmt, ...) _printf_(4, 5);
static int cfg_fail(struct cfg_parse *p, int line, int error, const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	if (p->error)
		return 0;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	seterr(p->err, p->errlen, "%s:%d: %s", p->file, line, msg);
	p->error = error;
	p->error_line = line;
	return 0;   /* inih: the handler failed */
}

/* A [kasa] string key: non-empty, once per section. */
static int cfg_kasa_string(struct cfg_parse *p, const char *name, const char *value, char **slot)
{
	if (*slot)
		return cfg_fail(p, p->line, -EINVAL, "'%s' given twice", name);
	if (!*value)
		return cfg_fail(p, p->line, -EINVAL, "%s: empty", name);
	*slot = strdup(value);
	if (!*slot)
		return cfg_fail(p, p->line, -ENOMEM, "out of memory");
	return 1;
}

/* The previous section is complete: check what it must have. */
static void cfg_end_section(struct cfg_parse *p)
{
	if (p->sec == SEC_KASA && !p->kasa_has_host)
		cfg_fail(p, p->sec_line, -EINVAL, "[kasa %s] has no host", p->sec_name);
	free(p->kasa_user);
	free(p->kasa_pwfile);
	p->kasa_user = p->kasa_pwfile = NULL;
	p->sec = SEC_NONE;
}

static bool kasa_name_taken(const struct fs_config *c, const char *name)
{
	for (size_t i = 0; i < c->n_kasa; i++)
		if (c->kasa[i].name && strcmp(c->kasa[i].name, name) == 0)
			return true;
	return false;
}

/* A header line "[...]" (already left-trimmed) at p->line. */
static void cfg_begin_section(struct cfg_parse *p, const char *line)
{
	const char *close = strchr(line, ']');
	char name[128];
	size_t n;
	const char *s;

	cfg_end_section(p);
	if (p->error)
		return;
	if (!close)
		return;    /* inih reports the syntax error at this line */
	n = (size_t)(close - line - 1);
	if (n >= sizeof(name)) {
		cfg_fail(p, p->line, -EINVAL, "section name too long");
		return;
	}
	memcpy(name, line + 1, n);
	name[n] = '\0';
	/* trim like inih does */
	while (n > 0 && isspace((unsigned char)name[n - 1]))
		name[--n] = '\0';
	s = name;
	while (isspace((unsigned char)*s))
		s++;
	p->sec_line = p->line;
	if (strcmp(s, "redfishfs") == 0) {
		p->sec = SEC_REDFISHFS;
	} else if (strncmp(s, "kasa", 4) == 0 && (s[4] == '\0' || isspace((unsigned char)s[4]))) {
		const char *nm = s + 4;

		while (isspace((unsigned char)*nm))
			nm++;
		if (!*nm) {
			p->sec = SEC_KASA_ALL;   /* the account every strip is asked with */
			return;
		}
		if (!fs_name_valid(nm)) {
			cfg_fail(p, p->line, -EINVAL,
				 "invalid strip name '%s' (1 to %d characters of A-Z a-z 0-9 _ . -)",
				 nm, FS_NAME_MAX);
			return;
		}
		if (kasa_name_taken(p->c, nm)) {
			cfg_fail(p, p->line, -EINVAL, "strip '%s' defined twice", nm);
			return;
		}
		p->sec = SEC_KASA;
		snprintf(p->sec_name, sizeof(p->sec_name), "%s", nm);
		p->kasa_has_host = false;
	} else if (p->c->ext) {
		char msg[200] = "";
		int r = p->c->ext(p->c->ext_userdata, s, NULL, NULL, msg, sizeof(msg));

		if (r == -ENOENT)
			cfg_fail(p, p->line, -EINVAL, "unknown section [%s]", s);
		else if (r < 0)
			cfg_fail(p, p->line, r, "[%s]: %s", s, msg);
		else {
			p->sec = SEC_EXT;
			snprintf(p->ext_sec, sizeof(p->ext_sec), "%s", s);
			p->ext_kind = FS_SECTION_NONE;
			for (int k = FS_SECTION_KASA; k < FS_SECTION_COUNT; k++) {
				size_t kn = strlen(fs_section_names[k]);

				if (strncmp(s, fs_section_names[k], kn) == 0 &&
				    (s[kn] == '\0' || isspace((unsigned char)s[kn])))
					p->ext_kind = (enum fs_section)k;
			}
		}
	} else {
		cfg_fail(p, p->line, -EINVAL, "unknown section [%s]", s);
	}
}

/* inih's reader: one line per call, left-trimmed, at most num - 1 bytes. */
static char *cfg_reader(char *str, int num, void *stream)
{
	struct cfg_parse *p = stream;
	ssize_t n;
	char *s;
	size_t len;

	if (p->error)
		return NULL;
	errno = 0;
	n = getline(&p->buf, &p->bufcap, p->f);
	if (n < 0) {
		if (errno && errno != ENOMEM)
			cfg_fail(p, p->line + 1, -errno, "%s", strerror(errno));
		else if (errno)
			cfg_fail(p, p->line + 1, -ENOMEM, "out of memory");
		else
			cfg_end_section(p);   /* end of file */
		return NULL;
	}
	p->line++;
	s = p->buf;
	if (p->line == 1 && strncmp(s, "\xEF\xBB\xBF", 3) == 0)
		s += 3;
	while (*s == ' ' || *s == '\t')
		s++;
	len = strlen(s);
	if ((size_t)n != (size_t)(s - p->buf) + len) {
		cfg_fail(p, p->line, -EINVAL, "NUL byte in line");
		return NULL;
	}
	if (len >= (size_t)num) {
		cfg_fail(p, p->line, -EINVAL, "line longer than %d characters", num - 2);
		return NULL;
	}
	if (*s == '[')
		cfg_begin_section(p, s);
	if (p->error)
		return NULL;
	memcpy(str, s, len + 1);
	return str;
}

static int cfg_set_int(struct cfg_parse *p, bool *set, const char *key, const char *value,
		       long min, long max, int *ret)
{
	int r;

	if (*set)
		return cfg_fail(p, p->line, -EINVAL, "'%s' given twice", key);
	r = fs_parse_int(value, min, max, ret);
	if (r == -ERANGE)
		return cfg_fail(p, p->line, -EINVAL, "%s = %s: must be from %ld to %ld", key, value,
				min, max);
	if (r < 0)
		return cfg_fail(p, p->line, -EINVAL, "%s = '%s': not a number", key, value);
	*set = true;
	return 1;
}

/* A key of a section main owns: found in the option table (its canonical
 * spelling goes to ext), else unknown. */
static int cfg_ext_key(struct cfg_parse *p, enum fs_section kind, const char *name,
		       const char *value)
{
	char msg[200] = "";
	int id = fs_option_by_key(kind, name);
	int r;

	if (id < 0 || !p->c->ext)
		return cfg_fail(p, p->line, -EINVAL, "unknown key '%s' in [%s]", name, p->ext_sec);
	r = p->c->ext(p->c->ext_userdata, p->ext_sec, fs_options[id].key, value, msg, sizeof(msg));
	if (r == -ENOENT)
		return cfg_fail(p, p->line, -EINVAL, "unknown key '%s' in [%s]", name, p->ext_sec);
	if (r < 0)
		return cfg_fail(p, p->line, r, "%s", msg[0] ? msg : strerror(-r));
	return 1;
}

static int cfg_handler(void *user, const char *section, const char *name, const char *value)
{
	struct cfg_parse *p = user;
	char msg[200];

	(void)section;   /* the reader tracked it */
	if (p->error)
		return 0;
	switch (p->sec) {
	case SEC_NONE:
		return cfg_fail(p, p->line, -EINVAL, "'%s' outside a section", name);
	case SEC_REDFISHFS:
		switch (fs_option_by_key(FS_SECTION_REDFISHFS, name)) {
		case FS_OPT_TIMEOUT:
			return cfg_set_int(p, &p->set_timeout, "timeout", value, FS_TIMEOUT_MIN_MS,
					   FS_TIMEOUT_MAX_MS, &p->c->timeout_ms);
		case FS_OPT_MAX_AGE:
			return cfg_set_int(p, &p->set_max_age, "max-age", value, 0, FS_MAX_AGE_MAX_MS,
					   &p->c->max_age_ms);
		case FS_OPT_POLL:
			return cfg_set_int(p, &p->set_poll, "poll", value, FS_POLL_MIN_S,
					   FS_POLL_MAX_S, &p->c->poll_s);
		case FS_OPT_DISCOVER_INTERVAL:
			return cfg_set_int(p, &p->set_discover_interval, "discover-interval", value,
					   FS_DISCOVER_INTERVAL_MIN_S, FS_DISCOVER_INTERVAL_MAX_S,
					   &p->c->discover_interval_s);
		case FS_OPT_KASA_DISCOVER: {
			int r = fs_config_add_discover(p->c, value, msg, sizeof(msg));

			if (r < 0)
				return cfg_fail(p, p->line, r, "discover: %s", msg);
			return 1;
		}
		case -ENOENT:
			return cfg_fail(p, p->line, -EINVAL, "unknown key '%s' in [redfishfs]", name);
		default:
			/* a key of main's ([redfishfs] log-level, no-mount) */
			snprintf(p->ext_sec, sizeof(p->ext_sec), "redfishfs");
			return cfg_ext_key(p, FS_SECTION_REDFISHFS, name, value);
		}
	case SEC_KASA:
		if (fs_option_by_key(FS_SECTION_KASA, name) == FS_OPT_KASA) {
			struct fs_kasa k = { 0 };
			int r;

			if (p->kasa_has_host)
				return cfg_fail(p, p->line, -EINVAL, "'host' given twice");
			r = fs_parse_host_port(value, &k.host, &k.port, msg, sizeof(msg));
			if (r < 0)
				return cfg_fail(p, p->line, r, "host: %s", msg);
			k.name = strdup(p->sec_name);
			k.user = p->kasa_user;
			k.password_file = p->kasa_pwfile;
			p->kasa_user = p->kasa_pwfile = NULL;
			if (!k.name) {
				fs_kasa_clear(&k);
				return cfg_fail(p, p->line, -ENOMEM, "out of memory");
			}
			r = fs_config_add_kasa(p->c, &k, msg, sizeof(msg));
			fs_kasa_clear(&k);
			if (r < 0)
				return cfg_fail(p, p->line, r == -EEXIST ? -EINVAL : r, "%s", msg);
			p->kasa_has_host = true;
			return 1;
		}
		switch (fs_option_by_key(FS_SECTION_KASA, name)) {
		case FS_OPT_KASA_USER:
		case FS_OPT_KASA_PASSWORD_FILE: {
			/* the section's strip once its host made it, else kept for it */
			struct fs_kasa *k = p->kasa_has_host ? &p->c->kasa[p->c->n_kasa - 1] : NULL;
			bool u = fs_option_by_key(FS_SECTION_KASA, name) == FS_OPT_KASA_USER;

			return cfg_kasa_string(p, name, value, k ? (u ? &k->user : &k->password_file) :
							     (u ? &p->kasa_user : &p->kasa_pwfile));
		}
		default:
			break;
		}
		return cfg_fail(p, p->line, -EINVAL, "unknown key '%s' in [kasa %s]", name,
				p->sec_name);
	case SEC_KASA_ALL:
		switch (fs_option_by_key(FS_SECTION_KASA, name)) {
		case FS_OPT_KASA_USER:
			return cfg_kasa_string(p, name, value, &p->c->kasa_user);
		case FS_OPT_KASA_PASSWORD_FILE:
			return cfg_kasa_string(p, name, value, &p->c->kasa_password_file);
		default:
			return cfg_fail(p, p->line, -EINVAL, "unknown key '%s' in [kasa]", name);
		}
	case SEC_EXT:
		return cfg_ext_key(p, p->ext_kind, name, value);
	}
	return cfg_fail(p, p->line, -EINVAL, "internal error");
}

int fs_config_load(struct fs_config *c, const char *file, char *err, size_t errlen)
{
	struct cfg_parse p = { .c = c, .file = file, .err = err, .errlen = errlen };
	int r;

	p.f = fopen(file, "re");
	if (!p.f) {
		r = -errno;
		seterr(err, errlen, "%s: %s", file, strerror(errno));
		return r;
	}
	r = ini_parse_stream(cfg_reader, &p, cfg_handler, &p);
	fclose(p.f);
	free(p.buf);
	/* A section an error cut short never reached cfg_end_section. */
	free(p.kasa_user);
	free(p.kasa_pwfile);
	/* inih's own syntax errors (no '=', no ']') come before any later error of
	 * ours: parsing goes on after them, ours end the input. */
	if (r > 0 && (!p.error || r < p.error_line)) {
		seterr(err, errlen, "%s:%d: syntax error (expected [section] or key = value)",
		       file, r);
		return -EINVAL;
	}
	if (p.error)
		return p.error;
	if (r < 0) {
		seterr(err, errlen, "%s: out of memory", file);
		return -ENOMEM;
	}
	return 0;
}
