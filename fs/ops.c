/* ops.c — the FUSE file system over the Redfish tree (libfuse 3.14,
 * low-level API).
 *
 * One table of short operations, each mapping onto redfish.h. The tree does
 * the mapping (JSON -> directories, files, links), the freshness
 * (rf_tree_stat refreshes stale resources) and the writes (rf_tree_write
 * validates and calls the back end); this file keeps the kernel's inode
 * numbers, turns rf_stat into struct stat and chooses what the kernel may
 * cache.
 *
 * Nodes. The tree is addressed by path; the kernel by node id. Each path
 * the kernel was told of (LOOKUP, READDIRPLUS) has a node: its path, a
 * node id from a counter (never reused, so a late notice for a forgotten
 * node cannot reach another file) and the kernel's lookup count; FORGET
 * drops it at zero. One mutex guards the two maps.
 *
 * Caching. open() answers ENOSYS once; the kernel then never sends OPEN or
 * RELEASE again and keeps each file's page cache, so an unchanged property
 * file is read without reaching this daemon (DESIGN: ~1.9 µs against ~17 µs
 * with libfuse's defaults). opendir() likewise, when the kernel allows it
 * (FUSE_CAP_NO_OPENDIR_SUPPORT); else it asks the kernel to keep listings
 * (cache_readdir), dropped by the same notices as file pages. Entries and
 * attributes are cached for max-age, so what the kernel serves is never
 * older than the tree's own bound. READDIRPLUS hands the kernel every
 * entry with its attributes, so a walk needs no LOOKUP per name.
 *
 * Prefill. After a READDIRPLUS, the contents of the files listed are
 * stored into the kernel's page cache (notify_store) by the notice thread,
 * each only if the file still has the size and mtime the listing gave: a
 * walk (tar, grep -r, rsync) then reads them without a READ, and without
 * the GETATTR that a READ's atime update costs the next stat. A file read
 * before its prefill arrives is simply READ.
 *
 * Notices. The tree tells us every changed path (rf_tree_add_listener);
 * the listener only queues the path, and one thread invalidates the node
 * of each (notify_inval_inode: attributes, pages, a cached listing),
 * outside any request handler: a notify from inside a handler, or from the
 * installing thread, can wait on a page lock held by the very request that
 * is waiting for us. FUSE_CAP_AUTO_INVAL_DATA makes every read check the
 * attributes, so a changed size or mtime also drops stale pages. That is
 * also the bound for the one race left: a READ answered just before an
 * install whose notice overtakes the reply leaves the old page cached until
 * the attributes expire (max-age), then the new mtime drops it.
 *
 * Waiting for a change (poll.c). poll(2)/select(2) on a value file blocks
 * until the value changes, as on sysfs. This does not fight the page
 * cache: the kernel sends FUSE_POLL whether or not OPEN was sent (it makes
 * a file object of its own either way), so OPEN stays ENOSYS and cached
 * reads keep their speed. What is lost without OPEN is a file handle to
 * tell pollers apart; the caller's thread id stands in for it (the kernel
 * asks again after each wakeup from the same thread), see poll.c. The
 * notice thread wakes an inode's waiters right after invalidating it, so
 * the read that follows the wakeup gets the new value.
 *
 * Writes (sysfs style). `echo Off > f` is open(O_TRUNC) then one WRITE at
 * offset 0 (no OPEN happened), which calls rf_tree_write and returns its
 * error from write(2). With atomic_o_trunc the kernel truncates its own
 * cache and sends nothing for O_TRUNC, since OPEN is skipped; without it,
 * O_TRUNC arrives as SETATTR size 0 (+ mtime now), so SETATTR accepts
 * exactly that as a no-op on writable files (and `touch` of one). After the
 * write the kernel drops the file's attributes, and the tree has told the
 * listener, so the next read shows the value the device confirmed, at its
 * exact size.
 *
 * Threads: the operations run on libfuse's loop threads and share the tree
 * (thread-safe), the node maps (nodes_lock) and fs (read-only after
 * fs_new). The notice queue has its own mutex; the listener takes it
 * briefly. */
#include "internal.h"

#include <errno.h>
#include <fuse_lowlevel.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common.h"
#include "redfish.h"

/* Negative lookups are cached briefly: a resource that appears (a strip
 * found by discovery) becomes visible soon although its name was asked for
 * before; the parent's listing is invalidated by the listener. */
#define FS_NEGATIVE_TIMEOUT_S 0.5
#define FS_PREFILL_MAX (256 * 1024)   /* larger files are READ when read */
#define FS_PREFILL_WAIT_MS 100         /* the most a listing waits for its prefill */

/* A file listed by READDIRPLUS, to store into the page cache. */
struct prefill {
	fuse_ino_t ino;
	char *path;
	size_t size;
	struct timespec mtime;
};

struct node {
	char *path;              /* "/" or "/Chassis/X/index.json" */
	fuse_ino_t ino;
	uint64_t nlookup;        /* the kernel's references */
	struct prefill *parked;  /* a directory: the files its last READDIRPLUS */
	size_t n_parked;         /* gave the kernel, until it asks for more */
};

struct fs {
	struct rf_tree *tree;
	uid_t uid;
	gid_t gid;
	double cache_s;          /* entry and attribute timeout */
	bool no_open;            /* kernel can skip OPEN (FUSE_CAP_NO_OPEN_SUPPORT) */
	bool no_opendir;         /* and OPENDIR (FUSE_CAP_NO_OPENDIR_SUPPORT) */

	pthread_mutex_t nodes_lock;
	struct strmap *by_path;  /* path -> struct node */
	struct strmap *by_ino;   /* "%" PRIx64 of ino -> the same node */
	fuse_ino_t next_ino;
	struct node root;
	struct fs_polls *polls;  /* poll(2) waiters (poll.c) */

	/* the notice queue */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct strmap *pending;  /* set of changed paths (values unused) */
	struct prefill *fill;    /* files to store, in listing order */
	size_t n_fill, cap_fill;
	uint64_t fill_queued;    /* tickets: listings queued for prefill, */
	uint64_t fill_done;      /* and prefilled */
	pthread_cond_t fill_cv;
	bool lost;               /* a path could not be queued (no memory) */
	bool stopping;
	bool running;
	pthread_t thread;
	struct fuse_session *se;
};

/* ---- nodes ------------------------------------------------------------------------ */

static void prefill_clear(struct prefill *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i].path);
}

static void ino_key(fuse_ino_t ino, char key[20])
{
	snprintf(key, 20, "%" PRIx64, (uint64_t)ino);
}

/* The path of ino (malloc'd), or NULL (unknown: -ENOENT, or no memory). */
static char *node_path(struct fs *fs, fuse_ino_t ino)
{
	struct node *n;
	char key[20], *p = NULL;

	if (ino == FUSE_ROOT_ID)
		return strdup("/");
	ino_key(ino, key);
	pthread_mutex_lock(&fs->nodes_lock);
	n = strmap_get(fs->by_ino, key);
	if (n)
		p = strdup(n->path);
	pthread_mutex_unlock(&fs->nodes_lock);
	return p;
}

/* The node of path with one more kernel reference (created if new). */
static struct node *node_ref(struct fs *fs, const char *path)
{
	struct node *n;
	char key[20];

	if (strcmp(path, "/") == 0)
		return &fs->root;
	pthread_mutex_lock(&fs->nodes_lock);
	n = strmap_get(fs->by_path, path);
	if (!n && (n = calloc(1, sizeof(*n)))) {
		n->ino = ++fs->next_ino;
		ino_key(n->ino, key);
		if (!(n->path = strdup(path)) || strmap_put(fs->by_path, path, n) < 0) {
			free(n->path);
			free(n);
			n = NULL;
		} else if (strmap_put(fs->by_ino, key, n) < 0) {
			strmap_remove(fs->by_path, path);
			free(n->path);
			free(n);
			n = NULL;
		}
	}
	if (n)
		n->nlookup++;
	pthread_mutex_unlock(&fs->nodes_lock);
	return n;
}

static void node_unref(struct fs *fs, fuse_ino_t ino, uint64_t count)
{
	struct node *n;
	char key[20];

	if (ino == FUSE_ROOT_ID)
		return;
	ino_key(ino, key);
	pthread_mutex_lock(&fs->nodes_lock);
	n = strmap_get(fs->by_ino, key);
	if (n) {
		n->nlookup = count < n->nlookup ? n->nlookup - count : 0;
		if (n->nlookup == 0) {
			fs_polls_forget(fs->polls, n->ino);
			strmap_remove(fs->by_ino, key);
			strmap_remove(fs->by_path, n->path);
			prefill_clear(n->parked, n->n_parked);
			free(n->parked);
			free(n->path);
			free(n);
		}
	}
	pthread_mutex_unlock(&fs->nodes_lock);
}

/* The node id of path if the kernel has it, else 0. */
static fuse_ino_t node_ino(struct fs *fs, const char *path)
{
	struct node *n;
	fuse_ino_t ino = 0;

	if (strcmp(path, "/") == 0)
		return FUSE_ROOT_ID;
	pthread_mutex_lock(&fs->nodes_lock);
	if ((n = strmap_get(fs->by_path, path)))
		ino = n->ino;
	pthread_mutex_unlock(&fs->nodes_lock);
	return ino;
}

/* parent's path + "/" + name (malloc'd). */
static char *child_path(const char *parent, const char *name)
{
	char *p = NULL;

	if (asprintf(&p, "%s%s%s", parent, strcmp(parent, "/") == 0 ? "" : "/", name) < 0)
		return NULL;
	return p;
}

/* ---- attributes ------------------------------------------------------------------- */

static void fs_fill_stat(const struct fs *fs, const struct rf_stat *rs, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = rs->ino;
	switch (rs->kind) {
	case RF_KIND_DIR:
		st->st_mode = S_IFDIR | 0555;
		break;
	case RF_KIND_LINK:
		st->st_mode = S_IFLNK | 0777;
		break;
	case RF_KIND_FILE:
		st->st_mode = S_IFREG | (rs->writable ? 0644 : 0444);
		break;
	}
	/* Directories say 1 like btrfs: "subdirectories not counted", which
	 * find/fts take as "no leaf optimisation". */
	st->st_nlink = 1;
	st->st_uid = fs->uid;
	st->st_gid = fs->gid;
	st->st_size = (off_t)rs->size;
	st->st_blksize = 4096;
	st->st_blocks = (blkcnt_t)((rs->size + 511) / 512);
	st->st_mtim = rs->mtime;
	st->st_ctim = rs->mtime;
	st->st_atim = rs->mtime;
}

static void fill_entry(struct fs *fs, const struct node *n, const struct rf_stat *rs,
		       struct fuse_entry_param *e)
{
	memset(e, 0, sizeof(*e));
	e->ino = n->ino;
	e->generation = 1;
	fs_fill_stat(fs, rs, &e->attr);
	e->attr_timeout = fs->cache_s;
	e->entry_timeout = fs->cache_s;
}

/* The path of ino, or an error already replied (the caller returns). */
static char *req_path(fuse_req_t req, fuse_ino_t ino)
{
	char *p = node_path(fuse_req_userdata(req), ino);

	if (!p)
		fuse_reply_err(req, ENOENT);
	return p;
}

/* ---- operations ------------------------------------------------------------------- */

static void fs_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fs *fs = fuse_req_userdata(req);
	_cleanup_free_ char *pp = req_path(req, parent), *path = NULL;
	struct fuse_entry_param e;
	struct rf_stat rs;
	struct node *n;
	int r;

	stats_fuse(STATS_FUSE_LOOKUP);
	if (!pp)
		return;
	if (!(path = child_path(pp, name))) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	r = rf_tree_stat(fs->tree, path, &rs);
	if (r == -ENOENT) {
		/* A negative entry the kernel keeps briefly. */
		memset(&e, 0, sizeof(e));
		e.entry_timeout = fs->cache_s < FS_NEGATIVE_TIMEOUT_S ? fs->cache_s
								      : FS_NEGATIVE_TIMEOUT_S;
		fuse_reply_entry(req, &e);
		return;
	}
	if (r < 0) {
		fuse_reply_err(req, -r);
		return;
	}
	if (!(n = node_ref(fs, path))) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	fill_entry(fs, n, &rs, &e);
	if (fuse_reply_entry(req, &e) != 0)
		node_unref(fs, e.ino, 1);    /* the kernel did not take it */
}

static void fs_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	node_unref(fuse_req_userdata(req), ino, nlookup);
	fuse_reply_none(req);
}

static void fs_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *forgets)
{
	for (size_t i = 0; i < count; i++)
		node_unref(fuse_req_userdata(req), forgets[i].ino, forgets[i].nlookup);
	fuse_reply_none(req);
}

static void reply_stat(fuse_req_t req, const char *path)
{
	struct fs *fs = fuse_req_userdata(req);
	struct rf_stat rs;
	struct stat st;
	int r = rf_tree_stat(fs->tree, path, &rs);

	if (r < 0) {
		fuse_reply_err(req, -r);
		return;
	}
	fs_fill_stat(fs, &rs, &st);
	fuse_reply_attr(req, &st, fs->cache_s);
}

static void fs_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	_cleanup_free_ char *path = req_path(req, ino);

	stats_fuse(STATS_FUSE_GETATTR);
	if (path)
		reply_stat(req, path);
}

/* Attribute changes on writable files are what open(O_TRUNC) sends before
 * the write (size 0, mtime now): accepted and ignored, as is `touch`. Modes
 * and owners cannot be changed (EPERM, as for a file one does not own). */
static int check_writable(struct fs *fs, const char *path)
{
	struct rf_stat rs;
	int r = rf_tree_stat(fs->tree, path, &rs);

	if (r < 0)
		return r;
	if (rs.kind == RF_KIND_DIR)
		return -EISDIR;
	if (rs.kind != RF_KIND_FILE || !rs.writable)
		return -EACCES;
	return 0;
}

static void fs_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
		       struct fuse_file_info *fi)
{
	struct fs *fs = fuse_req_userdata(req);
	_cleanup_free_ char *path = req_path(req, ino);
	int r = 0;

	stats_fuse(STATS_FUSE_SETATTR);
	if (!path)
		return;
	if (to_set & (FUSE_SET_ATTR_MODE | FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID)) {
		r = -EPERM;
	} else if (to_set & FUSE_SET_ATTR_SIZE) {
		r = check_writable(fs, path);
		if (r == 0 && attr->st_size != 0)
			r = -EINVAL;   /* only the truncation open(O_TRUNC) makes */
	} else if (to_set & (FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_MTIME | FUSE_SET_ATTR_ATIME_NOW |
			     FUSE_SET_ATTR_MTIME_NOW)) {
		r = check_writable(fs, path);   /* mtime stays "when the value changed" */
	}
	if (r < 0)
		fuse_reply_err(req, -r);
	else
		reply_stat(req, path);
}

static void fs_readlink(fuse_req_t req, fuse_ino_t ino)
{
	struct fs *fs = fuse_req_userdata(req);
	_cleanup_free_ char *path = req_path(req, ino);
	char buf[4096];
	int r;

	stats_fuse(STATS_FUSE_READLINK);
	if (!path)
		return;
	r = rf_tree_readlink(fs->tree, path, buf, sizeof(buf));
	if (r < 0)
		fuse_reply_err(req, -r);
	else
		fuse_reply_readlink(req, buf);
}

static void fs_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fs *fs = fuse_req_userdata(req);

	stats_fuse(STATS_FUSE_OPEN);
	if (fs->no_open) {
		fuse_reply_err(req, ENOSYS);   /* once: the kernel stops sending OPEN/RELEASE */
		return;
	}
	fi->keep_cache = 1;   /* old kernels: keep pages, invalidated on change */
	fuse_reply_open(req, fi);
}

static void fs_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	struct fs *fs = fuse_req_userdata(req);
	_cleanup_free_ char *path = req_path(req, ino), *buf = NULL;
	ssize_t n;

	stats_fuse(STATS_FUSE_READ);
	if (!path)
		return;
	if (!(buf = malloc(size ? size : 1))) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	n = rf_tree_read(fs->tree, path, buf, size, off);
	if (n < 0)
		fuse_reply_err(req, (int)-n);
	else
		fuse_reply_buf(req, buf, (size_t)n);
}

/* The length of s up to its n-th c (or all of it). */
static size_t strcspn_n(const char *s, char c, int n)
{
	const char *p = s;

	while (*p && (*p != c || --n > 0))
		p++;
	return (size_t)(p - s);
}

/* Every write through the mount, once: who (the writer's uid), what (the
 * path and the value, printable and short; a password never) and the
 * result. */
static void log_write(fuse_req_t req, const char *path, const char *buf, size_t size, int r)
{
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	char value[68];
	size_t n = 0;

	if (strcasestr(path, "password")) {
		snprintf(value, sizeof(value), "(not shown)");
	} else {
		for (size_t i = 0; i < size && n < sizeof(value) - 4; i++)
			if (buf[i] != '\n')
				value[n++] = buf[i] >= 0x20 && buf[i] < 0x7f ? buf[i] : '?';
		if (n == sizeof(value) - 4 && size > n)
			value[n++] = '.', value[n++] = '.', value[n++] = '.';
		value[n] = '\0';
	}
	/* The journal and the LogService (httpd/logs.c) get the same line. */
	log_event(r < 0 ? LOG_LEVEL_WARN : LOG_LEVEL_INFO, NULL, "mount uid %u: write %s = '%s': %s",
		  ctx ? (unsigned)ctx->uid : 0, path, value, r < 0 ? strerror(-r) : "ok");
}

static void fs_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off,
		     struct fuse_file_info *fi)
{
	struct fs *fs = fuse_req_userdata(req);
	_cleanup_free_ char *path = req_path(req, ino);
	char key[160];
	int r;

	stats_fuse(STATS_FUSE_WRITE);
	if (!path)
		return;
	if (off != 0) {
		fuse_reply_err(req, EINVAL);   /* one write(2) carries one whole value */
		return;
	}
	r = rf_tree_write(fs->tree, path, buf, size);
	log_write(req, path, buf, size, r);
	/* The writer sees the errno; a back end's failure also goes to the log,
	 * once per change of its state (the device: the path's first three
	 * segments), not once per write. */
	snprintf(key, sizeof(key), "write %.*s", (int)strcspn_n(path, '/', 3), path);
	if (r < 0) {
		/* Timing out and then being offline is one state: unreachable. */
		if (r == -EINVAL || r == -EACCES || r == -ENOENT ||
		    !log_state_changed(key, r == -ETIMEDOUT ? -EHOSTUNREACH : r))
			log_debug("write %s: %s", path, strerror(-r));
		else
			log_warn("write %s: %s (further failures like it at debug level)", path,
				 strerror(-r));
		fuse_reply_err(req, -r);
		return;
	}
	if (log_state_changed(key, 0))
		log_info("write %s: works again", path);
	fuse_reply_write(req, size);
}

/* poll(2): ready once the value changed since this thread began waiting. */
static void fs_poll(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi,
		    struct fuse_pollhandle *ph)
{
	struct fs *fs = fuse_req_userdata(req);

	stats_fuse(STATS_FUSE_POLL);
	fuse_reply_poll(req, fs_polls_poll(fs->polls, ino, fuse_req_ctx(req)->pid, ph));
}

static void fs_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fs *fs = fuse_req_userdata(req);

	if (fs->no_opendir) {
		fuse_reply_err(req, ENOSYS);   /* once: no OPENDIR/RELEASEDIR any more */
		return;
	}
	fi->cache_readdir = 1;   /* listings kept, dropped by the notices */
	fi->keep_cache = 1;
	fuse_reply_open(req, fi);
}

static void fs_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	fuse_reply_err(req, 0);
}

static void park_prefill(struct fs *fs, fuse_ino_t dir, struct prefill *v, size_t n);
static void run_prefill(struct fs *fs, fuse_ino_t dir);

/* Entry k of a listing (0 ".", 1 "..", then the names in order) carries
 * offset k + 1, the offset of the entry after it; a call resumes at off.
 * With plus, each entry is a LOOKUP too: its node gains a reference, and
 * the files among them are queued for prefill once the reply is out. */
static void readdir_common(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, bool plus)
{
	struct fs *fs = fuse_req_userdata(req);
	_cleanup_free_ char *path = req_path(req, ino), *buf = NULL;
	struct prefill *fill = NULL;
	size_t len = 0, n = 0, n_fill = 0;
	struct rf_dirent *d = NULL;
	int r;

	if (!path)
		return;
	if (off > 0)
		run_prefill(fs, ino);
	r = rf_tree_list(fs->tree, path, &d, &n);
	if (r < 0) {
		fuse_reply_err(req, -r);
		return;
	}
	if (!(buf = malloc(size ? size : 1)) ||
	    (plus && n && !(fill = calloc(n, sizeof(*fill))))) {
		rf_dirents_free(d, n);
		fuse_reply_err(req, ENOMEM);
		return;
	}
	for (size_t k = off < 0 ? 0 : (size_t)off; k < n + 2; k++) {
		const char *name = k == 0 ? "." : k == 1 ? ".." : d[k - 2].name;
		struct stat st = { 0 };
		size_t need;

		if (k < 2) {
			st.st_mode = S_IFDIR;
			if (plus) {
				struct fuse_entry_param e = { .attr = st };   /* ino 0: not an entry */

				need = fuse_add_direntry_plus(req, buf + len, size - len, name, &e, (off_t)k + 1);
			} else {
				need = fuse_add_direntry(req, buf + len, size - len, name, &st, (off_t)k + 1);
			}
		} else if (plus) {
			_cleanup_free_ char *cp = child_path(path, name);
			struct node *nd = cp ? node_ref(fs, cp) : NULL;
			struct fuse_entry_param e;

			if (!nd)
				break;
			fill_entry(fs, nd, &d[k - 2].st, &e);
			need = fuse_add_direntry_plus(req, buf + len, size - len, name, &e, (off_t)k + 1);
			if (need > size - len) {
				node_unref(fs, nd->ino, 1);   /* not sent */
				break;
			}
			if (d[k - 2].st.kind == RF_KIND_FILE && d[k - 2].st.size <= FS_PREFILL_MAX) {
				fill[n_fill] = (struct prefill){ .ino = nd->ino, .path = cp,
								 .size = d[k - 2].st.size,
								 .mtime = d[k - 2].st.mtime };
				cp = NULL;
				n_fill++;
			}
		} else {
			fs_fill_stat(fs, &d[k - 2].st, &st);
			need = fuse_add_direntry(req, buf + len, size - len, name, &st, (off_t)k + 1);
		}
		if (need > size - len)
			break;
		len += need;
	}
	rf_dirents_free(d, n);
	fuse_reply_buf(req, buf, len);
	if (plus)
		park_prefill(fs, ino, fill, n_fill);   /* takes fill */
}

static void fs_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi)
{
	stats_fuse(STATS_FUSE_READDIR);
	readdir_common(req, ino, size, off, false);
}

static void fs_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
			   struct fuse_file_info *fi)
{
	stats_fuse(STATS_FUSE_READDIRPLUS);
	readdir_common(req, ino, size, off, true);
}

static void fs_access(fuse_req_t req, fuse_ino_t ino, int mask)
{
	struct fs *fs = fuse_req_userdata(req);
	_cleanup_free_ char *path = req_path(req, ino);
	struct rf_stat rs;
	int r;

	stats_fuse(STATS_FUSE_ACCESS);
	if (!path)
		return;
	r = rf_tree_stat(fs->tree, path, &rs);
	if (r == 0 && (mask & W_OK) && !(rs.kind == RF_KIND_FILE && rs.writable))
		r = -EACCES;
	if (r == 0 && (mask & X_OK) && rs.kind == RF_KIND_FILE)
		r = -EACCES;
	fuse_reply_err(req, -r);
}

/* The tree's shape is the services': names cannot be made or removed, so
 * directories behave as 0555 (EACCES). */
static void fs_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, dev_t rdev)
{
	fuse_reply_err(req, EACCES);
}

static void fs_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
	fuse_reply_err(req, EACCES);
}

static void fs_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	fuse_reply_err(req, EACCES);
}

static void fs_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	fuse_reply_err(req, EACCES);
}

static void fs_symlink(fuse_req_t req, const char *link, fuse_ino_t parent, const char *name)
{
	fuse_reply_err(req, EACCES);
}

static void fs_rename(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
		      const char *newname, unsigned int flags)
{
	fuse_reply_err(req, EACCES);
}

static void fs_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char *newname)
{
	fuse_reply_err(req, EACCES);
}

static void fs_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
		      struct fuse_file_info *fi)
{
	fuse_reply_err(req, EACCES);
}

static void fs_init(void *userdata, struct fuse_conn_info *conn)
{
	struct fs *fs = userdata;

	fs->no_open = conn->capable & FUSE_CAP_NO_OPEN_SUPPORT;
	fs->no_opendir = conn->capable & FUSE_CAP_NO_OPENDIR_SUPPORT;
	if (conn->capable & FUSE_CAP_AUTO_INVAL_DATA)
		conn->want |= FUSE_CAP_AUTO_INVAL_DATA;
	/* Link targets cached like file pages, dropped by the same notices. */
	if (conn->capable & FUSE_CAP_CACHE_SYMLINKS)
		conn->want |= FUSE_CAP_CACHE_SYMLINKS;
	if (conn->capable & FUSE_CAP_READDIRPLUS)
		conn->want |= FUSE_CAP_READDIRPLUS;
	conn->want &= ~(unsigned)FUSE_CAP_WRITEBACK_CACHE;  /* writes go through */
}

static const struct fuse_lowlevel_ops fs_ops = {
	.init = fs_init,
	.lookup = fs_lookup,
	.forget = fs_forget,
	.forget_multi = fs_forget_multi,
	.getattr = fs_getattr,
	.setattr = fs_setattr,
	.readlink = fs_readlink,
	.mknod = fs_mknod,
	.mkdir = fs_mkdir,
	.unlink = fs_unlink,
	.rmdir = fs_rmdir,
	.symlink = fs_symlink,
	.rename = fs_rename,
	.link = fs_link,
	.open = fs_open,
	.read = fs_read,
	.write = fs_write,
	.poll = fs_poll,
	.opendir = fs_opendir,
	.readdir = fs_readdir,
	.readdirplus = fs_readdirplus,
	.releasedir = fs_releasedir,
	.access = fs_access,
	.create = fs_create,
};

const struct fuse_lowlevel_ops *fs_operations(void)
{
	return &fs_ops;
}

/* ---- notices: invalidation and prefill --------------------------------------------- */

/* The tree's listener: runs on the installing thread, so it only queues. */
static void fs_on_change(void *userdata, const char *path)
{
	struct fs *fs = userdata;

	pthread_mutex_lock(&fs->lock);
	if (strmap_put(fs->pending, path, fs) < 0)
		fs->lost = true;
	pthread_cond_signal(&fs->cond);
	pthread_mutex_unlock(&fs->lock);
}

/* Queue the files of a listing (their paths are taken) for prefill.
 * Returns its ticket (done when fill_done reaches it), 0 if none. */
static uint64_t queue_prefill(struct fs *fs, struct prefill *v, size_t n)
{
	uint64_t ticket;

	if (!n)
		return 0;
	pthread_mutex_lock(&fs->lock);
	if (!fs->running || fs->stopping) {
		pthread_mutex_unlock(&fs->lock);
		prefill_clear(v, n);
		return 0;
	}
	if (fs->n_fill + n > fs->cap_fill) {
		size_t cap = fs->cap_fill ? fs->cap_fill : 256;
		struct prefill *nv;

		while (cap < fs->n_fill + n)
			cap *= 2;
		if (!(nv = realloc(fs->fill, cap * sizeof(*nv)))) {
			pthread_mutex_unlock(&fs->lock);
			prefill_clear(v, n);   /* no prefill: they are READ */
			return 0;
		}
		fs->fill = nv;
		fs->cap_fill = cap;
	}
	memcpy(fs->fill + fs->n_fill, v, n * sizeof(*v));
	fs->n_fill += n;
	ticket = ++fs->fill_queued;
	pthread_cond_signal(&fs->cond);
	pthread_mutex_unlock(&fs->lock);
	return ticket;
}

/* The node of ino under nodes_lock; NULL if gone. */
static struct node *node_locked(struct fs *fs, fuse_ino_t ino)
{
	char key[20];

	if (ino == FUSE_ROOT_ID)
		return &fs->root;
	ino_key(ino, key);
	return strmap_get(fs->by_ino, key);
}

/* Keep the files a READDIRPLUS of dir listed (v, malloc'd, taken) until
 * the kernel asks for more of the listing: by then it has made their
 * inodes, which a store needs. */
static void park_prefill(struct fs *fs, fuse_ino_t dir, struct prefill *v, size_t n)
{
	struct prefill *old = NULL;
	size_t n_old = 0;
	struct node *nd;

	pthread_mutex_lock(&fs->nodes_lock);
	if ((nd = node_locked(fs, dir))) {
		old = nd->parked;
		n_old = nd->n_parked;
		nd->parked = n ? v : NULL;
		nd->n_parked = n;
		if (n)
			v = NULL;
	}
	pthread_mutex_unlock(&fs->nodes_lock);
	prefill_clear(old, n_old);
	free(old);
	if (v)
		prefill_clear(v, n);
	free(v);
}

/* The kernel asks for more of dir's listing: store what its READDIRPLUS
 * listed, and wait (briefly) for it. A walker reads a whole listing before
 * it opens the files in it (tar, fts, rsync), so they are in the page
 * cache when it does. The stores run on the notice thread, never on a loop
 * thread: a store waits for a page lock a reader may hold while its READ
 * waits for a loop thread. */
static void run_prefill(struct fs *fs, fuse_ino_t dir)
{
	struct timespec deadline;
	struct prefill *v = NULL;
	size_t n = 0;
	uint64_t ticket;
	struct node *nd;

	pthread_mutex_lock(&fs->nodes_lock);
	if ((nd = node_locked(fs, dir))) {
		v = nd->parked;
		n = nd->n_parked;
		nd->parked = NULL;
		nd->n_parked = 0;
	}
	pthread_mutex_unlock(&fs->nodes_lock);
	ticket = queue_prefill(fs, v, n);   /* takes the paths */
	free(v);
	if (!ticket)
		return;
	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_nsec += FS_PREFILL_WAIT_MS * 1000000L;
	if (deadline.tv_nsec >= 1000000000L) {
		deadline.tv_sec++;
		deadline.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&fs->lock);
	while (fs->fill_done < ticket && !fs->stopping &&
	       pthread_cond_timedwait(&fs->fill_cv, &fs->lock, &deadline) == 0)
		;
	pthread_mutex_unlock(&fs->lock);
}

/* Store the content of one listed file, if it is still what was listed. */
static void prefill_one(struct fs *fs, const struct prefill *p)
{
	struct rf_stat rs;
	struct fuse_bufvec bv = FUSE_BUFVEC_INIT(p->size);
	_cleanup_free_ char *buf = NULL;
	ssize_t n;

	if (p->size == 0 || !(buf = malloc(p->size)))
		return;
	n = rf_tree_peek(fs->tree, p->path, buf, p->size, &rs);
	if (n != (ssize_t)p->size || rs.size != p->size || rs.mtime.tv_sec != p->mtime.tv_sec ||
	    rs.mtime.tv_nsec != p->mtime.tv_nsec)
		return;   /* changed since it was listed (or stale): READ when read */
	bv.buf[0].mem = buf;
	/* -ENOENT: the kernel has forgotten it already; nothing to do. */
	if (fuse_lowlevel_notify_store(fs->se, p->ino, 0, &bv, 0) < 0)
		return;
	/* Changed while we stored it (a reader may have its new attributes
	 * already, which a store of the old bytes would contradict): drop it
	 * now rather than when the change's own notice comes round. */
	n = rf_tree_peek(fs->tree, p->path, buf, p->size, &rs);
	if (n != (ssize_t)p->size || rs.size != p->size || rs.mtime.tv_sec != p->mtime.tv_sec ||
	    rs.mtime.tv_nsec != p->mtime.tv_nsec)
		fuse_lowlevel_notify_inval_inode(fs->se, p->ino, 0, 0);
}

static void *fs_notice_thread(void *arg)
{
	struct fs *fs = arg;
	bool warned = false;

	pthread_mutex_lock(&fs->lock);
	for (;;) {
		struct strmap *batch = NULL, *fresh;
		struct prefill *fill = NULL;
		size_t n_fill = 0, it = 0;
		uint64_t taken;
		const char *key;
		bool lost;

		while (!fs->stopping && strmap_size(fs->pending) == 0 && !fs->lost && !fs->n_fill)
			pthread_cond_wait(&fs->cond, &fs->lock);
		if (fs->stopping)
			break;
		/* Invalidations first, then the prefills queued so far. */
		if (strmap_size(fs->pending) || fs->lost) {
			if (!(fresh = strmap_new())) {
				/* Try again shortly rather than spin. */
				pthread_mutex_unlock(&fs->lock);
				usleep(10000);
				pthread_mutex_lock(&fs->lock);
				continue;
			}
			batch = fs->pending;
			fs->pending = fresh;
		}
		lost = fs->lost;
		fs->lost = false;
		fill = fs->fill;
		n_fill = fs->n_fill;
		taken = fs->fill_queued;
		fs->fill = NULL;
		fs->n_fill = fs->cap_fill = 0;
		pthread_mutex_unlock(&fs->lock);

		if (lost && !warned) {
			log_warn("out of memory queueing cache invalidations; "
				 "cached values may be up to max-age old");
			warned = true;
		}
		while (batch && strmap_next(batch, &it, &key, NULL)) {
			char path[4096];
			fuse_ino_t ino;
			int r;

			snprintf(path, sizeof(path), "/%s", key[0] == '/' ? key + 1 : key);
			if (!(ino = node_ino(fs, path)))
				continue;   /* the kernel does not know the path; nothing cached */
			r = fuse_lowlevel_notify_inval_inode(fs->se, ino, 0, 0);
			if (r < 0 && r != -ENOENT && !warned) {
				log_warn("invalidating %s: %s", path, strerror(-r));
				warned = true;
			}
			fs_polls_changed(fs->polls, ino);
		}
		strmap_free(batch);
		for (size_t i = 0; i < n_fill; i++)
			prefill_one(fs, &fill[i]);
		prefill_clear(fill, n_fill);
		free(fill);
		pthread_mutex_lock(&fs->lock);
		fs->fill_done = taken;
		pthread_cond_broadcast(&fs->fill_cv);
	}
	pthread_mutex_unlock(&fs->lock);
	return NULL;
}

/* ---- lifetime ----------------------------------------------------------------------- */

struct fs *fs_new(struct rf_tree *tree, int64_t max_age_ms)
{
	struct fs *fs = calloc(1, sizeof(*fs));

	if (!fs)
		return NULL;
	fs->pending = strmap_new();
	fs->by_path = strmap_new();
	fs->by_ino = strmap_new();
	fs->root.path = strdup("/");
	fs->polls = fs_polls_new();
	if (!fs->pending || !fs->by_path || !fs->by_ino || !fs->root.path || !fs->polls) {
		fs_polls_free(fs->polls);
		strmap_free(fs->pending);
		strmap_free(fs->by_path);
		strmap_free(fs->by_ino);
		free(fs->root.path);
		free(fs);
		return NULL;
	}
	fs->root.ino = FUSE_ROOT_ID;
	fs->next_ino = FUSE_ROOT_ID;
	fs->tree = tree;
	fs->uid = getuid();
	fs->gid = getgid();
	fs->cache_s = (double)(max_age_ms < 0 ? 0 : max_age_ms) / 1000.0;
	pthread_mutex_init(&fs->nodes_lock, NULL);
	pthread_mutex_init(&fs->lock, NULL);
	pthread_cond_init(&fs->cond, NULL);
	pthread_cond_init(&fs->fill_cv, NULL);
	return fs;
}

int fs_start(struct fs *fs, struct fuse_session *se)
{
	int r;

	if (fs->running)
		return -EALREADY;
	fs->se = se;
	fs->stopping = false;
	r = pthread_create(&fs->thread, NULL, fs_notice_thread, fs);
	if (r)
		return -r;
	pthread_mutex_lock(&fs->lock);
	fs->running = true;
	pthread_mutex_unlock(&fs->lock);
	r = rf_tree_add_listener(fs->tree, fs_on_change, fs);
	if (r < 0)
		fs_stop(fs);
	return r;
}

void fs_stop(struct fs *fs)
{
	if (!fs || !fs->running)
		return;
	rf_tree_remove_listener(fs->tree, fs_on_change, fs);
	pthread_mutex_lock(&fs->lock);
	fs->stopping = true;
	pthread_cond_signal(&fs->cond);
	pthread_cond_broadcast(&fs->fill_cv);
	pthread_mutex_unlock(&fs->lock);
	pthread_join(fs->thread, NULL);
	pthread_mutex_lock(&fs->lock);
	fs->running = false;
	prefill_clear(fs->fill, fs->n_fill);
	free(fs->fill);
	fs->fill = NULL;
	fs->n_fill = fs->cap_fill = 0;
	pthread_mutex_unlock(&fs->lock);
}

struct fs *fs_free(struct fs *fs)
{
	size_t it = 0;
	const char *k;
	void *v;

	if (!fs)
		return NULL;
	fs_stop(fs);
	while (strmap_next(fs->by_ino, &it, &k, &v)) {
		struct node *n = v;

		prefill_clear(n->parked, n->n_parked);
		free(n->parked);
		free(n->path);
		free(n);
	}
	strmap_free(fs->by_ino);
	strmap_free(fs->by_path);
	prefill_clear(fs->root.parked, fs->root.n_parked);
	free(fs->root.parked);
	free(fs->root.path);
	strmap_free(fs->pending);
	fs_polls_free(fs->polls);
	pthread_cond_destroy(&fs->cond);
	pthread_cond_destroy(&fs->fill_cv);
	pthread_mutex_destroy(&fs->lock);
	pthread_mutex_destroy(&fs->nodes_lock);
	free(fs);
	return NULL;
}
