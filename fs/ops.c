/* ops.c — the FUSE file system over the Redfish tree (libfuse 3.14,
 * high-level API).
 *
 * One table of short operations, each mapping onto redfish.h and returning
 * 0 or -errno. The tree does the mapping (JSON -> directories, files, links),
 * the freshness (rf_tree_stat refreshes stale resources) and the writes
 * (rf_tree_write validates and calls the back end); this file only turns
 * rf_stat into struct stat and chooses what the kernel may cache.
 *
 * Caching. open() answers -ENOSYS once; the kernel then never sends OPEN or
 * RELEASE again and keeps each file's page cache, so an unchanged property
 * file is read without reaching this daemon (DESIGN: ~1.9 µs against ~17 µs
 * with libfuse's defaults). Entries and attributes are cached for max-age,
 * so what the kernel serves is never older than the tree's own bound. The
 * tree tells us every changed path (rf_tree_set_listener); the listener only
 * queues the path, and one invalidation thread calls fuse_invalidate_path()
 * for each, outside any request handler: a notify from inside a handler, or
 * from the installing thread, can wait on a page lock held by the very
 * request that is waiting for us. FUSE_CAP_AUTO_INVAL_DATA makes every read
 * check the attributes, so a changed size or mtime also drops stale pages.
 * That is also the bound for the one race left: a READ answered just before
 * an install whose notice overtakes the reply leaves the old page cached
 * until the attributes expire (max-age), then the new mtime drops it.
 *
 * Writes (sysfs style). `echo Off > f` is open(O_TRUNC) then one WRITE at
 * offset 0 with fh 0 (no OPEN happened), which calls rf_tree_write and
 * returns its error from write(2). With atomic_o_trunc (libfuse's default)
 * the kernel truncates its own cache and sends nothing for O_TRUNC, since
 * OPEN is skipped; without it, O_TRUNC arrives as SETATTR size 0 + mtime
 * now, so truncate and utimens accept exactly that as a no-op on writable
 * files (and `touch` of one). After the write the kernel drops the file's
 * attributes, and the tree has told the listener, so the next read shows
 * the value the device confirmed, at its exact size.
 *
 * Threads: the operations run on libfuse's loop threads and share nothing
 * but the tree (thread-safe) and fs (read-only after fs_new). The queue has
 * its own mutex; the listener takes it briefly.
 */
#include "fs.h"

#include <errno.h>
#include <fuse.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common.h"
#include "redfish.h"

/* Negative lookups are cached briefly: a resource that appears (a strip
 * found by discovery) becomes visible soon although its name was asked for
 * before; the parent's listing is invalidated by the listener. */
#define FS_NEGATIVE_TIMEOUT_S 0.5

struct fs {
	struct rf_tree *tree;
	uid_t uid;
	gid_t gid;
	double cache_s;          /* entry and attribute timeout */
	bool no_open;            /* kernel can skip OPEN (FUSE_CAP_NO_OPEN_SUPPORT) */

	/* the invalidation queue */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct strmap *pending;  /* set of changed paths (values unused) */
	bool lost;               /* a path could not be queued (no memory) */
	bool stopping;
	bool running;
	pthread_t thread;
	struct fuse *fuse;
};

static struct fs *fs_get(void)
{
	return fuse_get_context()->private_data;
}

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

static int fs_getattr(const char *path, struct stat *st, struct fuse_file_info *fi)
{
	struct fs *fs = fs_get();
	struct rf_stat rs;
	int r = rf_tree_stat(fs->tree, path, &rs);

	if (r < 0)
		return r;
	fs_fill_stat(fs, &rs, st);
	return 0;
}

static int fs_readlink(const char *path, char *buf, size_t size)
{
	return rf_tree_readlink(fs_get()->tree, path, buf, size);
}

/* Entries carry their offsets (libfuse's "offset mode"): only then does
 * the high-level API hand the kernel full READDIRPLUS entries (node id,
 * attributes, timeouts), so a walk (`find`, `tar`) needs no LOOKUP or
 * GETATTR per name. Entry k (0 ".", 1 "..", then the names in order)
 * carries k + 1, the offset of the entry after it; a call resumes at off. */
static int fs_readdir(const char *path, void *buf, fuse_fill_dir_t filler, off_t off,
		      struct fuse_file_info *fi, enum fuse_readdir_flags flags)
{
	struct fs *fs = fs_get();
	enum fuse_fill_dir_flags plus = (flags & FUSE_READDIR_PLUS) ? FUSE_FILL_DIR_PLUS : 0;
	struct rf_dirent *d;
	size_t n;
	int r = rf_tree_list(fs->tree, path, &d, &n);

	if (r < 0)
		return r;
	for (size_t k = off < 0 ? 0 : (size_t)off; k < n + 2; k++) {
		struct stat st;

		if (k < 2) {
			if (filler(buf, k ? ".." : ".", NULL, (off_t)k + 1, 0))
				break;
			continue;
		}
		fs_fill_stat(fs, &d[k - 2].st, &st);
		if (filler(buf, d[k - 2].name, &st, (off_t)k + 1, plus))
			break;
	}
	rf_dirents_free(d, n);
	return 0;
}

static int fs_open(const char *path, struct fuse_file_info *fi)
{
	struct fs *fs = fs_get();

	if (fs->no_open)
		return -ENOSYS;   /* once: the kernel stops sending OPEN/RELEASE */
	fi->keep_cache = 1;   /* old kernels: keep pages, invalidated on change */
	return 0;
}

static int fs_read(const char *path, char *buf, size_t size, off_t off, struct fuse_file_info *fi)
{
	ssize_t n = rf_tree_read(fs_get()->tree, path, buf, size, off);

	return (int)n;
}

static int fs_write(const char *path, const char *buf, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	int r;

	if (off != 0)
		return -EINVAL;   /* one write(2) carries one whole value */
	r = rf_tree_write(fs_get()->tree, path, buf, size);
	if (r < 0) {
		/* The writer sees the errno; back-end failures also go to the log. */
		if (r == -EINVAL || r == -EACCES || r == -ENOENT)
			log_debug("write %s: %s", path, strerror(-r));
		else
			log_warn("write %s: %s", path, strerror(-r));
		return r;
	}
	return (int)size;
}

/* Attribute changes on writable files are what open(O_TRUNC) sends before
 * the write: accepted and ignored. Everything else is read-only. */
static int fs_check_writable(const char *path)
{
	struct rf_stat rs;
	int r = rf_tree_stat(fs_get()->tree, path, &rs);

	if (r < 0)
		return r;
	if (rs.kind == RF_KIND_DIR)
		return -EISDIR;
	if (rs.kind != RF_KIND_FILE || !rs.writable)
		return -EACCES;
	return 0;
}

static int fs_truncate(const char *path, off_t size, struct fuse_file_info *fi)
{
	int r = fs_check_writable(path);

	if (r < 0)
		return r;
	return size == 0 ? 0 : -EINVAL;
}

static int fs_utimens(const char *path, const struct timespec tv[2], struct fuse_file_info *fi)
{
	return fs_check_writable(path);   /* mtime stays "when the value changed" */
}

static int fs_access(const char *path, int mask)
{
	struct rf_stat rs;
	int r = rf_tree_stat(fs_get()->tree, path, &rs);

	if (r < 0)
		return r;
	if ((mask & W_OK) && !(rs.kind == RF_KIND_FILE && rs.writable))
		return -EACCES;
	if ((mask & X_OK) && rs.kind == RF_KIND_FILE)
		return -EACCES;
	return 0;
}

/* The tree's shape is the services': names cannot be made or removed, so
 * directories behave as 0555 (EACCES), and modes or owners cannot be
 * changed (EPERM, as for a file one does not own). */
static int fs_mknod(const char *path, mode_t mode, dev_t rdev)
{
	return -EACCES;
}

static int fs_create(const char *path, mode_t mode, struct fuse_file_info *fi)
{
	return -EACCES;
}

static int fs_mkdir(const char *path, mode_t mode)
{
	return -EACCES;
}

static int fs_unlink(const char *path)
{
	return -EACCES;
}

static int fs_rmdir(const char *path)
{
	return -EACCES;
}

static int fs_symlink(const char *target, const char *path)
{
	return -EACCES;
}

static int fs_link(const char *from, const char *to)
{
	return -EACCES;
}

static int fs_rename(const char *from, const char *to, unsigned int flags)
{
	return -EACCES;
}

static int fs_chmod(const char *path, mode_t mode, struct fuse_file_info *fi)
{
	return -EPERM;
}

static int fs_chown(const char *path, uid_t uid, gid_t gid, struct fuse_file_info *fi)
{
	return -EPERM;
}

static void *fs_init(struct fuse_conn_info *conn, struct fuse_config *cfg)
{
	struct fs *fs = fs_get();

	cfg->use_ino = 1;
	cfg->entry_timeout = fs->cache_s;
	cfg->attr_timeout = fs->cache_s;
	cfg->negative_timeout = fs->cache_s < FS_NEGATIVE_TIMEOUT_S ? fs->cache_s
								    : FS_NEGATIVE_TIMEOUT_S;
	cfg->kernel_cache = 1;     /* only used where OPEN is still sent */
	cfg->auto_cache = 0;
	cfg->direct_io = 0;
	cfg->nullpath_ok = 0;
	cfg->hard_remove = 0;
	fs->no_open = conn->capable & FUSE_CAP_NO_OPEN_SUPPORT;
	if (conn->capable & FUSE_CAP_AUTO_INVAL_DATA)
		conn->want |= FUSE_CAP_AUTO_INVAL_DATA;
	/* Link targets cached like file pages, dropped by the same notices. */
	if (conn->capable & FUSE_CAP_CACHE_SYMLINKS)
		conn->want |= FUSE_CAP_CACHE_SYMLINKS;
	conn->want &= ~(unsigned)FUSE_CAP_WRITEBACK_CACHE;  /* writes go through */
	return fs;
}

static const struct fuse_operations fs_ops = {
	.init = fs_init,
	.getattr = fs_getattr,
	.readlink = fs_readlink,
	.readdir = fs_readdir,
	.open = fs_open,
	.read = fs_read,
	.write = fs_write,
	.truncate = fs_truncate,
	.utimens = fs_utimens,
	.access = fs_access,
	.mknod = fs_mknod,
	.create = fs_create,
	.mkdir = fs_mkdir,
	.unlink = fs_unlink,
	.rmdir = fs_rmdir,
	.symlink = fs_symlink,
	.link = fs_link,
	.rename = fs_rename,
	.chmod = fs_chmod,
	.chown = fs_chown,
};

const struct fuse_operations *fs_operations(void)
{
	return &fs_ops;
}

/* ---- invalidation ---------------------------------------------------------------- */

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

static void *fs_inval_thread(void *arg)
{
	struct fs *fs = arg;
	bool warned = false;

	pthread_mutex_lock(&fs->lock);
	for (;;) {
		struct strmap *batch, *fresh;
		const char *key;
		size_t it = 0;
		bool lost;

		while (!fs->stopping && strmap_size(fs->pending) == 0 && !fs->lost)
			pthread_cond_wait(&fs->cond, &fs->lock);
		if (fs->stopping)
			break;
		fresh = strmap_new();
		if (!fresh) {
			/* Try again shortly rather than spin. */
			pthread_mutex_unlock(&fs->lock);
			usleep(10000);
			pthread_mutex_lock(&fs->lock);
			continue;
		}
		batch = fs->pending;
		fs->pending = fresh;
		lost = fs->lost;
		fs->lost = false;
		pthread_mutex_unlock(&fs->lock);

		if (lost && !warned) {
			log_warn("out of memory queueing cache invalidations; "
				 "cached values may be up to max-age old");
			warned = true;
		}
		while (strmap_next(batch, &it, &key, NULL)) {
			char path[4096];
			int r;

			snprintf(path, sizeof(path), "/%s", key[0] == '/' ? key + 1 : key);
			r = fuse_invalidate_path(fs->fuse, path);
			/* -ENOENT: the kernel does not know the path; nothing cached. */
			if (r < 0 && r != -ENOENT && !warned) {
				log_warn("invalidating %s: %s", path, strerror(-r));
				warned = true;
			}
		}
		strmap_free(batch);
		pthread_mutex_lock(&fs->lock);
	}
	pthread_mutex_unlock(&fs->lock);
	return NULL;
}

struct fs *fs_new(struct rf_tree *tree, int64_t max_age_ms)
{
	struct fs *fs = calloc(1, sizeof(*fs));

	if (!fs)
		return NULL;
	fs->pending = strmap_new();
	if (!fs->pending) {
		free(fs);
		return NULL;
	}
	fs->tree = tree;
	fs->uid = getuid();
	fs->gid = getgid();
	fs->cache_s = (double)(max_age_ms < 0 ? 0 : max_age_ms) / 1000.0;
	pthread_mutex_init(&fs->lock, NULL);
	pthread_cond_init(&fs->cond, NULL);
	return fs;
}

int fs_start(struct fs *fs, struct fuse *fuse)
{
	int r;

	if (fs->running)
		return -EALREADY;
	fs->fuse = fuse;
	fs->stopping = false;
	r = pthread_create(&fs->thread, NULL, fs_inval_thread, fs);
	if (r)
		return -r;
	fs->running = true;
	rf_tree_set_listener(fs->tree, fs_on_change, fs);
	return 0;
}

void fs_stop(struct fs *fs)
{
	if (!fs || !fs->running)
		return;
	rf_tree_set_listener(fs->tree, NULL, NULL);
	pthread_mutex_lock(&fs->lock);
	fs->stopping = true;
	pthread_cond_signal(&fs->cond);
	pthread_mutex_unlock(&fs->lock);
	pthread_join(fs->thread, NULL);
	fs->running = false;
}

struct fs *fs_free(struct fs *fs)
{
	if (!fs)
		return NULL;
	fs_stop(fs);
	strmap_free(fs->pending);
	pthread_cond_destroy(&fs->cond);
	pthread_mutex_destroy(&fs->lock);
	free(fs);
	return NULL;
}
