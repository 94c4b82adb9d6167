/*
 * The options of "jetcryptfs mount", from its command line and its -o
 * list (the form mount(8), mount.fuse3 and fstab use): what the daemon is
 * given to run (struct mount_opts, daemon.h). Every option is checked
 * here, libfuse's included, before anything is touched.
 */
#ifndef JCFS_MOUNT_OPTS_H
#define JCFS_MOUNT_OPTS_H

#include <stdio.h>

#include "daemon.h"

/* Parses the mount command's arguments (argv[0] is "mount", or the
 * backing directory in the mount.fuse3 form) into mo, which starts
 * zeroed. -h prints the usage and exits 0. 0, or -1 after one line on
 * stderr saying what is wrong. */
int mount_opts_parse(int argc, char **argv, struct mount_opts *mo);
void mount_opts_usage(FILE *f);

#endif
