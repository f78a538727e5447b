/* stats.c — the daemon's own counters, read by httpd's /metrics.
 *
 * Writers are every thread that serves or talks to a device; each bump is
 * one relaxed atomic add on a fixed slot, so counting costs nothing worth
 * measuring and needs no lock or registration. stats_read copies the slots
 * (each individually atomic; the snapshot as a whole is not, which
 * Prometheus counters do not need). */
#include "common.h"

static uint64_t http_by_status[600];
static uint64_t fuse_ops[STATS_FUSE_OP_COUNT];
static struct {
	uint64_t ok, failed, reconnects;
	uint64_t bucket[STATS_RTT_BUCKETS + 1];
	uint64_t sum_usec;
} dev[STATS_BACKEND_COUNT];

const double stats_rtt_bounds_s[STATS_RTT_BUCKETS] = {
	0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5,
};

static void bump(uint64_t *p, uint64_t n)
{
	__atomic_fetch_add(p, n, __ATOMIC_RELAXED);
}

static uint64_t load(const uint64_t *p)
{
	return __atomic_load_n(p, __ATOMIC_RELAXED);
}

void stats_http(unsigned status)
{
	bump(&http_by_status[status < 600 ? status : 0], 1);
}

void stats_fuse(enum stats_fuse_op op)
{
	if ((unsigned)op < STATS_FUSE_OP_COUNT)
		bump(&fuse_ops[op], 1);
}

void stats_round_trip(enum stats_backend b, int64_t usec, bool ok)
{
	size_t i = 0;

	if ((unsigned)b >= STATS_BACKEND_COUNT)
		return;
	if (usec < 0)
		usec = 0;
	while (i < STATS_RTT_BUCKETS && (double)usec / 1e6 > stats_rtt_bounds_s[i])
		i++;
	bump(&dev[b].bucket[i], 1);
	bump(&dev[b].sum_usec, (uint64_t)usec);
	bump(ok ? &dev[b].ok : &dev[b].failed, 1);
}

void stats_reconnect(enum stats_backend b)
{
	if ((unsigned)b < STATS_BACKEND_COUNT)
		bump(&dev[b].reconnects, 1);
}

void stats_read(struct stats_snapshot *ret)
{
	for (size_t i = 0; i < ARRAY_SIZE(http_by_status); i++)
		ret->http[i] = load(&http_by_status[i]);
	for (size_t i = 0; i < STATS_FUSE_OP_COUNT; i++)
		ret->fuse[i] = load(&fuse_ops[i]);
	for (size_t b = 0; b < STATS_BACKEND_COUNT; b++) {
		ret->dev[b].ok = load(&dev[b].ok);
		ret->dev[b].failed = load(&dev[b].failed);
		ret->dev[b].reconnects = load(&dev[b].reconnects);
		ret->dev[b].sum_usec = load(&dev[b].sum_usec);
		for (size_t i = 0; i <= STATS_RTT_BUCKETS; i++)
			ret->dev[b].bucket[i] = load(&dev[b].bucket[i]);
	}
}

const char *stats_fuse_op_name(enum stats_fuse_op op)
{
	static const char *const names[STATS_FUSE_OP_COUNT] = {
		"lookup", "getattr", "setattr", "readlink", "open", "read", "write",
		"readdir", "readdirplus", "access", "poll",
	};

	return (unsigned)op < STATS_FUSE_OP_COUNT ? names[op] : "unknown";
}

const char *stats_backend_name(enum stats_backend b)
{
	return b == STATS_KASA ? "kasa" : b == STATS_BMC ? "bmc" : "unknown";
}
