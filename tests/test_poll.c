/* test_poll.c — poll(2)/select(2) on value files of a real mount wake when
 * the value changes (fs/poll.c), against a simulated HS300 whose meters
 * are fixed (so nothing changes unless the test changes it).
 *
 * - no change: poll(POLLPRI) times out;
 * - a button pressed at the strip: poll wakes with POLLPRI within the poll
 *   period, and the read after it shows the new value;
 * - a write through the mount by another process wakes select() on readfds;
 * - two threads polling one file both wake on one change;
 * - a Reading file wakes when the meter moves.
 * Skips (exit 77) without /dev/fuse. */
#include <CUnit/Basic.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <unistd.h>

#include "testutil.h"

#define OUTLETS "PowerEquipment/RackPDUs/PowerStrip/Outlets"

static struct tu_sim strip;
static struct tu_mount mnt;

static int poll_init(void)
{
	char arg[64];

	if (tu_sim_start(&strip, "hs300", "PowerStrip", NULL) < 0)
		return -1;
	for (int i = 1; i <= 6; i++) {
		char *r = tu_sim_cmd(&strip, "meter %d %d 120000 %d %d", i, 1000 * i, 10 * i, 10 * i);

		free(r);
	}
	snprintf(arg, sizeof(arg), "PowerStrip=127.0.0.1:%u", (unsigned)strip.port);
	{
		const char *args[] = { "--kasa", arg, "--poll", "1", "--timeout", "300", NULL };

		return tu_mount_start(&mnt, args);
	}
}

static int poll_clean(void)
{
	tu_mount_stop(&mnt);
	tu_sim_stop(&strip);
	return 0;
}

/* Open and read path (a reader reads before it waits, as on sysfs). */
static int open_read(const char *path, char *buf, size_t cap)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = pread(fd, buf, cap - 1, 0);
	buf[n > 0 ? n : 0] = '\0';
	return fd;
}

static void test_no_change_times_out(void)
{
	char buf[64];
	int fd = open_read(tu_path(mnt.mnt, OUTLETS "/1/PowerState"), buf, sizeof(buf));
	struct pollfd p = { .fd = fd, .events = POLLPRI };

	CU_ASSERT_TRUE_FATAL(fd >= 0);
	CU_ASSERT_STRING_EQUAL(buf, "On\n");
	CU_ASSERT_EQUAL(poll(&p, 1, 1500), 0);
	close(fd);
}

static void test_button_wakes_poll(void)
{
	char buf[64], *r;
	int fd = open_read(tu_path(mnt.mnt, OUTLETS "/2/PowerState"), buf, sizeof(buf));
	struct pollfd p = { .fd = fd, .events = POLLPRI };
	int64_t t0;

	CU_ASSERT_TRUE_FATAL(fd >= 0);
	CU_ASSERT_STRING_EQUAL(buf, "On\n");
	r = tu_sim_cmd(&strip, "set 2 off");
	free(r);
	t0 = tu_now_ms();
	CU_ASSERT_EQUAL(poll(&p, 1, 4000), 1);
	CU_ASSERT_TRUE(p.revents & POLLPRI);
	fprintf(stderr, "  button -> poll woke: %lld ms (poll period 1 s)\n", (long long)(tu_now_ms() - t0));
	CU_ASSERT_EQUAL(pread(fd, buf, sizeof(buf) - 1, 0), 4);
	buf[4] = '\0';
	CU_ASSERT_STRING_EQUAL(buf, "Off\n");
	/* and waits again for the next change */
	p.revents = 0;
	CU_ASSERT_EQUAL(poll(&p, 1, 300), 0);
	close(fd);
}

static void test_write_wakes_select(void)
{
	const char *path = tu_path(mnt.mnt, OUTLETS "/2/PowerState");
	char buf[64], cmd[600];
	int fd = open_read(path, buf, sizeof(buf));
	struct timeval tv = { .tv_sec = 3 };
	fd_set rd;

	CU_ASSERT_TRUE_FATAL(fd >= 0);
	FD_ZERO(&rd);
	FD_SET(fd, &rd);
	snprintf(cmd, sizeof(cmd), "(sleep 0.3; echo On > '%s') &", path);
	CU_ASSERT_EQUAL(tu_sh("%s", cmd), 0);
	CU_ASSERT_EQUAL(select(fd + 1, &rd, NULL, NULL, &tv), 1);
	CU_ASSERT_TRUE(FD_ISSET(fd, &rd));
	CU_ASSERT_EQUAL(pread(fd, buf, sizeof(buf) - 1, 0), 3);
	buf[3] = '\0';
	CU_ASSERT_STRING_EQUAL(buf, "On\n");
	close(fd);
}

struct waiter_arg {
	const char *path;
	int result;
	short revents;
};

static void *waiter(void *arg)
{
	struct waiter_arg *w = arg;
	char buf[64];
	int fd = open_read(w->path, buf, sizeof(buf));
	struct pollfd p = { .fd = fd, .events = POLLPRI };

	w->result = fd < 0 ? -1 : poll(&p, 1, 5000);
	w->revents = p.revents;
	if (fd >= 0)
		close(fd);
	return NULL;
}

static void test_two_waiters(void)
{
	struct waiter_arg a = { .path = tu_path(mnt.mnt, OUTLETS "/4/PowerState") }, b = a;
	pthread_t ta, tb;
	char *r;

	CU_ASSERT_EQUAL_FATAL(pthread_create(&ta, NULL, waiter, &a), 0);
	CU_ASSERT_EQUAL_FATAL(pthread_create(&tb, NULL, waiter, &b), 0);
	usleep(300000);
	r = tu_sim_cmd(&strip, "press 4");
	free(r);
	pthread_join(ta, NULL);
	pthread_join(tb, NULL);
	CU_ASSERT_EQUAL(a.result, 1);
	CU_ASSERT_EQUAL(b.result, 1);
	CU_ASSERT_TRUE(a.revents & POLLPRI);
	CU_ASSERT_TRUE(b.revents & POLLPRI);
	r = tu_sim_cmd(&strip, "press 4");
	free(r);
}

static void test_reading_wakes(void)
{
	char buf[64], *r;
	int fd = open_read(tu_path(mnt.mnt, OUTLETS "/5/PowerWatts/Reading"), buf, sizeof(buf));
	struct pollfd p = { .fd = fd, .events = POLLPRI };

	CU_ASSERT_TRUE_FATAL(fd >= 0);
	CU_ASSERT_STRING_EQUAL(buf, "5\n");
	r = tu_sim_cmd(&strip, "meter 5 7500 120000 50 50");
	free(r);
	CU_ASSERT_EQUAL(poll(&p, 1, 4000), 1);
	CU_ASSERT_EQUAL(pread(fd, buf, sizeof(buf) - 1, 0), 4);
	buf[4] = '\0';
	CU_ASSERT_STRING_EQUAL(buf, "7.5\n");
	close(fd);
}

int main(void)
{
	CU_pSuite s;

	if (!tu_have_fuse()) {
		fprintf(stderr, "no usable /dev/fuse: skipped\n");
		return 77;
	}
	if (CU_initialize_registry() != CUE_SUCCESS)
		return 1;
	s = CU_add_suite("poll", poll_init, poll_clean);
	CU_add_test(s, "no change: poll times out", test_no_change_times_out);
	CU_add_test(s, "a button at the strip wakes poll(POLLPRI)", test_button_wakes_poll);
	CU_add_test(s, "a mount write wakes select(readfds)", test_write_wakes_select);
	CU_add_test(s, "two pollers of one file both wake", test_two_waiters);
	CU_add_test(s, "a Reading wakes when the meter moves", test_reading_wakes);
	return tu_run_cunit();
}
