/* provider_strip.c — one strip's conversation with its device: polls,
 * read-backs, commands, and the poller thread that runs them.
 *
 * One poller thread per strip (a dead device never delays another): it
 * polls every poll_s seconds (get_sysinfo, then emeter.get_realtime per
 * outlet on metered devices), on request of a reader (kasa_strip_refresh),
 * runs the read-back after commands, and the delayed "On" of a PowerCycle.
 * Commands run in the caller's thread (FUSE, HTTP). Locks (per strip):
 *   io    serialises every conversation with the device together with the
 *         installs made from it, so a poll never installs between a command
 *         and its read-back. Taken before lock, never while holding it.
 *   lock  guards the cached state and the poll bookkeeping; held only for
 *         memory work, never across I/O or tree calls. Conditions: wake
 *         (the poller: poll requested, PowerCycle due, stop) and done (a poll
 *         finished; readers sharing one poll wait on it).
 *
 * Commands: a switch returns once the device acknowledged it (err_code 0);
 * the cache and the tree show the commanded state at once, and the poller
 * reads the state and the switched outlets' meters back within
 * KASA_READBACK_SETTLE_MS (one read-back for a burst). Renames, the LED and
 * meter resets are read back before they return. Before the poller runs,
 * switches are read back inline too.
 *
 * Freshness: installs carry the tree generation taken just before the request
 * whose reply they show; with io held nothing else talks to the device or
 * installs in between, so a command's result always wins. A device that fails a
 * poll is marked offline: every body shows Status.State UnavailableOffline
 * and null live values; writes then fail at once with -EHOSTUNREACH and
 * refresh returns at once, until a poll succeeds again. A reader waits for a
 * requested poll at most one timeout, then sees the tree as it is. A poll
 * whose reply carries another deviceId counts as "not there", so a reused
 * address never shows another device's state.
 *
 * PowerCycle: Off now (confirmed by read-back), On after
 * PowerCycleDelaySeconds, run by the poller. A later power command to that
 * outlet cancels the pending On (renames and meter resets do not: they do not
 * contradict it). If the device is offline when the On is due, it runs once
 * the device answers again. Before kasa_provider_start() no poller runs:
 * reads poll inline (shared the same way) and PowerCycle fails with -EAGAIN. */
#include "provider_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common.h"

static struct timespec deadline_ts(int64_t mono_ms)
{
	struct timespec ts = { .tv_sec = mono_ms / 1000, .tv_nsec = (long)(mono_ms % 1000) * 1000000L };

	return ts;
}

/* A device error that takes it offline: it does not answer, or it refused
 * every credential (then writes fail with -EACCES, not -EHOSTUNREACH). */
static bool kasa_err_unreachable(int r)
{
	return r == -ETIMEDOUT || r == -EHOSTUNREACH || r == -EACCES;
}

/* Outlet i as a bit of a read-back mask (outlets past 64: none). */
static uint64_t outlet_bit(size_t i)
{
	return i < 64 ? UINT64_C(1) << i : 0;
}

/* The child id to address outlet i with (malloc'd), or NULL in *ret for a
 * single-outlet plug. 0 or -ENOMEM / -ENOENT. */
static int si_child_id(const struct kasa_sysinfo *si, size_t i, char **ret)
{
	if (si->n_children == 0) {
		if (i != 0)
			return -ENOENT;
		*ret = NULL;
		return 0;
	}
	if (i >= si->n_children)
		return -ENOENT;
	*ret = kasa_child_full_id(si, i);
	return *ret ? 0 : -ENOMEM;
}

/* ---- talking to the device (s->io held) -------------------------------------- */

/* Take a new sysinfo into the cache (moved: *si is cleared), resizing the
 * outlet array; meter readings of outlets that stay are kept. s->lock held. */
int kasa_strip_take_si(struct kasa_strip *s, struct kasa_sysinfo *si)
{
	size_t n = kasa_si_outlets(si);

	if (n != s->n_outlets) {
		struct kasa_outlet *o = realloc(s->outlets, n * sizeof(*o));

		if (!o)
			return -ENOMEM;
		for (size_t i = s->n_outlets; i < n; i++)
			o[i] = (struct kasa_outlet){ 0 };
		s->outlets = o;
		s->n_outlets = n;
	}
	kasa_sysinfo_clear(&s->si);
	s->si = *si;
	*si = (struct kasa_sysinfo){ 0 };
	s->have_si = true;
	return 0;
}

/* The device did not answer (or answered nonsense to a poll): show it
 * offline. */
static void strip_mark_offline(struct kasa_strip *s, uint64_t g, int r)
{
	_cleanup_free_ char *host = NULL;
	bool was;

	pthread_mutex_lock(&s->lock);
	was = s->online;
	s->online = false;
	s->refused = r == -EACCES;
	if (was)
		host = strdup(s->host);
	pthread_mutex_unlock(&s->lock);
	kasa_strip_install(s, g);
	if (was)
		kasa_emit(s->kp, KASA_EVENT_OFFLINE, s->name, host ? host : "",
			  r == -EHOSTUNREACH && kasa_last_cause() ? kasa_last_cause() : r, NULL);
}

/* Tell the owner which account a KLAP/AES session was made with, once and
 * again when it changes (io held). */
static void strip_note_account(struct kasa_strip *s)
{
	char acct[sizeof(s->account)];
	_cleanup_free_ char *host = NULL, *msg = NULL;
	bool report = false;

	kasa_dev_account(s->dev, acct, sizeof(acct));
	pthread_mutex_lock(&s->lock);
	if (*acct && strcmp(acct, s->account) != 0) {
		snprintf(s->account, sizeof(s->account), "%s", acct);
		host = strdup(s->host);
		report = true;
	}
	pthread_mutex_unlock(&s->lock);
	if (report && asprintf(&msg, "signed in over %s with %s",
			       kasa_dev_transport(s->dev) == KASA_TRANSPORT_AES ? "AES" : "KLAP",
			       acct) >= 0)
		kasa_emit(s->kp, KASA_EVENT_ACCOUNT, s->name, host ? host : "", 0, msg);
}

/* After a device request (io held): the device refused it with an
 * err_code (r == -EIO and the reply said why): tell the owner, once for a
 * run of the same refusal; a success of the same method (r == 0) ends the
 * run, so a meter that fails every poll is reported once, and a command
 * that fails again after working is reported again. */
static void strip_note(struct kasa_strip *s, const char *method, int r)
{
	_cleanup_free_ char *msg = NULL, *host = NULL;
	char text[160];
	int code;
	bool report = false;

	if (r == 0) {
		size_t n = strlen(method);

		pthread_mutex_lock(&s->lock);
		if (s->last_err && !strncmp(s->last_err, method, n) && s->last_err[n] == ':') {
			free(s->last_err);
			s->last_err = NULL;
		}
		pthread_mutex_unlock(&s->lock);
		return;
	}
	if (r == -EACCES) {
		msg = strdup("credentials refused: the device took none of the accounts tried (the "
			     "configured one, if any, the default Kasa and Tapo accounts, the blank "
			     "one); set user= and password_file= for it");
		if (!msg)
			return;
		goto tell;
	}
	if (r != -EIO)
		return;
	code = kasa_dev_last_error(s->dev, text, sizeof(text));
	if (code == 0)
		return;
	if (asprintf(&msg, "%s: the device answered err_code %d%s%s", method, code,
		     *text ? ": " : "", text) < 0) {
		msg = NULL;
		return;
	}
tell:
	pthread_mutex_lock(&s->lock);
	if (!s->last_err || strcmp(s->last_err, msg) != 0) {
		char *copy = strdup(msg);

		if (copy) {
			free(s->last_err);
			s->last_err = copy;
			report = true;
			host = strdup(s->host);
		}
	}
	pthread_mutex_unlock(&s->lock);
	if (report)
		kasa_emit(s->kp, KASA_EVENT_DEVICE_ERROR, s->name, host ? host : "",
			  r == -EACCES ? -EACCES : -EIO, msg);
}

/* Whether si comes from the device s shows (a device keeps its deviceId;
 * another device at the address means ours is not there). */
static bool strip_same_device(struct kasa_strip *s, const struct kasa_sysinfo *si)
{
	bool same;

	pthread_mutex_lock(&s->lock);
	same = !s->have_si || !strcmp(s->si.device_id, si->device_id);
	pthread_mutex_unlock(&s->lock);
	return same;
}

/* One full poll: sysinfo, then the meter of every outlet. Installs the new
 * state, or the offline state when the device failed. 0 or -errno. */
int kasa_strip_poll_io(struct kasa_strip *s)
{
	struct kasa_sysinfo si = { 0 };
	struct kasa_emeter *em = NULL;
	bool *have = NULL, came_back = false;
	_cleanup_free_ char *back = NULL;
	size_t n = 0;
	uint64_t g;
	int r;

	pthread_mutex_lock(&s->lock);
	s->last_probe_ms = now_ms();
	pthread_mutex_unlock(&s->lock);
	g = rf_tree_generation(s->kp->t);
	r = kasa_get_sysinfo(s->dev, &si);
	strip_note(s, "get_sysinfo", r);
	if (r == 0 && !strip_same_device(s, &si))
		r = -EHOSTUNREACH;   /* another device took the address */
	if (r < 0)
		goto fail;
	n = kasa_si_outlets(&si);
	em = calloc(n, sizeof(*em));
	have = calloc(n, sizeof(*have));
	if (!em || !have) {
		r = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; si.has_emeter && i < n; i++) {
		_cleanup_free_ char *child = NULL;

		if (kasa_stopping(s->kp)) {
			r = -ECANCELED;
			goto out;
		}
		r = si_child_id(&si, i, &child);
		if (r < 0)
			goto out;
		r = kasa_get_emeter(s->dev, child, &em[i]);
		strip_note(s, "emeter.get_realtime", r);
		if (r == -EIO)          /* it answered, but no reading: null */
			continue;
		if (r < 0)
			goto fail;
		have[i] = true;
	}
	pthread_mutex_lock(&s->lock);
	r = kasa_strip_take_si(s, &si);
	if (r == 0) {
		for (size_t i = 0; i < n; i++) {
			s->outlets[i].have_em = have[i];
			s->outlets[i].em = em[i];
		}
		came_back = !s->online;
		if (came_back)
			back = strdup(s->host);   /* NULL: the event names no address */
		s->online = true;
		s->refused = false;
		s->last_ok_ms = now_ms();
	}
	pthread_mutex_unlock(&s->lock);
	if (r == 0) {
		strip_note_account(s);
		r = kasa_strip_install(s, g);
		if (came_back)
			kasa_emit(s->kp, KASA_EVENT_ONLINE, s->name, back ? back : "", 0, NULL);
	}
	goto out;
fail:
	strip_mark_offline(s, g, r);
out:
	kasa_sysinfo_clear(&si);
	free(em);
	free(have);
	return r;
}

/* After a confirmed command: read the state back, cache it, install it.
 * check (may be NULL) verifies the read-back shows what was asked; -EIO if
 * not (the read-back is installed anyway: it is the truth). meters: the
 * outlets (bit i: outlet i) that were switched, whose meters changed too
 * and are read back with the state; if such a read fails, the next poll
 * corrects the reading. */
static int strip_readback(struct kasa_strip *s,
			  bool (*check)(const struct kasa_sysinfo *si, const void *arg),
			  const void *arg, uint64_t meters)
{
	struct kasa_sysinfo si = { 0 };
	struct kasa_emeter em[64];
	uint64_t have_em = 0;
	uint64_t g;
	int r, k;

	g = rf_tree_generation(s->kp->t);
	r = kasa_get_sysinfo(s->dev, &si);
	strip_note(s, "get_sysinfo", r);
	if (r == 0 && !strip_same_device(s, &si)) {
		kasa_sysinfo_clear(&si);
		r = -EHOSTUNREACH;
	}
	if (r < 0) {
		if (kasa_err_unreachable(r))
			strip_mark_offline(s, g, r);
		return r;
	}
	if (check && !check(&si, arg))
		r = -EIO;
	for (size_t i = 0; si.has_emeter && i < kasa_si_outlets(&si) && i < 64; i++) {
		_cleanup_free_ char *child = NULL;

		if ((meters & (UINT64_C(1) << i)) && si_child_id(&si, i, &child) == 0 &&
		    kasa_get_emeter(s->dev, child, &em[i]) == 0)
			have_em |= UINT64_C(1) << i;
	}
	pthread_mutex_lock(&s->lock);
	k = kasa_strip_take_si(s, &si);
	for (size_t i = 0; k == 0 && i < s->n_outlets && i < 64; i++) {
		if (have_em & (UINT64_C(1) << i)) {
			s->outlets[i].em = em[i];
			s->outlets[i].have_em = true;
		}
	}
	pthread_mutex_unlock(&s->lock);
	kasa_sysinfo_clear(&si);
	if (k == 0)
		k = kasa_strip_install(s, g);
	return r < 0 ? r : k;
}

/* A command failed: an unreachable device goes offline; a device's
 * refusal goes to the owner. */
static int strip_cmd_failed(struct kasa_strip *s, uint64_t g, int r)
{
	if (kasa_err_unreachable(r))
		strip_mark_offline(s, g, r);
	else if (r == -EIO)
		kasa_strip_request_poll(s);   /* maybe applied: the poller finds out */
	return r;
}

/* A command's reply r (method, sent after generation g): noted; a failure
 * takes an unreachable device offline, a success is read back (check, arg);
 * then the command ends (io released). Returns r or the read-back's. */
static int strip_cmd_end(struct kasa_strip *s, uint64_t g, int r, const char *method,
			 bool (*check)(const struct kasa_sysinfo *si, const void *arg), const void *arg)
{
	strip_note(s, method, r);
	kasa_op_deadline(0);   /* the command is over; its read-back is a request of its own */
	if (r < 0)
		strip_cmd_failed(s, g, r);
	else
		r = strip_readback(s, check, arg, 0);
	pthread_mutex_unlock(&s->io);
	return r;
}

/* End a command begun by strip_cmd_begin: its deadline and io. */
static void strip_cmd_done(struct kasa_strip *s)
{
	kasa_op_deadline(0);
	pthread_mutex_unlock(&s->io);
}

/* Whether s is offline because it refused every credential. */
static bool strip_refused(struct kasa_strip *s)
{
	bool r;

	pthread_mutex_lock(&s->lock);
	r = s->refused;
	pthread_mutex_unlock(&s->lock);
	return r;
}

/* Whether s is online, or offline but not probed for KASA_PROBE_AGE_MS
 * (then *ret_probe: worth one poll before giving up). */
#define KASA_PROBE_AGE_MS 1000
static bool strip_usable(struct kasa_strip *s, bool *ret_probe)
{
	bool online;

	pthread_mutex_lock(&s->lock);
	online = s->online;
	*ret_probe = !online && now_ms() - s->last_probe_ms > KASA_PROBE_AGE_MS;
	pthread_mutex_unlock(&s->lock);
	return online || *ret_probe;
}

/* Begin a command: take io and check the device is online. An offline
 * device fails at once, unless its last probe is older than a second: then
 * one poll decides (so a device that came back is usable at once, not
 * after the next poll). One deadline, twice the timeout from now, covers
 * the whole command: waiting for io (a poll or another command; at most one
 * timeout, then -ETIMEDOUT), that probe, and the command's requests with
 * their retries (kasa_op_deadline, until strip_cmd_done). 0 with io held. */
static int strip_cmd_begin(struct kasa_strip *s)
{
	int64_t start = now_ms(), deadline = start + 2 * (int64_t)s->kp->timeout_ms;
	struct timespec until = deadline_ts(start + s->kp->timeout_ms);
	bool probe;

	if (!strip_usable(s, &probe))
		return strip_refused(s) ? -EACCES : -EHOSTUNREACH;
	if (pthread_mutex_clocklock(&s->io, CLOCK_MONOTONIC, &until) != 0)
		return -ETIMEDOUT;
	kasa_op_deadline(deadline);
	if (!strip_usable(s, &probe) || (probe && kasa_strip_poll_io(s) < 0)) {
		strip_cmd_done(s);
		return strip_refused(s) ? -EACCES : -EHOSTUNREACH;
	}
	return 0;
}

/* The child id of outlet i from the cache (under s->lock). */
static int strip_child_id(struct kasa_strip *s, size_t i, char **ret)
{
	int r;

	pthread_mutex_lock(&s->lock);
	r = s->have_si && i < s->n_outlets ? si_child_id(&s->si, i, ret) : -ENOENT;
	pthread_mutex_unlock(&s->lock);
	return r;
}

/* ---- polling and the poller thread ------------------------------------------- */

/* Poll now, or if a poll is already in flight, wait for it (shared). */
static void strip_poll_shared(struct kasa_strip *s)
{
	int64_t start, period, next;

	pthread_mutex_lock(&s->lock);
	if (s->polling) {
		uint64_t seq = s->poll_seq;

		while (s->poll_seq == seq)
			pthread_cond_wait(&s->done, &s->lock);
		pthread_mutex_unlock(&s->lock);
		return;
	}
	s->polling = true;
	s->poll_requested = false;
	s->readback_ms = 0;
	s->readback_mask = 0;
	pthread_mutex_unlock(&s->lock);

	start = now_ms();
	pthread_mutex_lock(&s->io);
	kasa_strip_poll_io(s);
	pthread_mutex_unlock(&s->io);

	/* A steady cadence from the poll's start; a poll that overran its
	 * period (a silent device) is followed by a full period of rest. */
	period = (int64_t)s->kp->poll_s * 1000;
	next = start + period;
	if (next <= now_ms())
		next = now_ms() + period;
	pthread_mutex_lock(&s->lock);
	s->polling = false;
	s->poll_seq++;
	s->next_poll_ms = next;
	pthread_cond_broadcast(&s->done);
	pthread_mutex_unlock(&s->lock);
}

/* Earliest due PowerCycle On (under s->lock), 0 none. */
static int64_t strip_next_pending(const struct kasa_strip *s)
{
	int64_t best = 0;

	for (size_t i = 0; i < s->n_outlets; i++) {
		int64_t p = s->outlets[i].pending_on_ms;

		if (p && (!best || p < best))
			best = p;
	}
	return best;
}

static bool check_outlet_on(const struct kasa_sysinfo *si, const void *arg)
{
	size_t i = *(const size_t *)arg;

	return i < kasa_si_outlets(si) && kasa_si_outlet_on(si, i);
}

/* Run the due PowerCycle "On"s (poller thread). */
static void strip_run_pending(struct kasa_strip *s)
{
	pthread_mutex_lock(&s->io);
	for (;;) {
		_cleanup_free_ char *child = NULL;
		int64_t now = now_ms();
		size_t i, idx = SIZE_MAX;
		uint64_t g;
		int r;

		pthread_mutex_lock(&s->lock);
		for (i = 0; s->online && i < s->n_outlets; i++)
			if (s->outlets[i].pending_on_ms && s->outlets[i].pending_on_ms <= now) {
				idx = i;
				break;
			}
		r = idx != SIZE_MAX ? si_child_id(&s->si, idx, &child) : -ENOENT;
		pthread_mutex_unlock(&s->lock);
		if (idx == SIZE_MAX || kasa_stopping(s->kp))
			break;
		g = rf_tree_generation(s->kp->t);
		if (r < 0)
			goto drop;
		r = kasa_set_relay(s->dev, child, true);
		strip_note(s, "set_relay_state", r);
		if (kasa_err_unreachable(r)) {
			/* stays pending: runs when the device answers again */
			strip_mark_offline(s, g, r);
			break;
		}
drop:
		pthread_mutex_lock(&s->lock);
		s->outlets[idx].pending_on_ms = 0;
		pthread_mutex_unlock(&s->lock);
		if (r < 0) {
			kasa_strip_install(s, g);   /* PowerStateInTransition is over */
			continue;
		}
		strip_readback(s, check_outlet_on, &idx, outlet_bit(idx));
	}
	pthread_mutex_unlock(&s->io);
}

static void *strip_thread(void *arg)
{
	struct kasa_strip *s = arg;
	struct kasa_provider *kp = s->kp;

	pthread_mutex_lock(&s->lock);
	while (!kasa_stopping(kp) && !s->removed) {
		int64_t now = now_ms();
		int64_t due = s->next_poll_ms;
		int64_t pend = s->online ? strip_next_pending(s) : 0;
		struct timespec ts;

		if (s->readback_ms && now >= s->readback_ms && !s->poll_requested && now < due) {
			/* The read-back after commands: the state and the
			 * switched outlets' meters, not a whole poll. */
			uint64_t mask = s->readback_mask;

			s->readback_ms = 0;
			s->readback_mask = 0;
			pthread_mutex_unlock(&s->lock);
			pthread_mutex_lock(&s->io);
			strip_readback(s, NULL, NULL, mask);
			pthread_mutex_unlock(&s->io);
			pthread_mutex_lock(&s->lock);
			continue;
		}
		if (s->readback_ms && s->readback_ms < due)
			due = s->readback_ms;
		if (s->poll_requested || now >= due) {
			pthread_mutex_unlock(&s->lock);
			strip_poll_shared(s);
			pthread_mutex_lock(&s->lock);
			continue;
		}
		if (pend && now >= pend) {
			pthread_mutex_unlock(&s->lock);
			strip_run_pending(s);
			pthread_mutex_lock(&s->lock);
			continue;
		}
		ts = deadline_ts(pend && pend < due ? pend : due);
		pthread_cond_timedwait(&s->wake, &s->lock, &ts);
	}
	pthread_mutex_unlock(&s->lock);
	return NULL;
}

int kasa_strip_start_thread(struct kasa_strip *s)
{
	int r = pthread_create(&s->thread, NULL, strip_thread, s);

	if (r)
		return -r;
	s->thread_running = true;
	return 0;
}

/* ---- readers ------------------------------------------------------------------ */

int kasa_strip_refresh(struct kasa_strip *s, int64_t max_age_ms)
{
	struct kasa_provider *kp = s->kp;
	bool threaded;
	uint64_t seq;
	int64_t deadline;

	pthread_mutex_lock(&kp->lock);
	threaded = s->thread_running;
	pthread_mutex_unlock(&kp->lock);

	pthread_mutex_lock(&s->lock);
	if (!s->online || (s->last_ok_ms && now_ms() - s->last_ok_ms <= max_age_ms) ||
	    kasa_stopping(kp)) {
		pthread_mutex_unlock(&s->lock);
		return 0;
	}
	if (!threaded) {
		pthread_mutex_unlock(&s->lock);
		strip_poll_shared(s);
		return 0;
	}
	/* Ask the poller and wait for it at most one timeout: a read never
	 * waits longer, and then shows the tree as it is. */
	seq = s->poll_seq;
	s->poll_requested = true;
	pthread_cond_signal(&s->wake);
	deadline = now_ms() + kp->timeout_ms;
	while (s->poll_seq == seq && !kasa_stopping(kp)) {
		struct timespec ts = deadline_ts(deadline);

		if (pthread_cond_timedwait(&s->done, &s->lock, &ts) == ETIMEDOUT)
			break;
	}
	pthread_mutex_unlock(&s->lock);
	return 0;
}

/* ---- commands ----------------------------------------------------------------- */

struct check_alias {
	size_t outlet;          /* SIZE_MAX: the device alias */
	const char *alias;
};

static bool check_alias(const struct kasa_sysinfo *si, const void *arg)
{
	const struct check_alias *c = arg;
	const char *a;

	if (c->outlet == SIZE_MAX)
		a = si->alias;
	else if (c->outlet < kasa_si_outlets(si))
		a = kasa_si_outlet_alias(si, c->outlet);
	else
		return false;
	return a && !strcmp(a, c->alias);
}

static bool check_led(const struct kasa_sysinfo *si, const void *arg)
{
	return si->led_off == *(const bool *)arg;
}

/* A boolean given as JSON true/false or as the string "true"/"false". */

int kasa_strip_set_alias(struct kasa_strip *s, size_t outlet, const char *label)
{
	_cleanup_free_ char *child = NULL;
	struct check_alias c = { outlet, label };
	uint64_t g;
	int r;

	if (strlen(label) > KASA_LABEL_MAX)
		return -EINVAL;
	r = strip_cmd_begin(s);
	if (r < 0)
		return r;
	if (outlet != SIZE_MAX && (r = strip_child_id(s, outlet, &child)) < 0) {
		strip_cmd_done(s);
		return r;
	}
	g = rf_tree_generation(s->kp->t);
	r = kasa_set_alias(s->dev, child, label);
	return strip_cmd_end(s, g, r, "set_dev_alias", check_alias, &c);
}

int kasa_strip_set_led(struct kasa_strip *s, bool on)
{
	bool off = !on;
	uint64_t g;
	int r;

	r = strip_cmd_begin(s);
	if (r < 0)
		return r;
	g = rf_tree_generation(s->kp->t);
	r = kasa_set_led(s->dev, off);
	return strip_cmd_end(s, g, r, "set_led_off", check_led, &off);
}

/* The device acknowledged switching outlet idx: the cache shows it, and an
 * outlet switched off draws no power or current. s->lock held. */
static void strip_assume_relay(struct kasa_strip *s, size_t idx, bool on)
{
	if (!s->have_si || idx >= s->n_outlets)
		return;
	if (s->si.n_children > 0)
		s->si.children[idx].on = on;
	else
		s->si.on = on;
	if (!on && s->outlets[idx].have_em) {
		s->outlets[idx].em.power_w = 0;
		s->outlets[idx].em.current_a = 0;
	}
}

int kasa_strip_power(struct kasa_strip *s, size_t idx, const char *state)
{
	_cleanup_free_ char *child = NULL;
	bool cycle = !strcmp(state, "PowerCycle");
	bool on = !strcmp(state, "On");
	bool threaded;
	uint64_t g;
	int r;

	if (!cycle && !on && strcmp(state, "Off"))
		return -EINVAL;
	pthread_mutex_lock(&s->kp->lock);
	threaded = s->thread_running;
	pthread_mutex_unlock(&s->kp->lock);
	if (cycle && !threaded)
		return -EAGAIN;   /* the On is run by the poller: start it first */
	r = strip_cmd_begin(s);
	if (r < 0)
		return r;
	pthread_mutex_lock(&s->lock);
	r = s->have_si && idx < s->n_outlets ? si_child_id(&s->si, idx, &child) : -ENOENT;
	if (r == 0)
		s->outlets[idx].pending_on_ms = 0;   /* a later command cancels the On */
	pthread_mutex_unlock(&s->lock);
	if (r < 0)
		goto out;
	g = rf_tree_generation(s->kp->t);
	r = kasa_set_relay(s->dev, child, on);
	strip_note(s, "set_relay_state", r);
	if (r < 0) {
		strip_cmd_failed(s, g, r);
		/* the cancelled On no longer shows as a transition */
		if (!kasa_err_unreachable(r))
			kasa_strip_install(s, g);
		goto out;
	}
	if (cycle) {
		/* Pending before the read-back, so the installed body shows the
		 * transition; withdrawn if Off is not confirmed. */
		pthread_mutex_lock(&s->lock);
		s->outlets[idx].pending_on_ms = now_ms() + KASA_CYCLE_DELAY_S * 1000;
		pthread_mutex_unlock(&s->lock);
	}
	if (threaded) {
		/* The device acknowledged the command (err_code 0): the
		 * confirmation this write returns on. The tree shows the
		 * commanded state at once (an outlet switched off draws
		 * nothing), and the poller reads state and meters back within
		 * KASA_READBACK_SETTLE_MS, correcting anything the device did
		 * otherwise. So a command costs one round trip, and a burst
		 * of commands shares one read-back. */
		pthread_mutex_lock(&s->lock);
		strip_assume_relay(s, idx, on);
		if (!s->readback_ms)
			s->readback_ms = now_ms() + KASA_READBACK_SETTLE_MS;
		s->readback_mask |= outlet_bit(idx);
		pthread_cond_signal(&s->wake);
		pthread_mutex_unlock(&s->lock);
		r = kasa_strip_install_outlet(s, g, idx);
		goto out;
	}
	/* No poller yet (before kasa_provider_start): read back here. */
	if (on)
		r = strip_readback(s, check_outlet_on, &idx, outlet_bit(idx));
	else
		r = strip_readback(s, NULL, NULL, outlet_bit(idx));
	pthread_mutex_lock(&s->lock);
	if (!on && r == 0 && idx < s->n_outlets && kasa_si_outlet_on(&s->si, idx))
		r = -EIO;
	if (cycle) {
		if (r < 0 && idx < s->n_outlets)
			s->outlets[idx].pending_on_ms = 0;
		pthread_cond_signal(&s->wake);
	}
	pthread_mutex_unlock(&s->lock);
	if (cycle && r < 0)
		kasa_strip_install(s, rf_tree_generation(s->kp->t));
out:
	strip_cmd_done(s);
	return r;
}

/* Erase the meter of outlet idx (SIZE_MAX: every outlet), then read the
 * state and the meters back. */
int kasa_strip_reset_metrics(struct kasa_strip *s, size_t idx)
{
	size_t from = idx == SIZE_MAX ? 0 : idx, to, n;
	uint64_t g;
	int r;

	r = strip_cmd_begin(s);
	if (r < 0)
		return r;
	pthread_mutex_lock(&s->lock);
	n = s->n_outlets;
	r = kasa_strip_metered(s) && (idx == SIZE_MAX || idx < n) ? 0 : -ENOENT;
	pthread_mutex_unlock(&s->lock);
	if (r < 0)
		goto out;
	to = idx == SIZE_MAX ? n : idx + 1;
	g = rf_tree_generation(s->kp->t);
	for (size_t i = from; i < to; i++) {
		_cleanup_free_ char *child = NULL;

		r = strip_child_id(s, i, &child);
		if (r < 0)
			goto out;
		r = kasa_erase_emeter(s->dev, child);
		strip_note(s, "erase_emeter_stat", r);
		if (r < 0) {
			strip_cmd_failed(s, g, r);
			goto out;
		}
	}
	/* The meters are part of the state the caller must see: a full poll. */
	r = kasa_strip_poll_io(s);
	if (r == 0) {
		pthread_mutex_lock(&s->lock);
		for (size_t i = from; i < to && i < s->n_outlets; i++)
			if (s->outlets[i].have_em && s->outlets[i].em.total_kwh > 0.0005)
				r = -EIO;   /* not erased */
		pthread_mutex_unlock(&s->lock);
	}
out:
	strip_cmd_done(s);
	return r;
}

int kasa_strip_reboot(struct kasa_strip *s)
{
	uint64_t g;
	int r;

	r = strip_cmd_begin(s);
	if (r < 0)
		return r;
	g = rf_tree_generation(s->kp->t);
	r = kasa_reboot(s->dev, KASA_REBOOT_DELAY_S);
	return strip_cmd_end(s, g, r, "reboot", NULL, NULL);   /* it answers until the delay ends */
}

/* Ask s's poller for a poll now (the device answered discovery: an
 * offline strip comes back without waiting for its next poll). */
void kasa_strip_request_poll(struct kasa_strip *s)
{
	pthread_mutex_lock(&s->lock);
	s->poll_requested = true;
	pthread_cond_signal(&s->wake);
	pthread_mutex_unlock(&s->lock);
}

