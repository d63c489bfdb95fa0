/*
 * Does a glibc memcpy between context switches make the switches dearer?
 * (docs/PERFORMANCE.md, thread-per-conn.) Two threads pinned to CPU 0 pass
 * a byte back and forth through two pipes, so every turn is a context
 * switch; each thread first does MODE's work:
 *   0  nothing
 *   1  a 128-byte memcpy through glibc (on a CPU with AVX-512, glibc's
 *      AVX-512 variant, which writes zmm16 and up)
 *   2  the same 128 bytes copied one volatile byte at a time (no vector
 *      registers)
 * Prints the time per round trip (two switches). `ringside-loadgen ctxsw` is
 * the general measurement of a switch (and the one in ringside's rows); this
 * one exists only for the copy in between, made by glibc's own memcpy as a
 * C server's would be. Run it with and without
 * GLIBC_TUNABLES=glibc.cpu.hwcaps=-AVX512F,-AVX512VL,-AVX512BW,-AVX512DQ.
 *
 * Build: cc -O2 -Wall -Wextra -pthread -o switch_memcpy switch_memcpy.c
 * Usage: switch_memcpy MODE ROUND_TRIPS
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int ping[2], pong[2];
static long trips;
static int mode;
static char src[128], dst[128];
/* Called through a volatile pointer so the compiler cannot inline it. */
static void *(*volatile copy)(void *, const void *, size_t) = memcpy;

static void work(void)
{
	if (mode == 1) {
		copy(dst, src, sizeof src);
	} else if (mode == 2) {
		for (size_t i = 0; i < sizeof src; i++)
			((volatile char *)dst)[i] = src[i];
	}
}

static void die(const char *what)
{
	perror(what);
	exit(1);
}

static void *peer(void *arg)
{
	(void)arg;
	char c;
	for (long i = 0; i < trips; i++) {
		if (read(ping[0], &c, 1) != 1)
			die("read");
		work();
		if (write(pong[1], &c, 1) != 1)
			die("write");
	}
	return NULL;
}

int main(int argc, char **argv)
{
	if (argc != 3 || (mode = atoi(argv[1])) < 0 || mode > 2 || (trips = atol(argv[2])) <= 0) {
		fprintf(stderr, "usage: switch_memcpy MODE(0|1|2) ROUND_TRIPS\n");
		return 2;
	}
	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET(0, &set);
	if (sched_setaffinity(0, sizeof set, &set))
		die("sched_setaffinity");
	if (pipe(ping) || pipe(pong))
		die("pipe");
	pthread_t t;
	if (pthread_create(&t, NULL, peer, NULL))
		die("pthread_create");
	struct timespec a, b;
	char c = 'x';
	clock_gettime(CLOCK_MONOTONIC, &a);
	for (long i = 0; i < trips; i++) {
		work();
		if (write(ping[1], &c, 1) != 1)
			die("write");
		if (read(pong[0], &c, 1) != 1)
			die("read");
	}
	clock_gettime(CLOCK_MONOTONIC, &b);
	pthread_join(t, NULL);
	double ns = (double)(b.tv_sec - a.tv_sec) * 1e9 + (double)(b.tv_nsec - a.tv_nsec);
	printf("mode %d: %.1f ns per round trip (two context switches)\n", mode, ns / (double)trips);
	return 0;
}
