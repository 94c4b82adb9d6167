/*
 * A one-line progress bar on stderr for the long-running tools: percent,
 * items, rate and ETA, redrawn at most ten times a second. It draws only
 * when stderr is a terminal and the command was not asked to be quiet;
 * otherwise every call is a no-op.
 */
#ifndef JCFS_PROGRESS_H
#define JCFS_PROGRESS_H

#include <stdint.h>
#include <time.h>

struct progress {
	const char *label;
	int on;                         /* drawing at all */
	int drawn;                      /* a line is on screen */
	uint64_t total, done;           /* bytes */
	unsigned long items, items_done;
	struct timespec start, last;
};

void progress_start(struct progress *p, const char *label, uint64_t total_bytes,
		    unsigned long total_items, int quiet);
void progress_add(struct progress *p, uint64_t bytes);
void progress_item(struct progress *p);
/* Erases the line so that a message can be printed; the next update
 * draws it again. */
void progress_clear(struct progress *p);
/* Erases the line for good. */
void progress_end(struct progress *p);

#endif
