/* fuzz_http.c — libFuzzer target for the HTTP request path: method, URI,
 * query, headers and body through routing, authentication (Basic and
 * X-Auth-Token), the Accept/Content-Type/OData-Version checks, $expand,
 * and PATCH/POST validation down to the tree and a provider.
 *
 * No network: the server (httpd/, a tree holding a DMTF mockup, whose
 * provider applies PATCHes and actions in memory, plus the service's own
 * accounts and sessions) gets one end of a socketpair per input through
 * httpd_add_connection; the input is written to the other end as the raw
 * request bytes, and the reply read back. Promises checked beyond crashes:
 * every reply is an HTTP/1.1 status line, never 500, and never shows the
 * administrator's password. Built by scripts/fuzz. */
#include "httpd.h"
#include "redfish.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#define ADMIN_PW "fuzz-admin-password"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct rf_tree *tree;
static struct httpd *srv;
static char dir[64];

static void cleanup(void)
{
	char cmd[128];

	srv = httpd_free(srv);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "fuzz_http: could not remove %s\n", dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *shared = getenv("SHARED_DIR");
	struct httpd_config c = HTTPD_CONFIG_INIT;
	char mock[512], pw[128], state[128];
	FILE *f;
	int err = 0;

	snprintf(dir, sizeof(dir), "/tmp/fuzz_http.XXXXXX");
	if (!mkdtemp(dir))
		abort();
	snprintf(pw, sizeof(pw), "%s/pw", dir);
	snprintf(state, sizeof(state), "%s/state", dir);
	if (!(f = fopen(pw, "w")) || fprintf(f, "%s\n", ADMIN_PW) < 0 || fclose(f) != 0 ||
	    chmod(pw, 0600) < 0)
		abort();
	snprintf(mock, sizeof(mock), "%s/mockups/public-rackmount1", shared ? shared : "../shared");
	tree = rf_tree_new("00000000-0000-0000-0000-000000000002");
	if (!tree || !rf_mockup_load(tree, "rack1", mock, &err)) {
		fprintf(stderr, "fuzz_http: loading %s: %s\n", mock, strerror(-err));
		exit(1);
	}
	httpd_config_set(&c, "http", "127.0.0.1:0");
	httpd_config_set(&c, "http-user", "admin");
	httpd_config_set(&c, "http-password-file", pw);
	httpd_config_set(&c, "state-dir", state);
	c.login_delay_ms = 1;          /* failed logins: answered at once here */
	c.header_timeout_s = 2;
	srv = httpd_new(tree, &c, &err);
	httpd_config_clear(&c);
	if (!srv || httpd_start(srv) < 0) {
		fprintf(stderr, "fuzz_http: server: %s\n", strerror(-err));
		exit(1);
	}
	atexit(cleanup);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sockaddr_in peer = { .sin_family = AF_INET, .sin_port = htons(40000) };
	static char reply[1 << 20];
	size_t got = 0;
	int sv[2];

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return 0;
	inet_pton(AF_INET, "127.0.0.1", &peer.sin_addr);
	if (httpd_add_connection(srv, sv[1], &peer, sizeof(peer)) < 0) {
		close(sv[0]);
		close(sv[1]);
		return 0;
	}
	for (size_t off = 0; off < size;) {
		ssize_t n = send(sv[0], data + off, size - off, MSG_NOSIGNAL);

		if (n <= 0)
			break;
		off += (size_t)n;
	}
	shutdown(sv[0], SHUT_WR);
	/* Read until the server closes (it does after the end of the input),
	 * or 3 s: a request waiting on a body that never comes. */
	for (;;) {
		struct pollfd p = { .fd = sv[0], .events = POLLIN };
		ssize_t n;

		if (poll(&p, 1, 3000) <= 0)
			break;
		n = recv(sv[0], reply + got, sizeof(reply) - 1 - got, 0);
		if (n <= 0)
			break;
		got += (size_t)n;
		if (got == sizeof(reply) - 1)
			got = 0;   /* a long reply: only its end is checked */
	}
	close(sv[0]);
	reply[got] = '\0';
	for (const char *p = reply; (p = strstr(p, "HTTP/1.1 500")); p++) {
		fprintf(stderr, "fuzz_http: a 500 answer:\n%.2000s\n", reply);
		abort();
	}
	/* Not echoed from the request itself (a URI naming it comes back in a
	 * ResourceNotFound), the password never shows. */
	if (memmem(reply, got, ADMIN_PW, strlen(ADMIN_PW)) &&
	    !memmem(data, size, ADMIN_PW, strlen(ADMIN_PW))) {
		fprintf(stderr, "fuzz_http: the password in a reply\n");
		abort();
	}
	return 0;
}
