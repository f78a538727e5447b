/* bench-loop.c — time one file operation in a tight loop, for scripts/bench-fs.
 *
 *   bench-loop read|stat PATH [N [RUNS]]
 *
 * read: open + read (up to 64 KiB) + close of PATH; stat: stat(PATH). After
 * one warm-up run, RUNS runs of N operations each; prints the median of the
 * runs in microseconds per operation. Exits 1 if an operation fails.
 * Benchmark tool; not installed.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static double now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static char buf[65536];

static int one(int is_read, const char *path)
{
	if (is_read) {
		int fd = open(path, O_RDONLY | O_CLOEXEC);

		if (fd < 0 || read(fd, buf, sizeof(buf)) < 0)
			return -errno;
		close(fd);
	} else {
		struct stat st;

		if (stat(path, &st) < 0)
			return -errno;
	}
	return 0;
}

int main(int argc, char *argv[])
{
	long n = 20000, runs = 7;
	double *us;
	int is_read;

	if (argc < 3 || (strcmp(argv[1], "read") != 0 && strcmp(argv[1], "stat") != 0)) {
		fprintf(stderr, "usage: %s read|stat PATH [N [RUNS]]\n", argv[0]);
		return 1;
	}
	is_read = strcmp(argv[1], "read") == 0;
	if (argc > 3)
		n = strtol(argv[3], NULL, 10);
	if (argc > 4)
		runs = strtol(argv[4], NULL, 10);
	if (n < 1 || runs < 1 || runs > 1000) {
		fprintf(stderr, "%s: bad N or RUNS\n", argv[0]);
		return 1;
	}
	us = calloc((size_t)runs, sizeof(*us));
	if (!us)
		return 1;
	for (long r = -1; r < runs; r++) {
		double t0 = now_us();

		for (long i = 0; i < n; i++) {
			int e = one(is_read, argv[2]);

			if (e < 0) {
				fprintf(stderr, "%s %s: %s\n", argv[1], argv[2], strerror(-e));
				return 1;
			}
		}
		if (r >= 0)
			us[r] = (now_us() - t0) / (double)n;
	}
	qsort(us, (size_t)runs, sizeof(*us), cmp_double);
	printf("%.2f\n", us[runs / 2]);
	free(us);
	return 0;
}
