/* internal.h — what the files of fs/ share; not a public header.
 *
 *   ops.c    the low-level operations, nodes, the notice thread
 *   poll.c   poll(2) waiters: FUSE_POLL answers and change wakeups
 */
#ifndef REDFISHFS_FS_INTERNAL_H
#define REDFISHFS_FS_INTERNAL_H

#include "fs.h"
#include "common.h"

#include <fuse_lowlevel.h>
#include <sys/types.h>

struct fs_polls;
struct fs_polls *fs_polls_new(void);
struct fs_polls *fs_polls_free(struct fs_polls *p);     /* NULL-safe, returns NULL */
/* FUSE_POLL of ino by thread tid; ph (taken; may be NULL) is kept to be
 * notified. Returns the revents to reply: POLLIN|POLLRDNORM|POLLPRI once
 * ino changed since tid began waiting, else 0. */
unsigned fs_polls_poll(struct fs_polls *p, fuse_ino_t ino, pid_t tid, struct fuse_pollhandle *ph);
/* ino changed: wake its waiters (call outside request handlers). */
void fs_polls_changed(struct fs_polls *p, fuse_ino_t ino);
/* The kernel forgot ino: drop its waiters. */
void fs_polls_forget(struct fs_polls *p, fuse_ino_t ino);

#endif
