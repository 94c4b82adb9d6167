/*
 * The caller of a request, from /proc/TID/status (see caller.h): its
 * supplementary groups ("Groups:") and effective capabilities ("CapEff:").
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "caller.h"

#define CALLER_CAP_FSETID 4     /* linux/capability.h */

/* The value of field name ("Groups:") of /proc/pid/status into out (a
 * line's worth); 0, or -1 if it cannot be read. */
static int status_field(pid_t pid, const char *name, char *out, size_t outlen)
{
	char path[64], line[4096];
	size_t n = strlen(name);
	FILE *f;
	int rc = -1;

	if (pid <= 0)
		return -1;
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		if (!strncmp(line, name, n)) {
			snprintf(out, outlen, "%s", line + n);
			rc = 0;
			break;
		}
	}
	fclose(f);
	return rc;
}

int caller_in_group(gid_t fsgid, pid_t pid, gid_t gid)
{
	char groups[4096], *p, *end;

	if (fsgid == gid)
		return 1;
	if (status_field(pid, "Groups:", groups, sizeof(groups)) < 0)
		return 0;
	for (p = groups;; p = end) {
		unsigned long g = strtoul(p, &end, 10);

		if (end == p)
			return 0;
		if ((gid_t)g == gid)
			return 1;
	}
}

int caller_has_fsetid(uid_t fsuid, pid_t pid)
{
	char caps[64], *end;
	unsigned long long eff;

	if (status_field(pid, "CapEff:", caps, sizeof(caps)) < 0)
		return fsuid == 0;
	eff = strtoull(caps, &end, 16);
	if (end == caps)
		return fsuid == 0;
	return (eff >> CALLER_CAP_FSETID) & 1;
}

mode_t caller_setid_to_kill(mode_t mode, gid_t file_gid, gid_t fsgid, pid_t pid)
{
	mode_t kill = mode & S_ISUID;

	if ((mode & S_ISGID) && ((mode & S_IXGRP) || !caller_in_group(fsgid, pid, file_gid)))
		kill |= S_ISGID;
	return kill;
}
