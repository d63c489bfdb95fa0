/*
 * A reference echo server: the textbook thread per connection, as a floor
 * for ringside's thread-per-conn backend (scripts/perf-vs-references.sh).
 * A blocking accept loop starts one detached thread per connection, with a
 * 128 KiB stack as ringside's; the thread reads into a 16 KiB stack buffer
 * and writes it all back, until the client closes or an error.
 *
 * Usage: tpc_echo PORT [HOST]   (HOST defaults to 127.0.0.1; port 0 picks one)
 * Prints "listening on HOST:PORT" once it accepts connections; SIGINT or
 * SIGTERM ends it (status 0).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define READ_BUF (16 * 1024)
#define STACK_SIZE (128 * 1024)
#define BACKLOG 4096

static void die(const char *what)
{
	perror(what);
	exit(1);
}

/* Any thread may take the signal: _exit ends them all, and is
 * async-signal-safe. */
static void on_signal(int sig)
{
	(void)sig;
	_exit(0);
}

static void *serve(void *arg)
{
	int fd = (int)(intptr_t)arg;
	char buf[READ_BUF];
	for (;;) {
		ssize_t n = read(fd, buf, sizeof buf);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		for (ssize_t sent = 0; sent < n;) {
			ssize_t w = write(fd, buf + sent, (size_t)(n - sent));
			if (w < 0) {
				if (errno == EINTR)
					continue;
				goto done;
			}
			sent += w;
		}
	}
done:
	close(fd);
	return NULL;
}

static int listen_on(const char *host, const char *port)
{
	struct addrinfo hints = {.ai_family = AF_UNSPEC,
				 .ai_socktype = SOCK_STREAM,
				 .ai_flags = AI_PASSIVE | AI_NUMERICHOST | AI_NUMERICSERV};
	struct addrinfo *ai;
	int rc = getaddrinfo(host, port, &hints, &ai);
	if (rc) {
		fprintf(stderr, "tpc_echo: %s:%s: %s\n", host, port, gai_strerror(rc));
		exit(1);
	}
	int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
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

	pthread_attr_t attr;
	if (pthread_attr_init(&attr) || pthread_attr_setstacksize(&attr, STACK_SIZE) ||
	    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED)) {
		fprintf(stderr, "tpc_echo: cannot set up thread attributes\n");
		return 1;
	}

	int lfd = listen_on(host, argv[1]);
	print_listening(lfd);
	for (;;) {
		int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0) {
			int err = errno;
			if (err == EINTR || err == ECONNABORTED)
				continue;
			perror("accept4");
			if (err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM)
				usleep(10000); /* wait for descriptors or memory to free up */
			continue;
		}
		int one = 1;
		if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) < 0) {
			perror("TCP_NODELAY");
			close(fd);
			continue;
		}
		pthread_t t;
		int rc = pthread_create(&t, &attr, serve, (void *)(intptr_t)fd);
		if (rc) {
			fprintf(stderr, "tpc_echo: pthread_create: %s; closing the connection\n",
				strerror(rc));
			close(fd);
		}
	}
}
