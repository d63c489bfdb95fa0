/*
 * A reference echo server: what a competent C programmer writes with epoll,
 * as a floor for ringside's own epoll backend (scripts/perf-vs-references.sh).
 * One thread, level-triggered epoll, non-blocking sockets, one read into a
 * 16 KiB stack buffer per readiness event and one write back. A connection
 * whose write was partial keeps the unsent bytes in a buffer of its own,
 * stops reading and waits for EPOLLOUT; no other connection has a buffer.
 * No tricks (no busy polling, no batching beyond what epoll_wait returns).
 *
 * Usage: epoll_echo PORT [HOST]   (HOST defaults to 127.0.0.1; port 0 picks one)
 * Prints "listening on HOST:PORT" once it accepts connections; SIGINT or
 * SIGTERM ends it (status 0).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define READ_BUF (16 * 1024)
#define MAX_EVENTS 256
#define BACKLOG 4096

/* Bytes accepted from the client but not yet sent back; empty (NULL) for
 * every connection whose last write was whole. */
struct pending {
	char *buf;
	size_t off, len;
};

/* Indexed by descriptor: descriptors are small and dense. */
static struct pending *conns;
static size_t nconns;

static void die(const char *what)
{
	perror(what);
	exit(1);
}

static void on_signal(int sig)
{
	(void)sig;
	_exit(0); /* async-signal-safe; the kernel closes every socket */
}

static struct pending *pending_of(int fd)
{
	if ((size_t)fd >= nconns) {
		size_t n = nconns ? nconns : 1024;
		while (n <= (size_t)fd)
			n *= 2;
		struct pending *p = realloc(conns, n * sizeof *p);
		if (!p)
			die("realloc");
		memset(p + nconns, 0, (n - nconns) * sizeof *p);
		conns = p;
		nconns = n;
	}
	return &conns[fd];
}

static void close_conn(int fd)
{
	struct pending *p = pending_of(fd);
	free(p->buf);
	*p = (struct pending){0};
	close(fd); /* also removes it from the epoll set */
}

static int listen_on(const char *host, const char *port)
{
	struct addrinfo hints = {.ai_family = AF_UNSPEC,
				 .ai_socktype = SOCK_STREAM,
				 .ai_flags = AI_PASSIVE | AI_NUMERICHOST | AI_NUMERICSERV};
	struct addrinfo *ai;
	int rc = getaddrinfo(host, port, &hints, &ai);
	if (rc) {
		fprintf(stderr, "epoll_echo: %s:%s: %s\n", host, port, gai_strerror(rc));
		exit(1);
	}
	int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		die("socket");
	int one = 1;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0)
		die("SO_REUSEADDR");
	if (bind(fd, ai->ai_addr, ai->ai_addrlen) < 0)
		die("bind");
	if (listen(fd, BACKLOG) < 0)
		die("listen");
	freeaddrinfo(ai);
	return fd;
}

static void print_listening(int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof ss;
	char host[NI_MAXHOST], port[NI_MAXSERV];
	if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
		die("getsockname");
	if (getnameinfo((struct sockaddr *)&ss, len, host, sizeof host, port, sizeof port,
			NI_NUMERICHOST | NI_NUMERICSERV))
		die("getnameinfo");
	if (ss.ss_family == AF_INET6)
		printf("listening on [%s]:%s\n", host, port);
	else
		printf("listening on %s:%s\n", host, port);
	fflush(stdout);
}

static void set_interest(int ep, int fd, unsigned events)
{
	struct epoll_event ev = {.events = events, .data.fd = fd};
	if (epoll_ctl(ep, EPOLL_CTL_MOD, fd, &ev) < 0)
		die("epoll_ctl MOD");
}

static void accept_all(int ep, int lfd)
{
	for (;;) {
		int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				perror("accept4"); /* EMFILE and kin: the backlog waits */
			return;
		}
		int one = 1;
		struct epoll_event ev = {.events = EPOLLIN, .data.fd = fd};
		if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) < 0 ||
		    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0) {
			perror("new connection");
			close(fd);
			continue;
		}
		pending_of(fd); /* grow the table now, not on a partial write */
	}
}

/* Sends what is pending; once all is sent, reads again. */
static void flush(int ep, int fd)
{
	struct pending *p = pending_of(fd);
	while (p->off < p->len) {
		ssize_t n = write(fd, p->buf + p->off, p->len - p->off);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return; /* still waiting for EPOLLOUT */
			close_conn(fd);
			return;
		}
		p->off += (size_t)n;
	}
	free(p->buf);
	*p = (struct pending){0};
	set_interest(ep, fd, EPOLLIN);
}

static void echo(int ep, int fd)
{
	char buf[READ_BUF];
	ssize_t n = read(fd, buf, sizeof buf);
	if (n == 0) {
		close_conn(fd);
		return;
	}
	if (n < 0) {
		if (errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK)
			close_conn(fd);
		return;
	}
	size_t sent = 0;
	while (sent < (size_t)n) {
		ssize_t w = write(fd, buf + sent, (size_t)n - sent);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			close_conn(fd);
			return;
		}
		sent += (size_t)w;
	}
	if (sent == (size_t)n)
		return;
	/* The client is not reading: keep the rest, stop reading, wait. */
	struct pending *p = pending_of(fd);
	p->len = (size_t)n - sent;
	p->off = 0;
	p->buf = malloc(p->len);
	if (!p->buf)
		die("malloc");
	memcpy(p->buf, buf + sent, p->len);
	set_interest(ep, fd, EPOLLOUT);
}

int main(int argc, char **argv)
{
	if (argc < 2 || argc > 3) {
		fprintf(stderr, "usage: %s PORT [HOST]\n", argv[0]);
		return 2;
	}
	const char *host = argc == 3 ? argv[2] : "127.0.0.1";
	struct sigaction sa = {.sa_handler = on_signal};
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGINT, &sa, NULL) < 0 || sigaction(SIGTERM, &sa, NULL) < 0)
		die("sigaction");
	signal(SIGPIPE, SIG_IGN); /* a write to a reset connection returns EPIPE */

	int lfd = listen_on(host, argv[1]);
	int ep = epoll_create1(EPOLL_CLOEXEC);
	if (ep < 0)
		die("epoll_create1");
	struct epoll_event ev = {.events = EPOLLIN, .data.fd = lfd};
	if (epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev) < 0)
		die("epoll_ctl ADD listener");
	print_listening(lfd);

	struct epoll_event events[MAX_EVENTS];
	for (;;) {
		int n = epoll_wait(ep, events, MAX_EVENTS, -1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			die("epoll_wait");
		}
		for (int i = 0; i < n; i++) {
			int fd = events[i].data.fd;
			unsigned e = events[i].events;
			if (fd == lfd)
				accept_all(ep, lfd);
			else if (conns[fd].buf)
				flush(ep, fd); /* EPOLLOUT, or EPOLLERR/HUP: the write says which */
			else if (e & (EPOLLIN | EPOLLERR | EPOLLHUP))
				echo(ep, fd);
		}
	}
}
