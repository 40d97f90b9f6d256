/*
 * An event server in C: wsgate behind POSIX sockets and poll().
 *
 * It serves the NestJS sample gateway (`16-gateways-ws`) and a chat gateway:
 *
 *   ws://127.0.0.1:PORT/       events   -> {"event":"events","data":1}, ...2}, ...3}
 *                              echo     -> {"event":"echo","data":<data>}
 *                              identity -> <data>, as it is (nothing for no data or null)
 *                              fail     -> NestJS's exception frame, message "nope"
 *   ws://127.0.0.1:PORT/chat   message  -> {"event":"message","data":<data>} to every chat client
 *                              leave    -> closes the socket with 4000
 *
 * wsgate does no I/O of its own. This program owns the sockets and the clock: it reads bytes
 * and hands them to wsgate_feed(), which runs the handlers; it writes out what
 * wsgate_output() holds; it asks wsgate_next_deadline() when the timers (handshake timeout,
 * pings, message and close timeouts) need wsgate_poll(). The server lives in one static
 * array: there is no malloc anywhere.
 *
 * Fairness: one wsgate_feed() call is one turn of that client (at most `messages_per_turn`
 * messages, 16 by default). Each pass of the event loop gives every connection at most one
 * turn, writing output out before and after it, so a client streaming messages cannot keep
 * the others waiting. Input a turn left unfed is fed on the next pass without waiting for
 * the socket (poll() does not sleep while a connection holds some), and so is a message
 * that waited for transmit room.
 *
 * Build (the library first, then this file; see examples/c/Makefile):
 *
 *   cargo rustc --release --lib --features ffi --crate-type staticlib
 *   cc -std=c11 -Wall -Wextra -Iinclude examples/c/server.c target/release/libwsgate.a \
 *      -lpthread -ldl -lm -o wsgate-server
 *   ./wsgate-server 8080        (0 picks a free port)
 *
 * SIGINT or SIGTERM closes every client with 1001 Going Away; the program exits once they
 * have all left (a second signal exits at once).
 */
#define _POSIX_C_SOURCE 200809L

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "wsgate.h"

#ifndef MSG_NOSIGNAL
#define MSG_NOSIGNAL 0 /* where send() has no such flag, SIGPIPE is ignored instead */
#endif

/* The server's memory: all of it, fixed when the library was built. */
static _Alignas(WSGATE_SERVER_ALIGN) uint8_t server_memory[WSGATE_SERVER_SIZE];
static wsgate_server *server;

/* One TCP connection per wsgate client slot. */
struct conn {
    int fd;           /* -1: this entry is free */
    uint32_t id;      /* the wsgate client id */
    uint8_t in[1024]; /* bytes read from the socket that wsgate_feed() has not taken yet */
    size_t in_off;
    size_t in_len;
    bool blocked;     /* the socket's send buffer is full: wait for POLLOUT */
    bool again;       /* the last turn queued output: a message may wait for transmit room,
                       * so feed again (even with no input) on the next pass */
};
static struct conn conns[WSGATE_MAX_CLIENTS];

/* A signal writes a byte here, so poll() wakes up (the self-pipe trick). */
static int signal_pipe[2] = {-1, -1};
static volatile sig_atomic_t signals_received;

/* --------------------------------------------------------------------------------------- */
/* Small helpers                                                                           */
/* --------------------------------------------------------------------------------------- */

/* Milliseconds on a clock that never jumps: the only time wsgate is told. */
static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void die(const char *what, int32_t rc)
{
    fprintf(stderr, "%s: %s (%" PRId32 ")\n", what, wsgate_strerror(rc), rc);
    exit(1);
}

static void check(const char *what, int32_t rc)
{
    if (rc < 0)
        die(what, rc);
}

/* wsgate takes JSON as bytes; a C string literal is `char`, hence this cast in one place. */
static const uint8_t *json(const char *text)
{
    return (const uint8_t *)text;
}

static int set_nonblocking(int fd)
{
    int flags = fcntl(fd, F_GETFL, 0);
    return flags < 0 ? -1 : fcntl(fd, F_SETFL, flags | O_NONBLOCK);
}

static void on_signal(int sig)
{
    int saved = errno;
    (void)sig;
    signals_received++;
    ssize_t r = write(signal_pipe[1], "!", 1);
    (void)r;
    errno = saved;
}

/* --------------------------------------------------------------------------------------- */
/* The gateways: message handlers and the connect/disconnect callbacks                    */
/* --------------------------------------------------------------------------------------- */

/* `data` is the raw JSON of the message's "data" (not NUL-terminated), or NULL with length 0
 * when the message had none. A handler returns 0; anything else sends the client NestJS's
 * exception frame. */

/* The NestJS sample: `events` answers 1, 2 and 3, one frame each. */
static int32_t on_events(wsgate_ctx *ctx, const char *event, size_t event_len, const uint8_t *data, size_t len, void *user)
{
    (void)event;
    (void)event_len;
    (void)data, (void)len, (void)user;
    static const char *const values[] = {"1", "2", "3"};
    for (size_t i = 0; i < 3; i++) {
        int32_t rc = wsgate_reply(ctx, "events", json(values[i]), 1);
        if (rc < 0)
            return rc; /* no room to reply: the client gets "Internal server error" */
    }
    return 0;
}

/* `echo` answers {"event":"echo","data":<data>}; no data is sent back as null. */
static int32_t on_echo(wsgate_ctx *ctx, const char *event, size_t event_len, const uint8_t *data, size_t len, void *user)
{
    (void)event;
    (void)event_len;
    (void)user;
    if (data == NULL)
        return wsgate_reply(ctx, "echo", json("null"), 4);
    return wsgate_reply(ctx, "echo", data, len);
}

/* `identity` answers the data itself, as a NestJS handler returning a plain value does. A
 * handler returning undefined or null sends nothing in NestJS, so neither no data nor
 * `"data":null` gives a frame. */
static int32_t on_identity(wsgate_ctx *ctx, const char *event, size_t event_len, const uint8_t *data, size_t len, void *user)
{
    (void)event;
    (void)event_len;
    (void)user;
    if (data == NULL || (len == 4 && memcmp(data, "null", 4) == 0))
        return 0; /* no value, no frame */
    return wsgate_reply_json(ctx, data, len);
}

/* `fail` is `throw new WsException("nope")`. */
static int32_t on_fail(wsgate_ctx *ctx, const char *event, size_t event_len, const uint8_t *data, size_t len, void *user)
{
    (void)event;
    (void)event_len;
    (void)data, (void)len, (void)user;
    wsgate_throw(ctx, "nope");
    return 1;
}

/* `/chat` `message`: every client of the chat gateway gets it, the sender too. */
static int32_t on_chat_message(wsgate_ctx *ctx, const char *event, size_t event_len, const uint8_t *data, size_t len, void *user)
{
    (void)event;
    (void)event_len;
    (void)user;
    uint32_t dropped = 0;
    if (data == NULL)
        data = json("null"), len = 4;
    int32_t sent = wsgate_ctx_broadcast(ctx, "message", data, len, &dropped);
    if (sent < 0)
        return sent;
    if (dropped > 0)
        printf("chat: %" PRIu32 " slow client(s) missed a message\n", dropped);
    return 0;
}

/* `/chat` `leave`: close this client with 4000 (an application code). */
static int32_t on_chat_leave(wsgate_ctx *ctx, const char *event, size_t event_len, const uint8_t *data, size_t len, void *user)
{
    (void)event;
    (void)event_len;
    (void)data, (void)len, (void)user;
    return wsgate_ctx_close(ctx, 4000);
}

static void on_connect(uint32_t client, const uint8_t *path, size_t path_len, void *user)
{
    (void)user;
    printf("client %08" PRIx32 " connected to %.*s\n", client, (int)path_len, (const char *)path);
}

static void on_disconnect(uint32_t client, uint16_t code, void *user)
{
    (void)user;
    printf("client %08" PRIx32 " left with %u\n", client, (unsigned)code);
}

static void create_server(void)
{
    uint32_t root, chat;
    /* The defaults (wsgate_config_default): 16 messages per turn, a message within 10 s, and
     * no limit of slots per address (max_per_address 0). A server open to many hosts would
     * set max_per_address (say 2) so that one address cannot take every slot; the tests of
     * this example open several clients from 127.0.0.1, so it stays off here. */
    wsgate_config config;
    check("wsgate_config_default", wsgate_config_default(&config));
    check("wsgate_create",
          wsgate_create(server_memory, sizeof server_memory, &config, &server));
    check("wsgate_add_gateway /", wsgate_add_gateway(server, "/", &root));
    check("wsgate_add_gateway /chat", wsgate_add_gateway(server, "/chat", &chat));
    check("bind events", wsgate_add_handler(server, root, "events", on_events, NULL));
    check("bind echo", wsgate_add_handler(server, root, "echo", on_echo, NULL));
    check("bind identity",
          wsgate_add_handler(server, root, "identity", on_identity, NULL));
    check("bind fail", wsgate_add_handler(server, root, "fail", on_fail, NULL));
    check("bind message",
          wsgate_add_handler(server, chat, "message", on_chat_message, NULL));
    check("bind leave", wsgate_add_handler(server, chat, "leave", on_chat_leave, NULL));
    check("bind connect", wsgate_bind_client_connect(server, on_connect, NULL));
    check("bind disconnect", wsgate_bind_client_disconnect(server, on_disconnect, NULL));
}

/* --------------------------------------------------------------------------------------- */
/* Connections                                                                             */
/* --------------------------------------------------------------------------------------- */

static size_t open_connections(void)
{
    size_t n = 0;
    for (size_t i = 0; i < WSGATE_MAX_CLIENTS; i++)
        n += conns[i].fd >= 0;
    return n;
}

/* The socket is done (wsgate asked for it, or the peer left, or it failed): close it and
 * give the slot back. wsgate reports a disconnect (1006) if the WebSocket had not ended. */
static void drop_conn(struct conn *c)
{
    close(c->fd);
    c->fd = -1;
    wsgate_release(server, c->id);
}

/* Writes out what wsgate holds for this client. False when the socket failed (the
 * connection is dropped then); `blocked` says whether some output is still waiting. */
static bool write_out(struct conn *c)
{
    const uint8_t *out;
    size_t len;
    check("wsgate_output", wsgate_output(server, c->id, &out, &len));
    while (len > 0) {
        ssize_t n = send(c->fd, out, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            c->blocked = true; /* poll() says when there is room again */
            return true;
        }
        if (n < 0) {
            drop_conn(c);
            return false;
        }
        check("wsgate_consume", wsgate_consume(server, c->id, (size_t)n));
        check("wsgate_output", wsgate_output(server, c->id, &out, &len));
    }
    c->blocked = false;
    return true;
}

/* True when this connection has work without waiting for its socket or a timer: input
 * wsgate has not taken yet, or a message that may wait for transmit room. */
static bool has_work(const struct conn *c)
{
    return c->fd >= 0 && !c->blocked && (c->in_off < c->in_len || c->again);
}

/* One turn of this client: writes out what wsgate holds for it, then (unless the socket is
 * full) feeds it once: the input it has not taken yet, or nothing (a message that waited for
 * transmit room is dispatched then), and writes out what that queued. wsgate_feed stops
 * after `messages_per_turn` messages, so what it did not take waits for the next pass of the
 * event loop, after every other client had its turn. */
static void take_turn(struct conn *c)
{
    if (!write_out(c) || c->blocked)
        return;
    size_t given = c->in_len - c->in_off, used = 0;
    check("wsgate_feed",
          wsgate_feed(server, c->id, c->in + c->in_off, given, now_ms(), &used));
    c->in_off += used;
    if (c->in_off == c->in_len)
        c->in_off = c->in_len = 0;
    const uint8_t *out;
    size_t len;
    check("wsgate_output", wsgate_output(server, c->id, &out, &len));
    c->again = len > 0;
    write_out(c);
}

/* After every client's turn (a turn may queue frames for others: broadcasts): writes out
 * what is left and closes the connection when wsgate wants it closed. */
static void finish_pass(struct conn *c)
{
    if (!write_out(c))
        return;
    if (wsgate_wants_close(server, c->id) == 1)
        drop_conn(c);
}

/* Reads what the socket has into the connection's input buffer. False: the peer is gone. */
static bool read_conn(struct conn *c)
{
    for (;;) {
        ssize_t n = recv(c->fd, c->in, sizeof c->in, 0);
        if (n > 0) {
            c->in_off = 0;
            c->in_len = (size_t)n;
            return true;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return true;
        return false; /* 0: the peer closed its side; <0: the socket failed */
    }
}

/* Takes every pending connection from the listening socket. */
static void accept_all(int listener)
{
    for (;;) {
        struct sockaddr_storage peer;
        socklen_t peer_len = sizeof peer;
        int fd = accept(listener, (struct sockaddr *)&peer, &peer_len);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            return; /* EAGAIN: no more for now (or out of descriptors: try later) */
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        set_nonblocking(fd);

        /* The peer's address, network byte order, for the per-address limit. */
        uint32_t id;
        int32_t rc;
        if (peer.ss_family == AF_INET) {
            const struct sockaddr_in *v4 = (const struct sockaddr_in *)&peer;
            rc = wsgate_accept_from(server, (const uint8_t *)&v4->sin_addr, 4, now_ms(), &id);
        } else if (peer.ss_family == AF_INET6) {
            const struct sockaddr_in6 *v6 = (const struct sockaddr_in6 *)&peer;
            rc = wsgate_accept_from(server, v6->sin6_addr.s6_addr, 16, now_ms(), &id);
        } else {
            rc = wsgate_accept(server, now_ms(), &id); /* an address wsgate does not know */
        }
        if (rc == WSGATE_ERR_FULL || rc == WSGATE_ERR_CLOSED || rc == WSGATE_ERR_PER_ADDRESS) {
            /* No slot (503), or too many from this address (429): answer and hang up (best
             * effort; the socket is fresh and empty). */
            size_t len;
            const uint8_t *bytes = wsgate_refusal_response(rc, &len);
            ssize_t n = send(fd, bytes, len, MSG_NOSIGNAL);
            (void)n;
            close(fd);
            continue;
        }
        check("wsgate_accept_from", rc);
        /* wsgate gave a slot, so one of ours is free too (both count WSGATE_MAX_CLIENTS). */
        size_t i = 0;
        while (i < WSGATE_MAX_CLIENTS && conns[i].fd >= 0)
            i++;
        if (i == WSGATE_MAX_CLIENTS) {
            close(fd);
            wsgate_release(server, id);
            continue;
        }
        conns[i] = (struct conn){.fd = fd, .id = id};
    }
}

static int listen_on(uint16_t port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) {
        perror("socket");
        exit(1);
    }
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons(port)};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, (struct sockaddr *)&addr, sizeof addr) < 0 || listen(fd, 16) < 0 ||
        set_nonblocking(fd) < 0) {
        perror("bind/listen");
        exit(1);
    }
    socklen_t addr_len = sizeof addr;
    getsockname(fd, (struct sockaddr *)&addr, &addr_len);
    printf("listening on 127.0.0.1:%u\n", (unsigned)ntohs(addr.sin_port));
    fflush(stdout);
    return fd;
}

/* --------------------------------------------------------------------------------------- */
/* The event loop                                                                          */
/* --------------------------------------------------------------------------------------- */

int main(int argc, char **argv)
{
    char *end = "";
    long port = argc > 1 ? strtol(argv[1], &end, 10) : 8080;
    if (argc > 2 || *end != '\0' || port < 0 || port > 65535) {
        fprintf(stderr, "usage: %s [PORT]   (0 picks a free port)\n", argv[0]);
        return 2;
    }
    setvbuf(stdout, NULL, _IOLBF, 0); /* one line at a time, also into a pipe */
    for (size_t i = 0; i < WSGATE_MAX_CLIENTS; i++)
        conns[i].fd = -1;

    if (pipe(signal_pipe) < 0 || set_nonblocking(signal_pipe[0]) < 0 ||
        set_nonblocking(signal_pipe[1]) < 0) {
        perror("pipe");
        return 1;
    }
    struct sigaction sa = {.sa_handler = on_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sa.sa_handler = SIG_IGN; /* a peer that left is seen by send() failing with EPIPE */
    sigaction(SIGPIPE, &sa, NULL);

    create_server();
    int listener = listen_on((uint16_t)port);
    bool closing = false;

    while (!closing || open_connections() > 0) {
        /* What to wait for: the signal pipe, new connections, and each client's socket
         * (readable unless it still holds unfed input, writable when output is stuck). */
        bool busy = false; /* some connection has work now: poll() must not sleep */
        struct pollfd fds[2 + WSGATE_MAX_CLIENTS];
        struct conn *polled[2 + WSGATE_MAX_CLIENTS];
        nfds_t nfds = 0;
        fds[nfds++] = (struct pollfd){.fd = signal_pipe[0], .events = POLLIN};
        if (listener >= 0)
            fds[nfds++] = (struct pollfd){.fd = listener, .events = POLLIN};
        for (size_t i = 0; i < WSGATE_MAX_CLIENTS; i++) {
            struct conn *c = &conns[i];
            if (c->fd < 0)
                continue;
            short events = c->in_off < c->in_len ? 0 : POLLIN;
            if (c->blocked)
                events |= POLLOUT;
            polled[nfds] = c;
            fds[nfds++] = (struct pollfd){.fd = c->fd, .events = events};
            busy |= has_work(c);
        }

        /* Sleep until the earliest timer at most; not at all while a connection has input
         * to feed or a message to resume (the next pass gives it its turn). */
        uint64_t deadline;
        check("wsgate_next_deadline", wsgate_next_deadline(server, &deadline));
        int timeout = -1;
        if (busy) {
            timeout = 0;
        } else if (deadline != UINT64_MAX) {
            uint64_t now = now_ms();
            uint64_t wait = deadline > now ? deadline - now : 0;
            timeout = wait > 60000 ? 60000 : (int)wait;
        }

        int ready = poll(fds, nfds, timeout);
        if (ready < 0 && errno != EINTR) {
            perror("poll");
            return 1;
        }

        /* A signal: stop accepting and close every client with 1001 Going Away. */
        if (signals_received > 0 && !closing) {
            printf("shutting down\n");
            closing = true;
            close(listener);
            listener = -1;
            check("wsgate_close", wsgate_close(server, now_ms()));
        } else if (signals_received > 1) {
            printf("second signal: exiting now\n");
            return 1;
        }

        /* Timers: handshake timeouts, pings, pong and close timeouts. */
        check("wsgate_poll", wsgate_poll(server, now_ms()));

        for (nfds_t i = 0; ready > 0 && i < nfds; i++) {
            if (fds[i].revents == 0)
                continue;
            if (fds[i].fd == signal_pipe[0]) {
                char drain[16];
                while (read(signal_pipe[0], drain, sizeof drain) > 0) {
                }
            } else if (fds[i].fd == listener) {
                accept_all(listener);
            } else {
                /* Read only once wsgate has taken the previous input (take_turn() feeds
                 * the rest below); a hang-up is seen by recv() returning 0 then. */
                struct conn *c = polled[i];
                bool can_read = c->in_off == c->in_len;
                if (can_read && (fds[i].revents & (POLLIN | POLLHUP | POLLERR)) && !read_conn(c))
                    drop_conn(c); /* the peer is gone: release the slot (1006 if still open) */
            }
        }

        /* One turn for every client (write out, feed once, write out); then, as any turn
         * or timer may have queued output for any client (a broadcast, a close), write
         * everything out and close what wsgate wants closed. */
        for (size_t i = 0; i < WSGATE_MAX_CLIENTS; i++)
            if (conns[i].fd >= 0)
                take_turn(&conns[i]);
        for (size_t i = 0; i < WSGATE_MAX_CLIENTS; i++)
            if (conns[i].fd >= 0)
                finish_pass(&conns[i]);
    }

    wsgate_stats stats;
    check("wsgate_get_stats", wsgate_get_stats(server, &stats));
    printf("bye: %" PRIu32 " accepted, %" PRIu32 " upgraded, %" PRIu32 " messages, %" PRIu32
           " dispatched, %" PRIu32 " frames sent\n",
           stats.accepted, stats.upgraded, stats.messages, stats.dispatched, stats.frames_sent);
    return 0;
}
