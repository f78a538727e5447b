/* bench-floor.c — the fastest FUSE file system we can build, as a floor for
 * scripts/bench-fs: a read-only in-memory copy of a directory tree.
 *
 *   bench-floor SRC [FUSE options] MOUNTPOINT
 *
 * SRC (files, directories, symlinks) is loaded once at start; the mount shows
 * the same names, sizes, modes and contents. It caches exactly as redfishfs
 * does: open() answers -ENOSYS (the kernel then skips OPEN/RELEASE and keeps
 * the page cache), 1 s entry and attribute timeouts, stable inode numbers.
 * No locks: nothing changes after start. Benchmark tool; not installed.
 */
#include <errno.h>
#include <fcntl.h>
#include <fuse.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common.h"

struct node {
	char *path;          /* "/a/b" ("/" for the root) */
	const char *name;    /* last component */
	struct stat st;
	char *data;          /* file contents or link target */
	size_t *kids;        /* directory: indices of the children */
	size_t n_kids;
};

static struct node *nodes;
static size_t n_nodes;
static struct strmap *by_path;   /* path -> node index + 1 */
static size_t src_len;

static int load_entry(const char *fpath, const struct stat *sb, int type, struct FTW *ftw)
{
	struct node *nn = realloc(nodes, (n_nodes + 1) * sizeof(*nn));
	struct node *n;
	const char *rel = fpath + src_len;

	(void)ftw;
	if (!nn)
		return -1;
	nodes = nn;
	n = &nodes[n_nodes];
	memset(n, 0, sizeof(*n));
	n->path = strdup(*rel ? rel : "/");
	if (!n->path)
		return -1;
	n->name = strrchr(n->path, '/') + 1;
	n->st = *sb;
	n->st.st_ino = n_nodes + 1;
	n->st.st_nlink = 1;
	n->st.st_uid = getuid();
	n->st.st_gid = getgid();
	if (type == FTW_F) {
		int fd = open(fpath, O_RDONLY | O_CLOEXEC);
		size_t got = 0;

		n->data = malloc((size_t)sb->st_size + 1);
		if (fd < 0 || !n->data)
			return -1;
		while (got < (size_t)sb->st_size) {
			ssize_t r = read(fd, n->data + got, (size_t)sb->st_size - got);

			if (r <= 0)
				break;
			got += (size_t)r;
		}
		close(fd);
		n->st.st_size = (off_t)got;
	} else if (type == FTW_SL) {
		n->data = calloc(1, (size_t)sb->st_size + 1);
		if (!n->data || readlink(fpath, n->data, (size_t)sb->st_size) < 0)
			return -1;
	} else if (type != FTW_D) {
		return -1;
	}
	if (strmap_put(by_path, n->path, (void *)(uintptr_t)(n_nodes + 1)) < 0)
		return -1;
	n_nodes++;
	return 0;
}

static int load(const char *src)
{
	by_path = strmap_new();
	if (!by_path)
		return -ENOMEM;
	src_len = strlen(src);
	while (src_len > 1 && src[src_len - 1] == '/')
		src_len--;
	if (nftw(src, load_entry, 32, FTW_PHYS) != 0)
		return -EIO;
	/* children lists */
	for (size_t i = 1; i < n_nodes; i++) {
		char parent[4096];
		size_t plen = (size_t)(nodes[i].name - 1 - nodes[i].path);
		uintptr_t pi;
		struct node *p;
		size_t *nk;

		snprintf(parent, sizeof(parent), "%.*s", (int)(plen ? plen : 1), nodes[i].path);
		pi = (uintptr_t)strmap_get(by_path, parent);
		if (!pi)
			return -EIO;
		p = &nodes[pi - 1];
		nk = realloc(p->kids, (p->n_kids + 1) * sizeof(*nk));
		if (!nk)
			return -ENOMEM;
		p->kids = nk;
		p->kids[p->n_kids++] = i;
	}
	return 0;
}

static struct node *find(const char *path)
{
	uintptr_t i = (uintptr_t)strmap_get(by_path, path);

	return i ? &nodes[i - 1] : NULL;
}

static int fl_getattr(const char *path, struct stat *st, struct fuse_file_info *fi)
{
	struct node *n = find(path);

	if (!n)
		return -ENOENT;
	*st = n->st;
	return 0;
}

static int fl_readlink(const char *path, char *buf, size_t size)
{
	struct node *n = find(path);

	if (!n || !S_ISLNK(n->st.st_mode))
		return -EINVAL;
	snprintf(buf, size, "%s", n->data);
	return 0;
}

static int fl_readdir(const char *path, void *buf, fuse_fill_dir_t filler, off_t off,
		      struct fuse_file_info *fi, enum fuse_readdir_flags flags)
{
	struct node *n = find(path);

	if (!n)
		return -ENOENT;
	filler(buf, ".", NULL, 0, 0);
	filler(buf, "..", NULL, 0, 0);
	for (size_t i = 0; i < n->n_kids; i++) {
		struct node *k = &nodes[n->kids[i]];

		if (filler(buf, k->name, &k->st, 0, FUSE_FILL_DIR_PLUS))
			break;
	}
	return 0;
}

static int fl_open(const char *path, struct fuse_file_info *fi)
{
	return -ENOSYS;
}

static int fl_read(const char *path, char *buf, size_t size, off_t off, struct fuse_file_info *fi)
{
	struct node *n = find(path);

	if (!n || !S_ISREG(n->st.st_mode))
		return -EISDIR;
	if (off >= n->st.st_size)
		return 0;
	if ((off_t)size > n->st.st_size - off)
		size = (size_t)(n->st.st_size - off);
	memcpy(buf, n->data + off, size);
	return (int)size;
}

static void *fl_init(struct fuse_conn_info *conn, struct fuse_config *cfg)
{
	cfg->use_ino = 1;
	cfg->entry_timeout = 1.0;
	cfg->attr_timeout = 1.0;
	cfg->negative_timeout = 0.5;
	cfg->kernel_cache = 1;
	return NULL;
}

static const struct fuse_operations fl_ops = {
	.init = fl_init,
	.getattr = fl_getattr,
	.readlink = fl_readlink,
	.readdir = fl_readdir,
	.open = fl_open,
	.read = fl_read,
};

int main(int argc, char *argv[])
{
	int r;

	if (argc < 3) {
		fprintf(stderr, "usage: %s SRC [FUSE options] MOUNTPOINT\n", argv[0]);
		return 1;
	}
	r = load(argv[1]);
	if (r < 0) {
		fprintf(stderr, "%s: cannot load %s: %s\n", argv[0], argv[1], strerror(-r));
		return 1;
	}
	argv[1] = argv[0];
	return fuse_main(argc - 1, argv + 1, &fl_ops, NULL);
}
