/* mountpoint.c — is this directory a safe place to mount on?
 *
 * Called from main() before the back ends are probed, so a mistake is
 * reported at once and nothing slow happens first. The mount table is
 * /proc/self/mountinfo (mount points there are canonical and octal-escaped,
 * so the directory is compared in the same form: its parent resolved with
 * realpath, its own name appended, since a dead FUSE mount cannot itself be
 * resolved). A redfishfs mount is one of type fuse.redfishfs (main passes
 * subtype=redfishfs). A mount whose daemon was killed answers every call
 * with ENOTCONN (statfs tells: it is never cached); if it is ours, it is detached (umount2 MNT_DETACH as root,
 * else fusermount3 -u -z) so that a restart works. Single-threaded; writes
 * nothing but messages into the caller's buffer.
 */
#include "fs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common.h"

static void say(char *msg, size_t len, const char *fmt, ...) _printf_(3, 4);
static void say(char *msg, size_t len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, len, fmt, ap);
	va_end(ap);
}

int fs_mountpoint_canonical(const char *dir, char **ret)
{
	_cleanup_free_ char *a = strdup(dir), *b = strdup(dir);
	char parent[PATH_MAX];
	const char *base;
	char *out;

	if (!a || !b)
		return -ENOMEM;
	/* "x/" and "x/." name x */
	for (size_t n = strlen(b); n > 1 && b[n - 1] == '/'; n--)
		b[n - 1] = a[n - 1] = '\0';
	base = basename(b);
	if (strcmp(base, ".") == 0 || strcmp(base, "..") == 0 || strcmp(base, "/") == 0) {
		if (!realpath(dir, parent))
			return -errno;
		out = strdup(parent);
	} else {
		if (!realpath(dirname(a), parent))
			return -errno;
		if (asprintf(&out, "%s/%s", strcmp(parent, "/") == 0 ? "" : parent, base) < 0)
			out = NULL;
	}
	if (!out)
		return -ENOMEM;
	*ret = out;
	return 0;
}

/* Undo mountinfo's octal escapes (\040 for a space) in place. */
static void unescape(char *s)
{
	char *w = s;

	for (; *s; s++) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' && s[2] <= '7' &&
		    s[3] >= '0' && s[3] <= '7') {
			*w++ = (char)((s[1] - '0') * 64 + (s[2] - '0') * 8 + (s[3] - '0'));
			s += 3;
		} else {
			*w++ = *s;
		}
	}
	*w = '\0';
}

/* The file system type mounted at path (the last mount there), or "" if none. */
static int mount_type_at(const char *path, char *ret_type, size_t len)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	char *line = NULL;
	size_t cap = 0;

	ret_type[0] = '\0';
	if (!f)
		return -errno;
	while (getline(&line, &cap, f) > 0) {
		/* ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS [OPTIONAL...] - TYPE SOURCE SUPER */
		char *save = NULL, *tok, *mp = NULL, *sep;
		int field = 0;

		for (tok = strtok_r(line, " ", &save); tok; tok = strtok_r(NULL, " ", &save))
			if (++field == 5) {
				mp = tok;
				break;
			}
		if (!mp)
			continue;
		unescape(mp);
		if (strcmp(mp, path) != 0)
			continue;
		sep = save ? strstr(save, " - ") : NULL;
		if (!sep)
			continue;
		tok = sep + 3;
		snprintf(ret_type, len, "%.*s", (int)strcspn(tok, " \n"), tok);
	}
	free(line);
	fclose(f);
	return 0;
}

/* Detach the dead mount at path. */
static int detach(const char *path)
{
	pid_t pid;
	int st;

	if (geteuid() == 0)
		return umount2(path, MNT_DETACH) == 0 ? 0 : -errno;
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		int null = open("/dev/null", O_RDWR | O_CLOEXEC);

		if (null >= 0) {
			dup2(null, STDOUT_FILENO);
			dup2(null, STDERR_FILENO);
		}
		execlp("fusermount3", "fusermount3", "-u", "-z", "--", path, (char *)NULL);
		_exit(127);
	}
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return -errno;
	return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -EPERM;
}

int fs_mountpoint_check(const char *dir, bool nonempty, bool *ret_recovered, char *msg,
			size_t msglen)
{
	_cleanup_free_ char *path = NULL;
	char type[64];
	struct stat st;
	struct statfs sfs;
	DIR *d;
	struct dirent *e;
	bool empty = true;
	int r;

	*ret_recovered = false;
	r = fs_mountpoint_canonical(dir, &path);
	if (r < 0) {
		say(msg, msglen, "mount point %s: %s", dir, strerror(-r));
		return r;
	}
	r = mount_type_at(path, type, sizeof(type));
	if (r < 0) {
		say(msg, msglen, "cannot read the mount table: %s", strerror(-r));
		return r;
	}
	/* statfs always asks the daemon (stat may be answered from the
	 * kernel's attribute cache for a while after the daemon died). */
	if (stat(path, &st) < 0 || (*type && statfs(path, &sfs) < 0)) {
		r = -errno;
		if (r == -ENOTCONN && strcmp(type, "fuse.redfishfs") == 0) {
			r = detach(path);
			if (r < 0) {
				say(msg, msglen, "%s: a redfishfs mount whose daemon is gone, and it "
				    "cannot be unmounted (%s); try fusermount3 -u %s", path,
				    strerror(-r), path);
				return r;
			}
			*ret_recovered = true;
			if (stat(path, &st) < 0) {
				r = -errno;
				say(msg, msglen, "mount point %s: %s", path, strerror(-r));
				return r;
			}
		} else if (r == -ENOTCONN) {
			say(msg, msglen, "%s: a %s mount whose daemon is gone (unmount it: "
			    "fusermount3 -u %s)", path, *type ? type : "FUSE", path);
			return r;
		} else {
			say(msg, msglen, "mount point %s: %s", path, strerror(-r));
			return r;
		}
	} else if (strcmp(type, "fuse.redfishfs") == 0) {
		say(msg, msglen, "%s is already a redfishfs mount (unmount it first: "
		    "fusermount3 -u %s)", path, path);
		return -EBUSY;
	}
	if (!S_ISDIR(st.st_mode)) {
		say(msg, msglen, "mount point %s: %s", path, strerror(ENOTDIR));
		return -ENOTDIR;
	}
	if (nonempty)
		return 0;
	d = opendir(path);
	if (!d) {
		r = -errno;
		say(msg, msglen, "mount point %s: %s", path, strerror(-r));
		return r;
	}
	while (empty && (e = readdir(d)))
		empty = strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0;
	closedir(d);
	if (!empty) {
		say(msg, msglen, "mount point %s is not empty (give -o nonempty to mount over "
		    "what it holds)", path);
		return -ENOTEMPTY;
	}
	return 0;
}
