/*
 * libfuse's messages, through our log; kept instead while a session is
 * set up, for the one line that says why it failed.
 */
#ifndef JCFS_FUSEMSG_H
#define JCFS_FUSEMSG_H

/* Starts keeping libfuse's warnings and errors (and sends the rest to the
 * log, now and from then on). */
void fusemsg_start(void);
/* Stops keeping them: the kept text as one line without libfuse's
 * prefixes, or what when there is none. */
const char *fusemsg_stop(const char *what);

#endif
