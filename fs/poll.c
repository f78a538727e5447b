/* poll.c — poll(2)/select(2) on a value file of the mount wakes when the
 * value changes, as a sysfs attribute does after sysfs_notify.
 *
 * Who calls: ops.c's FUSE_POLL handler (fs_polls_poll, on a loop thread),
 * its notice thread for every changed path the kernel knows
 * (fs_polls_changed), and FORGET (fs_polls_forget).
 *
 * Why it needs no OPEN. The mount answers OPEN with ENOSYS so the kernel
 * keeps page caches and never sends OPEN/RELEASE (ops.c's design note). A
 * poll then arrives with no file handle of ours, so the daemon cannot tell
 * two pollers of one file apart by fh; but the kernel asks again after
 * every wakeup, from the same thread. A waiter is therefore the pair
 * (inode, thread id of the caller): its first FUSE_POLL records the
 * inode's change generation and answers "nothing yet" (revents 0) keeping
 * the poll handle; a change bumps the generation and notifies every
 * handle of the inode; the kernel's next FUSE_POLL from that thread sees a
 * newer generation than it started with and answers POLLIN|POLLPRI, and
 * the waiter is dropped. So a script blocks for the next change, whether
 * it waits for readability (select's readfds) or for POLLPRI (what sysfs
 * users ask for), and cached reads stay as fast as before.
 *
 * Waiters whose process gave up (a poll timeout) stay until their inode
 * changes or is forgotten; at most FS_POLL_WAITERS_MAX are kept, the
 * oldest dropped first (a dropped waiter's next poll starts afresh).
 *
 * Locks: one mutex over the table; notify_poll runs outside it. */
#include "internal.h"

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#define FS_POLL_WAITERS_MAX 4096

struct waiter {
	struct waiter *next;
	pid_t tid;
	uint64_t gen;                 /* the inode's generation when it began */
	struct fuse_pollhandle *ph;   /* NULL once notified */
	uint64_t seq;                 /* age, for eviction */
};

struct polled {                   /* one inode somebody polls */
	uint64_t gen;
	struct waiter *waiters;
};

struct fs_polls {
	pthread_mutex_t lock;
	struct strmap *by_ino;        /* "%" PRIx64 -> struct polled */
	size_t n_waiters;
	uint64_t seq;
};

static void key_of(fuse_ino_t ino, char key[20])
{
	snprintf(key, 20, "%" PRIx64, (uint64_t)ino);
}

struct fs_polls *fs_polls_new(void)
{
	struct fs_polls *p = calloc(1, sizeof(*p));

	if (!p)
		return NULL;
	if (!(p->by_ino = strmap_new())) {
		free(p);
		return NULL;
	}
	pthread_mutex_init(&p->lock, NULL);
	return p;
}

static void polled_free(struct polled *pd)
{
	for (struct waiter *w = pd->waiters, *next; w; w = next) {
		next = w->next;
		if (w->ph)
			fuse_pollhandle_destroy(w->ph);
		free(w);
	}
	free(pd);
}

struct fs_polls *fs_polls_free(struct fs_polls *p)
{
	size_t it = 0;
	void *v;

	if (!p)
		return NULL;
	while (strmap_next(p->by_ino, &it, NULL, &v))
		polled_free(v);
	strmap_free(p->by_ino);
	pthread_mutex_destroy(&p->lock);
	free(p);
	return NULL;
}

/* Drop the oldest waiter of all (lock held). */
static void evict_oldest(struct fs_polls *p)
{
	struct waiter **best = NULL;
	size_t it = 0;
	void *v;

	while (strmap_next(p->by_ino, &it, NULL, &v)) {
		struct polled *pd = v;

		for (struct waiter **pw = &pd->waiters; *pw; pw = &(*pw)->next)
			if (!best || (*pw)->seq < (*best)->seq)
				best = pw;
	}
	if (best) {
		struct waiter *w = *best;

		*best = w->next;
		if (w->ph)
			fuse_pollhandle_destroy(w->ph);
		free(w);
		p->n_waiters--;
	}
}

unsigned fs_polls_poll(struct fs_polls *p, fuse_ino_t ino, pid_t tid, struct fuse_pollhandle *ph)
{
	struct fuse_pollhandle *old = NULL;
	struct polled *pd;
	struct waiter *w, **pw;
	unsigned revents = 0;
	char key[20];

	key_of(ino, key);
	pthread_mutex_lock(&p->lock);
	if (!(pd = strmap_get(p->by_ino, key))) {
		if (!(pd = calloc(1, sizeof(*pd))) || strmap_put(p->by_ino, key, pd) < 0) {
			free(pd);
			pthread_mutex_unlock(&p->lock);
			if (ph)
				fuse_pollhandle_destroy(ph);
			return POLLIN | POLLRDNORM;   /* cannot wait: never block the caller */
		}
	}
	for (pw = &pd->waiters; *pw && (*pw)->tid != tid; pw = &(*pw)->next)
		;
	w = *pw;
	if (w && w->gen != pd->gen) {
		/* Changed since this thread began waiting. */
		*pw = w->next;
		old = w->ph;
		free(w);
		p->n_waiters--;
		revents = POLLIN | POLLRDNORM | POLLPRI;
		pthread_mutex_unlock(&p->lock);
		if (old)
			fuse_pollhandle_destroy(old);
		if (ph)
			fuse_pollhandle_destroy(ph);
		return revents;
	}
	if (!w) {
		if (p->n_waiters >= FS_POLL_WAITERS_MAX)
			evict_oldest(p);
		if (!(w = calloc(1, sizeof(*w)))) {
			pthread_mutex_unlock(&p->lock);
			if (ph)
				fuse_pollhandle_destroy(ph);
			return POLLIN | POLLRDNORM;
		}
		w->tid = tid;
		w->gen = pd->gen;
		w->next = pd->waiters;
		pd->waiters = w;
		p->n_waiters++;
	}
	w->seq = ++p->seq;
	old = w->ph;
	w->ph = ph;      /* NULL: the kernel did not ask to be told (no waiter) */
	pthread_mutex_unlock(&p->lock);
	if (old)
		fuse_pollhandle_destroy(old);
	return revents;
}

void fs_polls_changed(struct fs_polls *p, fuse_ino_t ino)
{
	struct polled *pd;
	char key[20];

	key_of(ino, key);
	pthread_mutex_lock(&p->lock);
	if ((pd = strmap_get(p->by_ino, key)))
		pd->gen++;
	pthread_mutex_unlock(&p->lock);
	/* Tell every waiter, one handle at a time (notify outside the lock). */
	while (pd) {
		struct fuse_pollhandle *ph = NULL;

		pthread_mutex_lock(&p->lock);
		if ((pd = strmap_get(p->by_ino, key)))
			for (struct waiter *w = pd->waiters; w && !ph; w = w->next)
				if (w->ph) {
					ph = w->ph;
					w->ph = NULL;
				}
		pthread_mutex_unlock(&p->lock);
		if (!ph)
			break;
		fuse_lowlevel_notify_poll(ph);   /* -ENOENT: that poller is gone */
		fuse_pollhandle_destroy(ph);
	}
}

void fs_polls_forget(struct fs_polls *p, fuse_ino_t ino)
{
	struct polled *pd;
	char key[20];

	key_of(ino, key);
	pthread_mutex_lock(&p->lock);
	if ((pd = strmap_remove(p->by_ino, key))) {
		for (struct waiter *w = pd->waiters; w; w = w->next)
			p->n_waiters--;
	}
	pthread_mutex_unlock(&p->lock);
	if (pd)
		polled_free(pd);
}
