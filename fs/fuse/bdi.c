/*
 * The mount's backing-device-info settings (see bdi.h for why). The bdi of
 * a FUSE mount is named after its anonymous device number, which
 * /proc/self/mountinfo shows in its third field.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bdi.h"

/* mountinfo escapes space, tab, newline and backslash as \ooo. */
static void unescape(char *s)
{
	char *d = s;

	while (*s) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' && s[2] <= '7' &&
		    s[3] >= '0' && s[3] <= '7') {
			*d++ = (char)((s[1] - '0') * 64 + (s[2] - '0') * 8 + (s[3] - '0'));
			s += 4;
		} else {
			*d++ = *s++;
		}
	}
	*d = '\0';
}

int bdi_find(const char *mnt, char *out, size_t outlen)
{
	char line[8192], dev[32] = "";
	FILE *f = fopen("/proc/self/mountinfo", "re");

	if (!f)
		return -errno;
	/* "ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTS [TAGS...] - FSTYPE SOURCE ..."; the
	 * last match wins, as the last mount on a path is the visible one. */
	while (fgets(line, sizeof(line), f)) {
		char *save = NULL, *tok, *majmin = NULL, *point = NULL;
		int i = 0, after_dash = 0, is_fuse = 0;

		for (tok = strtok_r(line, " \n", &save); tok; tok = strtok_r(NULL, " \n", &save), i++) {
			if (i == 2)
				majmin = tok;
			else if (i == 4)
				point = tok;
			else if (i > 5 && !after_dash && !strcmp(tok, "-"))
				after_dash = 1;
			else if (after_dash == 1) {
				is_fuse = !strcmp(tok, "fuse") || !strncmp(tok, "fuse.", 5);
				after_dash = 2;
			}
		}
		if (!majmin || !point || !is_fuse)
			continue;
		unescape(point);
		if (!strcmp(point, mnt) && strlen(majmin) < sizeof(dev))
			strcpy(dev, majmin);
	}
	fclose(f);
	if (!dev[0])
		return -ENOENT;
	if ((size_t)snprintf(out, outlen, "/sys/class/bdi/%s", dev) >= outlen)
		return -ENAMETOOLONG;
	return 0;
}

static int readahead_file(const char *path, char *file, size_t len)
{
	return (size_t)snprintf(file, len, "%s/read_ahead_kb", path) >= len ? -ENAMETOOLONG : 0;
}

int bdi_check_writable(const char *path)
{
	char file[256];

	if (readahead_file(path, file, sizeof(file)) < 0)
		return -ENAMETOOLONG;
	return access(file, W_OK) == 0 ? 0 : -errno;
}

int bdi_set_readahead(const char *path, unsigned kib)
{
	char file[256], val[16];
	int fd, len, rc = 0;

	if (readahead_file(path, file, sizeof(file)) < 0)
		return -ENAMETOOLONG;
	fd = open(file, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	errno = 0;
	len = snprintf(val, sizeof(val), "%u\n", kib);
	if (write(fd, val, (size_t)len) != len)
		rc = errno ? -errno : -EIO;
	if (close(fd) < 0 && rc == 0)
		rc = -errno;
	return rc;
}
