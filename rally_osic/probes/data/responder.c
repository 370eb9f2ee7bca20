/* Echo responders and a memory-dirtying load for busybox guests.
 *
 * The same contract as rally_osic/probes/responder.py, for images without
 * python3 (the migration rig's busybox initramfs). Built static:
 *     gcc -static -O2 -o osic-responder responder.c
 *
 *     osic-responder UDP_PORT TCP_PORT [DIRTY_MIB [DIRTY_MIBPS]]
 *
 * UDP datagrams go back to their sender unchanged; TCP connections get
 * back what they send. A child process rewrites one byte of every page of
 * DIRTY_MIB MiB, DIRTY_MIBPS MiB per second (0: as fast as it can).
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_CLIENTS 64

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void dirty(long mib, double mibps)
{
    long size = mib * 1024 * 1024, page = 4096, chunk = 1024 * 1024;
    unsigned char *block = malloc(size);
    unsigned char value = 0;
    if (!block)
        _exit(1);
    memset(block, 0, size);
    for (;;) {
        double start = now();
        value++;
        for (long offset = 0; offset < size; offset += page) {
            block[offset] = value;
            if (mibps > 0 && offset && offset % chunk == 0) {
                double delay = start + (offset / chunk) / mibps - now();
                if (delay > 0)
                    usleep((useconds_t)(delay * 1e6));
            }
        }
        if (mibps <= 0)
            usleep(1000);
    }
}

static int bound(int type, int port)
{
    struct sockaddr_in addr;
    int one = 1, fd = socket(AF_INET, type, 0);
    memset(&addr, 0, sizeof(addr));
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_ANY);
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) != 0)
        _exit(2);
    if (type == SOCK_STREAM)
        listen(fd, 16);
    else { /* room for late probes: a busy guest answers them late */
        int size = 8 << 20;
        if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof(size)))
            setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
    }
    return fd;
}

int main(int argc, char **argv)
{
    struct pollfd fds[2 + MAX_CLIENTS];
    char buf[65536];
    int nfds = 2, one = 1;
    if (argc < 3)
        return 2;
    signal(SIGPIPE, SIG_IGN);
    if (argc > 3 && atol(argv[3]) > 0 && fork() == 0)
        dirty(atol(argv[3]), argc > 4 ? atof(argv[4]) : 0);
    fds[0].fd = bound(SOCK_DGRAM, atoi(argv[1]));
    fds[1].fd = bound(SOCK_STREAM, atoi(argv[2]));
    fds[0].events = fds[1].events = POLLIN;
    for (;;) {
        if (poll(fds, nfds, -1) < 0)
            continue;
        if (fds[0].revents & POLLIN) {
            struct sockaddr_in peer;
            socklen_t len = sizeof(peer);
            ssize_t n = recvfrom(fds[0].fd, buf, sizeof(buf), 0,
                                 (struct sockaddr *)&peer, &len);
            if (n > 0)
                sendto(fds[0].fd, buf, n, 0, (struct sockaddr *)&peer, len);
        }
        if ((fds[1].revents & POLLIN) && nfds < 2 + MAX_CLIENTS) {
            int c = accept(fds[1].fd, NULL, NULL);
            if (c >= 0) {
                setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
                fds[nfds].fd = c;
                fds[nfds].events = POLLIN;
                fds[nfds].revents = 0;
                nfds++;
            }
        }
        for (int i = 2; i < nfds; i++) {
            if (!fds[i].revents)
                continue;
            ssize_t n = recv(fds[i].fd, buf, sizeof(buf), 0);
            ssize_t off = 0;
            while (n > 0 && off < n) {
                ssize_t w = send(fds[i].fd, buf + off, n - off, 0);
                if (w <= 0)
                    break;
                off += w;
            }
            if (n <= 0 || off < n) {
                close(fds[i].fd);
                fds[i] = fds[--nfds];
                i--;
            }
        }
    }
}
