/* config.c — the HTTP server's options: set from strings (the command line
 * and the config file, both through httpd_config_set), then checked once
 * as a whole by httpd_config_check before anything is bound or mounted.
 *
 * Called from main's thread before the server exists; no locking. Nothing
 * here logs: messages go back to main, which names the option or the file
 * and line. */
#include "internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

/* A boolean option into an int flag. */
static int set_flag(const char *v, int *ret)
{
	bool b;
	int r = parse_bool(v, &b);

	if (r == 0)
		*ret = b;
	return r;
}

static int set_str(char **field, const char *value)
{
	char *s = strdup(value);

	if (!s)
		return -ENOMEM;
	free(*field);
	*field = s;
	return 0;
}

int httpd_config_set(struct httpd_config *c, const char *key, const char *value)
{
	static const struct {
		const char *key;
		size_t off;
	} strs[] = {
		{ "http", offsetof(struct httpd_config, listen) },
		{ "http-cert", offsetof(struct httpd_config, cert_file) },
		{ "http-key", offsetof(struct httpd_config, key_file) },
		{ "http-user", offsetof(struct httpd_config, user) },
		{ "http-password-file", offsetof(struct httpd_config, password_file) },
		{ "state-dir", offsetof(struct httpd_config, state_dir) },
		{ "http-metrics", offsetof(struct httpd_config, metrics) },
	};

	if (!value)
		return -EINVAL;
	for (size_t i = 0; i < ARRAY_SIZE(strs); i++)
		if (strcmp(key, strs[i].key) == 0) {
			if (!*value)
				return -EINVAL;
			return set_str((char **)((char *)c + strs[i].off), value);
		}
	if (strcmp(key, "http-no-auth") == 0)
		return set_flag(value, &c->no_auth);
	if (strcmp(key, "http-force-plain") == 0)
		return set_flag(value, &c->force_plain);
	return -ENOENT;
}

void httpd_config_clear(struct httpd_config *c)
{
	free(c->listen);
	free(c->cert_file);
	free(c->key_file);
	free(c->user);
	free(c->password_file);
	free(c->state_dir);
	free(c->metrics);
	*c = (struct httpd_config)HTTPD_CONFIG_INIT;
}

static int parse_port(const char *s, uint16_t *ret)
{
	char *end;
	unsigned long v;

	if (!*s || *s == '-' || *s == '+')
		return -EINVAL;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || v > 65535)
		return -EINVAL;
	*ret = (uint16_t)v;
	return 0;
}

/* "[ADDR:]PORT": ADDR is an IPv4 literal, "[IPv6]", "localhost" or "*". */
int httpd_parse_listen(const char *s, struct httpd_listen *ret)
{
	struct httpd_listen l = { 0 };
	char host[64] = "127.0.0.1";
	const char *port = s;
	const char *colon;

	if (!s || !*s)
		return -EINVAL;
	if (s[0] == '[') {
		const char *close = strchr(s, ']');

		if (!close || close[1] != ':' || (size_t)(close - s - 1) >= sizeof(host))
			return -EINVAL;
		memcpy(host, s + 1, (size_t)(close - s - 1));
		host[close - s - 1] = '\0';
		port = close + 2;
	} else if ((colon = strrchr(s, ':'))) {
		if ((size_t)(colon - s) >= sizeof(host) || colon == s)
			return -EINVAL;
		memcpy(host, s, (size_t)(colon - s));
		host[colon - s] = '\0';
		port = colon + 1;
	}
	if (parse_port(port, &l.port) < 0)
		return -EINVAL;
	if (strcmp(host, "localhost") == 0)
		strcpy(host, "127.0.0.1");
	if (strcmp(host, "*") == 0)
		strcpy(host, "0.0.0.0");

	struct sockaddr_in *in4 = (struct sockaddr_in *)&l.addr;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&l.addr;

	if (inet_pton(AF_INET, host, &in4->sin_addr) == 1) {
		in4->sin_family = AF_INET;
		in4->sin_port = htons(l.port);
		l.addr_len = sizeof(*in4);
		l.loopback = (ntohl(in4->sin_addr.s_addr) >> 24) == 127;
		snprintf(l.host, sizeof(l.host), "%s", host);
	} else if (inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons(l.port);
		l.addr_len = sizeof(*in6);
		l.loopback = IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr);
		snprintf(l.host, sizeof(l.host), "[%s]", host);
	} else {
		return -EINVAL;
	}
	*ret = l;
	return 0;
}

int httpd_read_password_file(const char *path, char **ret, char *msg, size_t msg_size)
{
	int r = password_file_read(path, ret);

	if (r < 0)
		snprintf(msg, msg_size, "http password file %s: %s", path,
			 r == -EPERM ? "readable or writable by group or others (chmod 600 it)" :
			 r == -EINVAL ? "not one line of text in a file" : strerror(-r));
	return r;
}

char *httpd_state_dir(const struct httpd_config *c)
{
	const char *x = getenv("XDG_STATE_HOME");
	const char *home = getenv("HOME");
	char *s = NULL;

	if (c->state_dir)
		return strdup(c->state_dir);
	if (x && *x) {
		if (asprintf(&s, "%s/redfishfs", x) < 0)
			return NULL;
		return s;
	}
	if (geteuid() == 0)
		return strdup("/var/lib/redfishfs");
	if (!home || !*home)
		return NULL;
	if (asprintf(&s, "%s/.local/state/redfishfs", home) < 0)
		return NULL;
	return s;
}

static int check_readable(const char *what, const char *path, char *msg, size_t msg_size)
{
	if (access(path, R_OK) < 0) {
		int r = -errno;

		snprintf(msg, msg_size, "%s %s: %s", what, path, strerror(-r));
		return r;
	}
	return 0;
}

int httpd_config_check(const struct httpd_config *c, char *msg, size_t msg_size)
{
	struct httpd_listen l;
	bool tls = c->cert_file || c->key_file;
	int r;

	if (!c->listen) {
		snprintf(msg, msg_size, "--http [ADDR:]PORT is required for the HTTP server");
		return -EINVAL;
	}
	if (httpd_parse_listen(c->listen, &l) < 0) {
		snprintf(msg, msg_size, "--http %s: expected [ADDR:]PORT (ADDR an IP literal)",
			 c->listen);
		return -EINVAL;
	}
	if (!c->cert_file != !c->key_file) {
		snprintf(msg, msg_size, "--http-cert and --http-key go together");
		return -EINVAL;
	}
	if (tls) {
		if ((r = check_readable("--http-cert", c->cert_file, msg, msg_size)) < 0 ||
		    (r = check_readable("--http-key", c->key_file, msg, msg_size)) < 0)
			return r;
	}
	if (!l.loopback && !tls && !c->force_plain) {
		snprintf(msg, msg_size,
			 "--http %s: plain HTTP off loopback exposes passwords; give "
			 "--http-cert/--http-key, or --http-force-plain", c->listen);
		return -EINVAL;
	}
	if (c->metrics && httpd_metrics_mode(c->metrics, l.loopback) < 0) {
		snprintf(msg, msg_size, "--http-metrics %s: expected open, login or off", c->metrics);
		return -EINVAL;
	}
	if (c->no_auth && !l.loopback) {
		snprintf(msg, msg_size, "--http-no-auth is refused on a non-loopback address");
		return -EINVAL;
	}
	if (!c->user != !c->password_file) {
		snprintf(msg, msg_size, "--http-user and --http-password-file go together");
		return -EINVAL;
	}
	if (c->user && (!*c->user || strlen(c->user) > 63 ||
			strspn(c->user, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
				"0123456789._-") != strlen(c->user))) {
		snprintf(msg, msg_size, "--http-user %s: 1-63 characters of [A-Za-z0-9._-]",
			 c->user);
		return -EINVAL;
	}
	if (c->password_file) {
		char *pw = NULL;

		r = httpd_read_password_file(c->password_file, &pw, msg, msg_size);
		if (pw) {
			explicit_bzero(pw, strlen(pw));
			free(pw);
		}
		if (r < 0)
			return r;
	}
	return 0;
}
