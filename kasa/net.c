/* net.c — the bounded socket steps every kasa/ transport uses: name
 * resolution, connect, send, wait; each waits in poll() against the
 * deadline of its attempt (monotonic ms), so nothing blocks past it.
 *
 * Name resolution: Kasa devices speak IPv4 only. Numeric addresses are used
 * directly; a host name is looked up with getaddrinfo_a() and the wait counts
 * against the attempt's deadline like any other step. Sockets are
 * non-blocking and close-on-exec; results are raw -errno values (dev.c's
 * kasa_error() maps them). No state, no locks. */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "internal.h"

int kasa_left(int64_t deadline)
{
	int64_t left = deadline - now_ms();

	return left <= 0 ? 0 : left > 600000 ? 600000 : (int)left;
}

/* An asynchronous name lookup. Shared by the caller and glibc's completion
 * notification (two references): a caller that gives up at its deadline
 * drops its reference and the notification frees the lookup later. */
struct kasa_lookup {
	struct gaicb cb;
	struct addrinfo hints;
	atomic_int refs;
	char service[8];
	char host[];
};

static void kasa_lookup_unref(struct kasa_lookup *l)
{
	if (atomic_fetch_sub(&l->refs, 1) != 1)
		return;
	if (l->cb.ar_result)
		freeaddrinfo(l->cb.ar_result);
	free(l);
}

static void kasa_lookup_done(union sigval sv)
{
	kasa_lookup_unref(sv.sival_ptr);
}

static void kasa_copy_addr(const struct addrinfo *ai, struct sockaddr_in *ret)
{
	memcpy(ret, ai->ai_addr, sizeof(*ret));
}

/* Resolve host:port to an IPv4 address (Kasa devices speak IPv4 only).
 * Numeric addresses need no I/O; names are looked up asynchronously and the
 * wait is bounded by deadline. 0, -ETIMEDOUT, -ENOMEM or -ENXIO (unknown). */
int kasa_resolve(const char *host, uint16_t port, int socktype, int64_t deadline,
			struct sockaddr_in *ret)
{
	struct addrinfo hints = { .ai_family = AF_INET, .ai_socktype = socktype,
				  .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV };
	struct addrinfo *res = NULL;
	struct gaicb *list[1];
	struct sigevent sev = { .sigev_notify = SIGEV_THREAD };
	struct kasa_lookup *l;
	char service[8];
	int r;

	snprintf(service, sizeof(service), "%u", (unsigned)port);
	r = getaddrinfo(host, service, &hints, &res);
	if (r == 0) {
		kasa_copy_addr(res, ret);
		freeaddrinfo(res);
		return 0;
	}
	if (r == EAI_MEMORY)
		return -ENOMEM;

	l = calloc(1, sizeof(*l) + strlen(host) + 1);
	if (!l)
		return -ENOMEM;
	strcpy(l->host, host);
	memcpy(l->service, service, sizeof(service));
	l->hints = (struct addrinfo){ .ai_family = AF_INET, .ai_socktype = socktype,
				      .ai_flags = AI_NUMERICSERV };
	l->cb.ar_name = l->host;
	l->cb.ar_service = l->service;
	l->cb.ar_request = &l->hints;
	atomic_init(&l->refs, 2);
	sev.sigev_notify_function = kasa_lookup_done;
	sev.sigev_value.sival_ptr = l;
	list[0] = &l->cb;
	if (getaddrinfo_a(GAI_NOWAIT, list, 1, &sev) != 0) {
		free(l);
		return -ENOMEM;
	}
	for (;;) {
		int left = kasa_left(deadline);
		struct timespec ts = { .tv_sec = left / 1000, .tv_nsec = (long)(left % 1000) * 1000000L };

		r = gai_suspend((const struct gaicb *const *)list, 1, &ts);
		if (r == EAI_INTR)
			continue;
		if (r == 0 || r == EAI_ALLDONE || gai_error(&l->cb) != EAI_INPROGRESS)
			break;
		if (kasa_left(deadline) == 0) {
			/* Canceled before it ran: no notification will come. */
			if (gai_cancel(&l->cb) == EAI_CANCELED)
				kasa_lookup_unref(l);
			kasa_lookup_unref(l);
			return -ETIMEDOUT;
		}
	}
	r = gai_error(&l->cb);
	if (r == 0 && l->cb.ar_result)
		kasa_copy_addr(l->cb.ar_result, ret);
	kasa_lookup_unref(l);
	if (r == EAI_MEMORY)
		return -ENOMEM;
	return r == 0 ? 0 : -ENXIO;
}

/* poll one fd for events until deadline: 1 ready, -ETIMEDOUT, -errno. */
int kasa_wait(int fd, short events, int64_t deadline)
{
	for (;;) {
		struct pollfd pfd = { .fd = fd, .events = events };
		int left = kasa_left(deadline);
		int r;

		if (left == 0)
			return -ETIMEDOUT;
		r = poll(&pfd, 1, left);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r > 0)
			return 1;
	}
}

int kasa_connect(const char *host, uint16_t port, int64_t deadline)
{
	struct sockaddr_in sa;
	socklen_t len = sizeof(int);
	int fd, r, err = 0, one = 1;

	r = kasa_resolve(host, port, SOCK_STREAM, deadline, &sa);
	if (r < 0)
		return r;
	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
		return fd;
	if (errno != EINPROGRESS) {
		r = -errno;
		goto fail;
	}
	r = kasa_wait(fd, POLLOUT, deadline);
	if (r < 0)
		goto fail;
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0) {
		r = -errno;
		goto fail;
	}
	if (err) {
		r = -err;
		goto fail;
	}
	return fd;
fail:
	close(fd);
	return r;
}

/* Is the idle connection still usable: open, and nothing unasked to read? */
bool kasa_idle_ok(int fd)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	int r;

	do
		r = poll(&pfd, 1, 0);
	while (r < 0 && errno == EINTR);
	return r == 0;
}

int kasa_send_all(int fd, const void *data, size_t len, int64_t deadline)
{
	const uint8_t *buf = data;

	while (len > 0) {
		ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			int r = kasa_wait(fd, POLLOUT, deadline);

			if (r < 0)
				return r;
			continue;
		}
		if (n < 0)
			return -errno;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

