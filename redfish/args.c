/* args.c — the command-line and configuration values of the aggregated
 * sources, checked before anything starts: "NAME=URL" of a BMC,
 * "[NAME=]DIR" of a mockup, whether a BMC URL is plain HTTP to another
 * machine, and password files. fs/ calls these (redfish.h); nothing here
 * touches the tree or the network. A source's NAME is [A-Za-z0-9.-], 1 to
 * 32 characters, so "NAME_<id>" members split at the first '_'. */
#include "client.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

bool rf_source_name_valid(const char *s, size_t n)
{
	if (n == 0 || n > 32)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '-' && s[i] != '.')
			return false;
	return true;
}

int rf_bmc_url_normalize(const char *url, char **ret)
{
	const char *host, *end, *p;
	size_t hl;

	if (strncmp(url, "https://", 8) == 0)
		host = url + 8;
	else if (strncmp(url, "http://", 7) == 0)
		host = url + 7;
	else
		return -EINVAL;
	end = host + strcspn(host, "/?#");
	if (end == host || memchr(host, '@', end - host))
		return -EINVAL;
	if (*host == '[') {
		p = memchr(host, ']', end - host);
		if (!p)
			return -EINVAL;
		p++;
	} else {
		p = host + strcspn(host, ":/?#");
		if (p == host)
			return -EINVAL;
		for (const char *q = host; q < p; q++)
			if (!isalnum((unsigned char)*q) && *q != '-' && *q != '.' && *q != '_')
				return -EINVAL;
	}
	if (p < end) {
		char *e;
		long port;

		if (*p != ':')
			return -EINVAL;
		port = strtol(p + 1, &e, 10);
		if (e != end || port < 1 || port > 65535)
			return -EINVAL;
	}
	/* Accept "", "/", "/redfish/v1", "/redfish/v1/". */
	if (*end && strcmp(end, "/") != 0 && strcmp(end, RF_ROOT) != 0 && strcmp(end, RF_ROOT "/") != 0)
		return -EINVAL;
	hl = end - url;
	if (!(*ret = strndup(url, hl)))
		return -ENOMEM;
	return 0;
}

int rf_bmc_parse_arg(const char *arg, char **ret_name, char **ret_url)
{
	const char *eq = strchr(arg, '=');
	char *name, *url;
	int r;

	if (!eq || !rf_source_name_valid(arg, eq - arg))
		return -EINVAL;
	if ((r = rf_bmc_url_normalize(eq + 1, &url)) < 0)
		return r;
	if (!(name = strndup(arg, eq - arg))) {
		free(url);
		return -ENOMEM;
	}
	*ret_name = name;
	*ret_url = url;
	return 0;
}

bool rf_bmc_url_plain_remote(const char *url)
{
	const char *h;
	char host[256];
	struct in_addr a;
	size_t n;

	if (strncmp(url, "http://", 7) != 0)
		return false;
	h = url + 7;
	if (*h == '[')
		return strncmp(h, "[::1]", 5) != 0;
	n = strcspn(h, ":/");
	if (n >= sizeof(host))
		return true;
	memcpy(host, h, n);
	host[n] = '\0';
	if (strcasecmp(host, "localhost") == 0)
		return false;
	if (inet_pton(AF_INET, host, &a) == 1 && (ntohl(a.s_addr) >> 24) == 127)
		return false;
	return true;
}

int rf_mockup_parse_arg(const char *arg, char **ret_name, char **ret_dir)
{
	const char *eq = strchr(arg, '=');
	char *name = NULL, *dir;

	if (eq) {
		if (!rf_source_name_valid(arg, eq - arg))
			return -EINVAL;
		if (!(name = strndup(arg, eq - arg)))
			return -ENOMEM;
		arg = eq + 1;
	}
	if (!*arg) {
		free(name);
		return -EINVAL;
	}
	if (!(dir = strdup(arg))) {
		free(name);
		return -ENOMEM;
	}
	*ret_name = name;
	*ret_dir = dir;
	return 0;
}
