/*
 * The progress bar. Rate is the average since the start (bytes per
 * second), which is steadier for an ETA than an instantaneous rate over
 * files of very different sizes.
 */
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "progress.h"

static double elapsed(const struct timespec *a, const struct timespec *b)
{
	return (double)(b->tv_sec - a->tv_sec) + (double)(b->tv_nsec - a->tv_nsec) / 1e9;
}

static void human_rate(double bps, char *out, size_t len)
{
	static const char *const units[] = { "B/s", "KiB/s", "MiB/s", "GiB/s" };
	int u = 0;

	while (bps >= 1024 && u < 3) {
		bps /= 1024;
		u++;
	}
	snprintf(out, len, "%.1f %s", bps, units[u]);
}

static void draw(struct progress *p, int force)
{
	struct timespec now;
	struct winsize ws;
	char line[512], rate[32], eta[32], bar[128];
	double t, r, frac;
	int width = 80, barw, fill, n;

	clock_gettime(CLOCK_MONOTONIC, &now);
	if (!force && p->drawn && elapsed(&p->last, &now) < 0.1)
		return;
	p->last = now;
	if (ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 20)
		width = ws.ws_col;
	t = elapsed(&p->start, &now);
	r = t > 0 ? (double)p->done / t : 0;
	frac = p->total ? (double)p->done / (double)p->total : (p->items ? (double)p->items_done / (double)p->items : 1);
	if (frac > 1)
		frac = 1;
	human_rate(r, rate, sizeof(rate));
	if (r > 0 && p->total > p->done) {
		long s = (long)((double)(p->total - p->done) / r);

		snprintf(eta, sizeof(eta), "ETA %ld:%02ld", s / 60, s % 60);
	} else {
		snprintf(eta, sizeof(eta), "ETA --:--");
	}
	/* label, percent, bar, counts, rate, eta; the bar takes what is left */
	barw = width - (int)strlen(p->label) - 60;
	if (barw > (int)sizeof(bar) - 1)
		barw = (int)sizeof(bar) - 1;
	if (barw < 5)
		barw = 0;
	fill = (int)(frac * barw);
	for (int i = 0; i < barw; i++)
		bar[i] = i < fill ? '#' : '.';
	bar[barw] = '\0';
	n = snprintf(line, sizeof(line), "\r\033[K%s %3d%% %s%s%s %lu/%lu files  %s  %s", p->label,
		     (int)(frac * 100), barw ? "[" : "", bar, barw ? "]" : "", p->items_done, p->items,
		     rate, eta);
	if (n > 0)
		(void)!write(STDERR_FILENO, line, (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1);
	p->drawn = 1;
}

void progress_start(struct progress *p, const char *label, uint64_t total_bytes,
		    unsigned long total_items, int quiet)
{
	memset(p, 0, sizeof(*p));
	p->label = label;
	p->total = total_bytes;
	p->items = total_items;
	p->on = !quiet && isatty(STDERR_FILENO);
	clock_gettime(CLOCK_MONOTONIC, &p->start);
	if (p->on)
		draw(p, 1);
}

void progress_add(struct progress *p, uint64_t bytes)
{
	p->done += bytes;
	if (p->on)
		draw(p, 0);
}

void progress_item(struct progress *p)
{
	p->items_done++;
	if (p->on)
		draw(p, 0);
}

void progress_clear(struct progress *p)
{
	if (p->on && p->drawn)
		(void)!write(STDERR_FILENO, "\r\033[K", 4);
	p->drawn = 0;
}

void progress_end(struct progress *p)
{
	if (p->on)
		draw(p, 1);
	progress_clear(p);
	p->on = 0;
}
