/*
 * Tests of wsgate's C API (include/wsgate.h), in plain C: every function, every error code,
 * and the NestJS sample exchange through the sans-IO calls, byte for byte.
 *
 * The program drives the server exactly as a C transport does (wsgate_accept, wsgate_feed,
 * wsgate_output + wsgate_consume, wsgate_poll, wsgate_wants_close, wsgate_release) with time
 * as a number, and builds the client's masked frames itself. It prints each failed check
 * with its file and line, then a last line `N passed, M failed`, and exits 1 on a failure.
 *
 * Built and run by tests/c_api.rs (`cargo test`), and with the sanitizers and under valgrind
 * by .ci/c.sh.
 */
#include <inttypes.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "wsgate.h"

/* --------------------------------------------------------------------------------------- */
/* Checks                                                                                  */
/* --------------------------------------------------------------------------------------- */

static unsigned passed, failed;

static void check(bool ok, const char *what, const char *file, int line)
{
    if (ok) {
        passed++;
    } else {
        failed++;
        printf("%s:%d: check failed: %s\n", file, line, what);
    }
}

static void check_eq(long long a, long long b, const char *what_a, const char *what_b,
                     const char *file, int line)
{
    if (a == b) {
        passed++;
    } else {
        failed++;
        printf("%s:%d: %s == %s failed: %lld != %lld\n", file, line, what_a, what_b, a, b);
    }
}

static void print_bytes(const char *label, const uint8_t *p, size_t n)
{
    printf("  %s (%zu bytes): \"", label, n);
    for (size_t i = 0; i < n; i++) {
        if (p[i] >= 0x20 && p[i] < 0x7f && p[i] != '"' && p[i] != '\\')
            putchar(p[i]);
        else
            printf("\\x%02x", p[i]);
    }
    printf("\"\n");
}

static void check_bytes(const uint8_t *a, size_t an, const void *b, size_t bn, const char *what,
                        const char *file, int line)
{
    if (an == bn && (an == 0 || memcmp(a, b, an) == 0)) {
        passed++;
    } else {
        failed++;
        printf("%s:%d: bytes differ: %s\n", file, line, what);
        print_bytes("actual", a, an);
        print_bytes("expected", b, bn);
    }
}

#define CHECK(cond) check((cond), #cond, __FILE__, __LINE__)
#define CHECK_EQ(a, b) check_eq((long long)(a), (long long)(b), #a, #b, __FILE__, __LINE__)
#define CHECK_BYTES(p, n, q, m) check_bytes((p), (n), (q), (m), #p " vs " #q, __FILE__, __LINE__)
/* Compares with a string literal (its bytes, without the NUL). */
#define CHECK_STR(p, n, lit) check_bytes((p), (n), (lit), sizeof(lit) - 1, #lit, __FILE__, __LINE__)

/* --------------------------------------------------------------------------------------- */
/* Fixtures: memory, wire bytes                                                            */
/* --------------------------------------------------------------------------------------- */

/* Room for one server plus a byte, so memory + 1 is a misaligned but big enough block. */
static _Alignas(WSGATE_SERVER_ALIGN) uint8_t memory[WSGATE_SERVER_SIZE + WSGATE_SERVER_ALIGN];
/* Never given to wsgate_create: a handle made of zeros. */
static _Alignas(WSGATE_SERVER_ALIGN) uint8_t zeros[WSGATE_SERVER_SIZE];

static const char SAMPLE_KEY[] = "dGhlIHNhbXBsZSBub25jZQ==";
static const char SAMPLE_101[] = "HTTP/1.1 101 Switching Protocols\r\n"
                                 "Upgrade: websocket\r\n"
                                 "Connection: Upgrade\r\n"
                                 "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n";
static const char FULL_503[] = "HTTP/1.1 503 Service Unavailable\r\n"
                               "Retry-After: 1\r\n"
                               "Content-Type: text/plain; charset=utf-8\r\n"
                               "Content-Length: 37\r\n"
                               "Connection: close\r\n"
                               "\r\n"
                               "server full: no free connection slot\n";

enum { OP_CONT = 0, OP_TEXT = 1, OP_BINARY = 2, OP_CLOSE = 8, OP_PING = 9, OP_PONG = 10 };

/* A byte string being built. */
struct bytes {
    uint8_t b[16384];
    size_t n;
};

static void put(struct bytes *o, const void *p, size_t n)
{
    if (n > sizeof o->b - o->n) {
        printf("test bug: struct bytes overflow\n");
        failed++;
        return;
    }
    if (n > 0)
        memcpy(o->b + o->n, p, n);
    o->n += n;
}

static void put_str(struct bytes *o, const char *s)
{
    put(o, s, strlen(s));
}

/* Appends a client frame: masked with `mask`, as RFC 6455 requires of clients. */
static void client_frame_masked(struct bytes *o, bool fin, int opcode, const void *payload,
                                size_t len, const uint8_t mask[4])
{
    uint8_t head[14];
    size_t h = 0;
    head[h++] = (uint8_t)((fin ? 0x80 : 0) | opcode);
    if (len < 126) {
        head[h++] = (uint8_t)(0x80 | len);
    } else if (len < 65536) {
        head[h++] = 0x80 | 126;
        head[h++] = (uint8_t)(len >> 8);
        head[h++] = (uint8_t)len;
    } else {
        head[h++] = 0x80 | 127;
        for (int i = 7; i >= 0; i--)
            head[h++] = (uint8_t)((uint64_t)len >> (8 * i));
    }
    memcpy(head + h, mask, 4);
    h += 4;
    put(o, head, h);
    const uint8_t *p = payload;
    for (size_t i = 0; i < len; i++) {
        uint8_t b = (uint8_t)(p[i] ^ mask[i % 4]);
        put(o, &b, 1);
    }
}

static const uint8_t MASK[4] = {0x37, 0xfa, 0x21, 0x3d};

static void client_frame(struct bytes *o, int opcode, const void *payload, size_t len)
{
    client_frame_masked(o, true, opcode, payload, len, MASK);
}

static void client_text(struct bytes *o, const char *text)
{
    client_frame(o, OP_TEXT, text, strlen(text));
}

/* Appends a frame as the server writes it: final, unmasked. */
static void server_frame(struct bytes *o, int opcode, const void *payload, size_t len)
{
    uint8_t head[10];
    size_t h = 0;
    head[h++] = (uint8_t)(0x80 | opcode);
    if (len < 126) {
        head[h++] = (uint8_t)len;
    } else if (len < 65536) {
        head[h++] = 126;
        head[h++] = (uint8_t)(len >> 8);
        head[h++] = (uint8_t)len;
    } else {
        head[h++] = 127;
        for (int i = 7; i >= 0; i--)
            head[h++] = (uint8_t)((uint64_t)len >> (8 * i));
    }
    put(o, head, h);
    put(o, payload, len);
}

static void server_text(struct bytes *o, const char *text)
{
    server_frame(o, OP_TEXT, text, strlen(text));
}

/* A close frame's payload: the code, big-endian, then the reason. */
static void close_payload(struct bytes *o, uint16_t code, const char *reason)
{
    uint8_t c[2] = {(uint8_t)(code >> 8), (uint8_t)code};
    put(o, c, 2);
    put_str(o, reason);
}

static void upgrade_request(struct bytes *o, const char *path, const char *key)
{
    put_str(o, "GET ");
    put_str(o, path);
    put_str(o, " HTTP/1.1\r\nHost: device.local\r\nUpgrade: websocket\r\n"
               "Connection: Upgrade\r\nSec-WebSocket-Key: ");
    put_str(o, key);
    put_str(o, "\r\nSec-WebSocket-Version: 13\r\n\r\n");
}

static const uint8_t *u8(const char *s)
{
    return (const uint8_t *)s;
}

/* --------------------------------------------------------------------------------------- */
/* What the handlers and callbacks saw                                                     */
/* --------------------------------------------------------------------------------------- */

struct seen {
    unsigned connects;
    uint32_t connect_client;
    char connect_path[WSGATE_MAX_PATH + 1];
    int32_t connect_reentry; /* wsgate_send from inside the connect callback */
    unsigned disconnects;
    uint32_t disconnect_client[32];
    uint16_t disconnect_code[32];
    int32_t disconnect_reentry;
    unsigned calls;           /* handler calls */
    uint32_t ctx_client;      /* wsgate_ctx_client in the last handler */
    int32_t broadcast_rc;     /* /chat message: what wsgate_ctx_broadcast returned */
    uint32_t broadcast_dropped;
    void *user;               /* the `user` pointer the last handler got */
    bool data_was_null;
    size_t data_len;
};
static struct seen seen;

/* Results of the `probe` handler: every in-handler error. */
struct probe {
    int32_t reentry[12];
    int32_t reply_null_event, reply_long_event, reply_bad_utf8_event, reply_bad_json,
        reply_empty_json, reply_null_json, reply_too_big, reply_ok_max_event, reply_json_bad,
        reply_json_null_len, broadcast_bad_json, broadcast_null_event, broadcast_null_dropped,
        close_bad_code[5], throw_null, throw_bad_utf8, throw_long, throw_short;
};
static struct probe probe;

static void on_connect(uint32_t client, const uint8_t *path, size_t path_len, void *user)
{
    seen.connects++;
    seen.connect_client = client;
    size_t n = path_len < WSGATE_MAX_PATH ? path_len : WSGATE_MAX_PATH;
    memcpy(seen.connect_path, path, n);
    seen.connect_path[n] = '\0';
    /* The server is inside wsgate_feed: a call on it is refused, not undefined. */
    seen.connect_reentry = wsgate_send((wsgate_server *)user, client, "hi", u8("1"), 1);
}

static void on_disconnect(uint32_t client, uint16_t code, void *user)
{
    if (seen.disconnects < 32) {
        seen.disconnect_client[seen.disconnects] = client;
        seen.disconnect_code[seen.disconnects] = code;
    }
    seen.disconnects++;
    wsgate_stats stats;
    seen.disconnect_reentry = wsgate_get_stats((wsgate_server *)user, &stats);
}

static void note_call(wsgate_ctx *ctx, const uint8_t *data, size_t len, void *user)
{
    seen.calls++;
    seen.ctx_client = wsgate_ctx_client(ctx);
    seen.user = user;
    seen.data_was_null = data == NULL;
    seen.data_len = len;
}

static int32_t h_events(wsgate_ctx *ctx, const char *event, size_t event_len, const uint8_t *data, size_t len, void *user)
{
    (void)event;
    (void)event_len;
    note_call(ctx, data, len, user);
    CHECK_EQ(wsgate_reply(ctx, "events", u8("1"), 1), WSGATE_OK);
    CHECK_EQ(wsgate_reply(ctx, "events", u8("2"), 1), WSGATE_OK);
    CHECK_EQ(wsgate_reply(ctx, "events", u8("3"), 1), WSGATE_OK);
    return 0;
}

static int32_t h_echo(wsgate_ctx *ctx, const char *event, size_t event_len, const uint8_t *data, size_t len, void *user)
{
    /* The handler is told which event it runs for (not NUL-terminated). */
    CHECK_EQ(event_len, (size_t)4);
    CHECK(memcmp(event, "echo", 4) == 0);
    note_call(ctx, data, len, user);
    if (data == NULL)
        return wsgate_reply(ctx, "echo", u8("null"), 4);
    return wsgate_reply(ctx, "echo", data, len);
}

static int32_t h_identity(wsgate_ctx *ctx, const char *event, size_t event_len, const uint8_t *data, size_t len, void *user)
{
    (void)event;
    (void)event_len;
    note_call(ctx, data, len, user);
    return data == NULL ? 0 : wsgate_reply_json(ctx, data, len);
}

static int32_t h_fail(wsgate_ctx *ctx, const char *event, size_t event_len, const uint8_t *data, size_t len, void *user)
{
    (void)event;
    (void)event_len;
    note_call(ctx, data, len, user);
    CHECK_EQ(wsgate_throw(ctx, "nope"), WSGATE_OK);
    return 1;
}

/* Fails without a message: "Internal server error". */
static int32_t h_crash(wsgate_ctx *ctx, const char *event, size_t event_len, const uint8_t *data, size_t len, void *user)
{
    (void)event;
    (void)event_len;
    note_call(ctx, data, len, user);
    return -1;
}

/* Throws a message longer than WSGATE_MAX_THROW: it is cut. */
static int32_t h_long_throw(wsgate_ctx *ctx, const char *event, size_t event_len, const uint8_t *data, size_t len, void *user)
{
    (void)event;
    (void)event_len;
    note_call(ctx, data, len, user);
    char message[201];
    memset(message, 'm', 200);
    message[200] = '\0';
    message[90] = '\xc3'; /* a two-byte character across the 96-byte cut: U+00E9 "é" */
    message[91] = '\xa9';
    message[95] = '\xc3';
    message[96] = '\xa9';
    probe.throw_long = wsgate_throw(ctx, message);
    return 1;
}

/* Every error a handler's context can return, and re-entry into the server. */
static int32_t h_probe(wsgate_ctx *ctx, const char *event, size_t event_len, const uint8_t *data, size_t len, void *user)
{
    (void)event;
    (void)event_len;
    note_call(ctx, data, len, user);
    wsgate_server *s = user;
    uint32_t id = wsgate_ctx_client(ctx), out;
    size_t n;
    const uint8_t *p;
    uint64_t t;
    wsgate_stats st;

    int i = 0;
    probe.reentry[i++] = wsgate_feed(s, id, NULL, 0, 0, &n);
    probe.reentry[i++] = wsgate_accept(s, 0, &out);
    probe.reentry[i++] = wsgate_output(s, id, &p, &n);
    probe.reentry[i++] = wsgate_consume(s, id, 0);
    probe.reentry[i++] = wsgate_send(s, id, "x", u8("1"), 1);
    probe.reentry[i++] = wsgate_broadcast(s, 0, "x", u8("1"), 1, NULL);
    probe.reentry[i++] = wsgate_get_stats(s, &st);
    probe.reentry[i++] = wsgate_next_deadline(s, &t);
    probe.reentry[i++] = wsgate_poll(s, 0);
    probe.reentry[i++] = wsgate_close_client(s, id, 1000, 0);
    probe.reentry[i++] = wsgate_release(s, id);
    probe.reentry[i++] = wsgate_close(s, 0);

    char long_event[WSGATE_MAX_EVENT + 2];
    memset(long_event, 'e', sizeof long_event - 1);
    long_event[sizeof long_event - 1] = '\0'; /* WSGATE_MAX_EVENT + 1 bytes */
    char max_event[WSGATE_MAX_EVENT + 1];
    memset(max_event, 'e', sizeof max_event - 1);
    max_event[sizeof max_event - 1] = '\0'; /* exactly WSGATE_MAX_EVENT bytes */
    static uint8_t big[WSGATE_TX_BUFFER + 16];
    memset(big, 'b', sizeof big);
    big[0] = '"';
    big[sizeof big - 1] = '"';

    probe.reply_null_event = wsgate_reply(ctx, NULL, u8("1"), 1);
    probe.reply_long_event = wsgate_reply(ctx, long_event, u8("1"), 1);
    probe.reply_bad_utf8_event = wsgate_reply(ctx, "\xff", u8("1"), 1);
    probe.reply_bad_json = wsgate_reply(ctx, "x", u8("{\"a\":}"), 6);
    probe.reply_empty_json = wsgate_reply(ctx, "x", u8(""), 0);
    probe.reply_null_json = wsgate_reply(ctx, "x", NULL, 3);
    probe.reply_too_big = wsgate_reply(ctx, "x", big, sizeof big);
    probe.reply_ok_max_event = wsgate_reply(ctx, max_event, u8("true"), 4);
    probe.reply_json_bad = wsgate_reply_json(ctx, u8("[1,]"), 4);
    probe.reply_json_null_len = wsgate_reply_json(ctx, NULL, 1);
    probe.broadcast_bad_json = wsgate_ctx_broadcast(ctx, "x", u8("1 2"), 3, NULL);
    probe.broadcast_null_event = wsgate_ctx_broadcast(ctx, NULL, u8("1"), 1, NULL);
    probe.broadcast_null_dropped = wsgate_ctx_broadcast(ctx, "b", u8("7"), 1, NULL);
    const uint16_t bad_codes[5] = {999, 1005, 1006, 1015, 5000};
    for (int k = 0; k < 5; k++)
        probe.close_bad_code[k] = wsgate_ctx_close(ctx, bad_codes[k]);
    probe.throw_null = wsgate_throw(ctx, NULL);
    probe.throw_bad_utf8 = wsgate_throw(ctx, "\xc3");
    probe.throw_short = wsgate_throw(ctx, "short");
    return 0; /* success: the thrown message is not sent */
}

/* What the `fill` handler did: it fills the client's transmit buffer, then fails. */
struct fill {
    int32_t big_rc;   /* the big reply */
    unsigned small;   /* small replies that fitted after it */
    int32_t last_rc;  /* the small reply that did not fit */
};
static struct fill fill;
/* The big reply's data: a JSON string of FILL_BIG bytes, quotes included. */
#define FILL_BIG 1100
static uint8_t fill_big[FILL_BIG];

/* Fills the transmit buffer (a big reply, then small ones until one does not fit) and
 * returns an error: the exception frame cannot fit either, so the client is closed with 1011
 * "reply did not fit". */
static int32_t h_fill(wsgate_ctx *ctx, const char *event, size_t event_len, const uint8_t *data, size_t len, void *user)
{
    (void)event;
    (void)event_len;
    note_call(ctx, data, len, user);
    memset(fill_big, 'f', sizeof fill_big);
    fill_big[0] = '"';
    fill_big[sizeof fill_big - 1] = '"';
    fill.big_rc = wsgate_reply(ctx, "f", fill_big, sizeof fill_big);
    fill.small = 0;
    for (;;) {
        fill.last_rc = wsgate_reply(ctx, "f", u8("1"), 1);
        if (fill.last_rc != WSGATE_OK || fill.small >= WSGATE_TX_BUFFER)
            break;
        fill.small++;
    }
    return -1;
}

/* /chat `message`: broadcast to every chat client. */
static int32_t h_message(wsgate_ctx *ctx, const char *event, size_t event_len, const uint8_t *data, size_t len, void *user)
{
    (void)event;
    (void)event_len;
    note_call(ctx, data, len, user);
    seen.broadcast_dropped = 12345;
    seen.broadcast_rc = wsgate_ctx_broadcast(ctx, "message", data ? data : u8("null"),
                                             data ? len : 4, &seen.broadcast_dropped);
    return seen.broadcast_rc < 0 ? seen.broadcast_rc : 0;
}

/* /chat `leave`: close with 4000 after the handler returns. */
static int32_t h_leave(wsgate_ctx *ctx, const char *event, size_t event_len, const uint8_t *data, size_t len, void *user)
{
    (void)event;
    (void)event_len;
    note_call(ctx, data, len, user);
    CHECK_EQ(wsgate_ctx_close(ctx, 4000), WSGATE_OK);
    return 0;
}

/* /chat `bye`: replies, then closes with 1000. */
static int32_t h_bye(wsgate_ctx *ctx, const char *event, size_t event_len, const uint8_t *data, size_t len, void *user)
{
    (void)event;
    (void)event_len;
    note_call(ctx, data, len, user);
    CHECK_EQ(wsgate_reply(ctx, "bye", u8("\"see you\""), 9), WSGATE_OK);
    return wsgate_ctx_close(ctx, 1000);
}

/* --------------------------------------------------------------------------------------- */
/* Driving the server                                                                      */
/* --------------------------------------------------------------------------------------- */

static uint32_t root_gw, chat_gw;
static int user_token; /* its address is the `user` of the `/` handlers */

/* A fresh server in `memory` with `/` and `/chat` and all the handlers above. */
static wsgate_server *setup(const wsgate_config *config)
{
    wsgate_server *s = NULL;
    memset(&seen, 0, sizeof seen);
    memset(&probe, 0, sizeof probe);
    memset(&fill, 0, sizeof fill);
    CHECK_EQ(wsgate_create(memory, sizeof memory, config, &s), WSGATE_OK);
    CHECK(s != NULL);
    CHECK_EQ(wsgate_add_gateway(s, "/", &root_gw), WSGATE_OK);
    CHECK_EQ(wsgate_add_gateway(s, "/chat", &chat_gw), WSGATE_OK);
    CHECK_EQ(root_gw, 0);
    CHECK_EQ(chat_gw, 1);
    void *u = &user_token;
    CHECK_EQ(wsgate_add_handler(s, root_gw, "events", h_events, u), WSGATE_OK);
    CHECK_EQ(wsgate_add_handler(s, root_gw, "echo", h_echo, u), WSGATE_OK);
    CHECK_EQ(wsgate_add_handler(s, root_gw, "identity", h_identity, u), WSGATE_OK);
    CHECK_EQ(wsgate_add_handler(s, root_gw, "fail", h_fail, u), WSGATE_OK);
    CHECK_EQ(wsgate_add_handler(s, root_gw, "crash", h_crash, u), WSGATE_OK);
    CHECK_EQ(wsgate_add_handler(s, root_gw, "long_throw", h_long_throw, u), WSGATE_OK);
    CHECK_EQ(wsgate_add_handler(s, root_gw, "probe", h_probe, s), WSGATE_OK);
    CHECK_EQ(wsgate_add_handler(s, root_gw, "fill", h_fill, u), WSGATE_OK);
    CHECK_EQ(wsgate_add_handler(s, chat_gw, "message", h_message, NULL), WSGATE_OK);
    CHECK_EQ(wsgate_add_handler(s, chat_gw, "leave", h_leave, NULL), WSGATE_OK);
    CHECK_EQ(wsgate_add_handler(s, chat_gw, "bye", h_bye, NULL), WSGATE_OK);
    /* The same event name on another gateway is a different handler. */
    CHECK_EQ(wsgate_add_handler(s, chat_gw, "echo", h_echo, NULL), WSGATE_OK);
    CHECK_EQ(wsgate_bind_client_connect(s, on_connect, s), WSGATE_OK);
    CHECK_EQ(wsgate_bind_client_disconnect(s, on_disconnect, s), WSGATE_OK);
    return s;
}

/* Everything wsgate has for `id` now (written out and consumed), resuming a message that
 * waited for room as a transport does. */
static size_t drain(wsgate_server *s, uint32_t id, struct bytes *o)
{
    size_t before = o->n;
    for (int rounds = 0; rounds < 64; rounds++) {
        const uint8_t *p = NULL;
        size_t n = 0;
        CHECK_EQ(wsgate_output(s, id, &p, &n), WSGATE_OK);
        if (n == 0) {
            size_t used = 99;
            CHECK_EQ(wsgate_feed(s, id, NULL, 0, 0, &used), WSGATE_OK);
            CHECK_EQ(used, 0);
            CHECK_EQ(wsgate_output(s, id, &p, &n), WSGATE_OK);
            if (n == 0)
                break;
        }
        put(o, p, n);
        CHECK_EQ(wsgate_consume(s, id, n), WSGATE_OK);
    }
    return o->n - before;
}

/* Feeds `in` whole and checks it was all taken. */
static void feed_all(wsgate_server *s, uint32_t id, const struct bytes *in, uint64_t now)
{
    size_t used = 0;
    CHECK_EQ(wsgate_feed(s, id, in->b, in->n, now, &used), WSGATE_OK);
    CHECK_EQ(used, in->n);
}

/* Sends one masked text frame and returns (in `out`) everything the server answered. */
static void say(wsgate_server *s, uint32_t id, const char *text, uint64_t now, struct bytes *out)
{
    struct bytes in = {.n = 0};
    client_text(&in, text);
    feed_all(s, id, &in, now);
    out->n = 0;
    drain(s, id, out);
}

/* Accepts a client and upgrades it on `path`; checks the exact 101. */
static uint32_t connect_client(wsgate_server *s, const char *path, uint64_t now)
{
    uint32_t id = 0;
    CHECK_EQ(wsgate_accept(s, now, &id), WSGATE_OK);
    struct bytes req = {.n = 0}, out = {.n = 0};
    upgrade_request(&req, path, SAMPLE_KEY);
    feed_all(s, id, &req, now);
    drain(s, id, &out);
    CHECK_STR(out.b, out.n, SAMPLE_101);
    CHECK_EQ(wsgate_wants_close(s, id), 0);
    return id;
}

/* The client closes with `code`; the server echoes it and wants the socket closed. */
static void client_closes(wsgate_server *s, uint32_t id, uint16_t code, uint64_t now)
{
    struct bytes payload = {.n = 0}, in = {.n = 0}, out = {.n = 0}, expected = {.n = 0};
    close_payload(&payload, code, "done");
    client_frame(&in, OP_CLOSE, payload.b, payload.n);
    feed_all(s, id, &in, now);
    drain(s, id, &out);
    server_frame(&expected, OP_CLOSE, payload.b, payload.n);
    CHECK_BYTES(out.b, out.n, expected.b, expected.n);
    CHECK_EQ(wsgate_wants_close(s, id), 1);
    CHECK_EQ(wsgate_release(s, id), WSGATE_OK);
}

/* --------------------------------------------------------------------------------------- */
/* The tests                                                                               */
/* --------------------------------------------------------------------------------------- */

static void test_sizes_and_defaults(void)
{
    CHECK(wsgate_server_size() > 0);
    CHECK(wsgate_server_size() <= WSGATE_SERVER_SIZE);
    CHECK(WSGATE_SERVER_SIZE % WSGATE_SERVER_ALIGN == 0);
    CHECK(WSGATE_SERVER_ALIGN >= _Alignof(uint64_t));

    wsgate_config c;
    memset(&c, 0xff, sizeof c);
    CHECK_EQ(wsgate_config_default(&c), WSGATE_OK);
    CHECK_EQ(c.handshake_timeout_ms, 5000);
    CHECK_EQ(c.ping_interval_ms, 30000);
    CHECK_EQ(c.pong_timeout_ms, 10000);
    CHECK_EQ(c.close_timeout_ms, 2000);
    CHECK_EQ(c.max_head, WSGATE_MAX_MESSAGE);
    CHECK_EQ(c.reply_room, 256);
    CHECK_EQ(c.message_timeout_ms, 10000);
    CHECK_EQ(c.messages_per_turn, 16);
    CHECK_EQ(c.peer_bytes_per_turn, 1024);
    CHECK_EQ(c.max_per_address, 0);
    CHECK_EQ(wsgate_config_default(NULL), WSGATE_ERR_NULL);
}

static void test_create(void)
{
    wsgate_server *s = NULL;
    size_t need = wsgate_server_size();
    CHECK_EQ(wsgate_create(NULL, sizeof memory, NULL, &s), WSGATE_ERR_NULL);
    CHECK_EQ(wsgate_create(memory, sizeof memory, NULL, NULL), WSGATE_ERR_NULL);
    CHECK_EQ(wsgate_create(memory, need - 1, NULL, &s), WSGATE_ERR_TOO_SMALL);
    CHECK_EQ(wsgate_create(memory, 0, NULL, &s), WSGATE_ERR_TOO_SMALL);
    CHECK_EQ(wsgate_create(memory + 1, sizeof memory - 1, NULL, &s), WSGATE_ERR_ALIGN);
    CHECK(s == NULL); /* nothing written on failure */
    CHECK_EQ(wsgate_create(memory, need, NULL, &s), WSGATE_OK);
    CHECK(s == (wsgate_server *)memory);

    /* A config: max_head above the receive buffer is capped, not refused. */
    wsgate_config c;
    wsgate_config_default(&c);
    c.max_head = 1u << 30;
    CHECK_EQ(wsgate_create(memory, sizeof memory, &c, &s), WSGATE_OK);
}

/* Every call that takes a server refuses NULL, zeroed memory and a misaligned pointer. */
static void test_bad_handles(void)
{
    wsgate_server *handles[3] = {NULL, (wsgate_server *)zeros, (wsgate_server *)(zeros + 1)};
    int32_t expected[3] = {WSGATE_ERR_NULL, WSGATE_ERR_BAD_HANDLE, WSGATE_ERR_BAD_HANDLE};
    for (int i = 0; i < 3; i++) {
        wsgate_server *s = handles[i];
        int32_t e = expected[i];
        uint32_t u32;
        uint64_t u64;
        size_t n;
        const uint8_t *p;
        wsgate_stats st;
        CHECK_EQ(wsgate_add_gateway(s, "/", &u32), e);
        CHECK_EQ(wsgate_add_handler(s, 0, "x", h_echo, NULL), e);
        CHECK_EQ(wsgate_bind_client_connect(s, on_connect, NULL), e);
        CHECK_EQ(wsgate_bind_client_disconnect(s, on_disconnect, NULL), e);
        CHECK_EQ(wsgate_close(s, 0), e);
        CHECK_EQ(wsgate_accept(s, 0, &u32), e);
        CHECK_EQ(wsgate_accept_from(s, u8("\x7f\0\0\x01"), 4, 0, &u32), e);
        CHECK_EQ(wsgate_feed(s, 0, NULL, 0, 0, &n), e);
        CHECK_EQ(wsgate_output(s, 0, &p, &n), e);
        CHECK_EQ(wsgate_consume(s, 0, 0), e);
        CHECK_EQ(wsgate_wants_close(s, 0), e);
        CHECK_EQ(wsgate_release(s, 0), e);
        CHECK_EQ(wsgate_poll(s, 0), e);
        CHECK_EQ(wsgate_next_deadline(s, &u64), e);
        CHECK_EQ(wsgate_send(s, 0, "x", u8("1"), 1), e);
        CHECK_EQ(wsgate_broadcast(s, 0, "x", u8("1"), 1, NULL), e);
        CHECK_EQ(wsgate_close_client(s, 0, 1000, 0), e);
        CHECK_EQ(wsgate_get_stats(s, &st), e);
    }
    /* The zeroed memory was only read. */
    size_t nonzero = 0;
    for (size_t i = 0; i < sizeof zeros; i++)
        nonzero += zeros[i] != 0;
    CHECK_EQ(nonzero, 0);

    /* Every call that takes a handler context: NULL, and memory that is not a context. */
    wsgate_ctx *bad = (wsgate_ctx *)zeros;
    CHECK_EQ(wsgate_reply(NULL, "x", u8("1"), 1), WSGATE_ERR_NULL);
    CHECK_EQ(wsgate_reply_json(NULL, u8("1"), 1), WSGATE_ERR_NULL);
    CHECK_EQ(wsgate_ctx_broadcast(NULL, "x", u8("1"), 1, NULL), WSGATE_ERR_NULL);
    CHECK_EQ(wsgate_ctx_close(NULL, 1000), WSGATE_ERR_NULL);
    CHECK_EQ(wsgate_throw(NULL, "x"), WSGATE_ERR_NULL);
    CHECK_EQ(wsgate_ctx_client(NULL), 0);
    CHECK_EQ(wsgate_reply(bad, "x", u8("1"), 1), WSGATE_ERR_BAD_HANDLE);
    CHECK_EQ(wsgate_reply_json(bad, u8("1"), 1), WSGATE_ERR_BAD_HANDLE);
    CHECK_EQ(wsgate_ctx_broadcast(bad, "x", u8("1"), 1, NULL), WSGATE_ERR_BAD_HANDLE);
    CHECK_EQ(wsgate_ctx_close(bad, 1000), WSGATE_ERR_BAD_HANDLE);
    CHECK_EQ(wsgate_throw(bad, "x"), WSGATE_ERR_BAD_HANDLE);
    CHECK_EQ(wsgate_ctx_client(bad), 0);
    /* A server handle is not a context either. */
    wsgate_server *s = setup(NULL);
    CHECK_EQ(wsgate_reply((wsgate_ctx *)s, "x", u8("1"), 1), WSGATE_ERR_BAD_HANDLE);
}

/* Gateways and handlers: NULLs, strings, duplicates, full tables, and STARTED. */
static void test_registration(void)
{
    wsgate_server *s = NULL;
    uint32_t g = 99;
    CHECK_EQ(wsgate_create(memory, sizeof memory, NULL, &s), WSGATE_OK);

    CHECK_EQ(wsgate_add_gateway(s, "/", NULL), WSGATE_ERR_NULL);
    CHECK_EQ(wsgate_add_gateway(s, NULL, &g), WSGATE_ERR_NULL);
    CHECK_EQ(wsgate_add_gateway(s, "/\xff", &g), WSGATE_ERR_INVALID);
    char path[WSGATE_MAX_PATH + 2];
    memset(path, 'p', sizeof path - 1);
    path[0] = '/';
    path[sizeof path - 1] = '\0'; /* WSGATE_MAX_PATH + 1 bytes */
    CHECK_EQ(wsgate_add_gateway(s, path, &g), WSGATE_ERR_INVALID);
    CHECK_EQ(g, 99); /* untouched on failure */
    path[WSGATE_MAX_PATH] = '\0'; /* exactly WSGATE_MAX_PATH bytes */
    CHECK_EQ(wsgate_add_gateway(s, path, &g), WSGATE_OK);
    CHECK_EQ(g, 0);
    CHECK_EQ(wsgate_add_gateway(s, "", &g), WSGATE_OK); /* "" is "/" */
    CHECK_EQ(g, 1);
    CHECK_EQ(wsgate_add_gateway(s, "/", &g), WSGATE_ERR_DUPLICATE);
    CHECK_EQ(wsgate_add_gateway(s, "ws/", &g), WSGATE_OK);
    CHECK_EQ(g, 2);
    CHECK_EQ(wsgate_add_gateway(s, "/ws", &g), WSGATE_ERR_DUPLICATE); /* "ws/" is "/ws" */
    CHECK_EQ(wsgate_add_gateway(s, "/rooms/:id", &g), WSGATE_OK);
    CHECK_EQ(g, 3);
    CHECK_EQ(WSGATE_MAX_GATEWAYS, 4);
    CHECK_EQ(wsgate_add_gateway(s, "/five", &g), WSGATE_ERR_TABLE_FULL);

    CHECK_EQ(wsgate_add_handler(s, 0, "e", NULL, NULL), WSGATE_ERR_NULL);
    CHECK_EQ(wsgate_add_handler(s, 0, NULL, h_echo, NULL), WSGATE_ERR_NULL);
    CHECK_EQ(wsgate_add_handler(s, 0, "\xc3\x28", h_echo, NULL), WSGATE_ERR_INVALID);
    char event[WSGATE_MAX_EVENT + 2];
    memset(event, 'e', sizeof event - 1);
    event[sizeof event - 1] = '\0';
    CHECK_EQ(wsgate_add_handler(s, 0, event, h_echo, NULL), WSGATE_ERR_INVALID);
    event[WSGATE_MAX_EVENT] = '\0';
    CHECK_EQ(wsgate_add_handler(s, 0, event, h_echo, NULL), WSGATE_OK);
    CHECK_EQ(wsgate_add_handler(s, 4, "e", h_echo, NULL), WSGATE_ERR_UNKNOWN_GATEWAY);
    CHECK_EQ(wsgate_add_handler(s, UINT32_MAX, "e", h_echo, NULL),
             WSGATE_ERR_UNKNOWN_GATEWAY);
    CHECK_EQ(wsgate_add_handler(s, 1, "dup", h_echo, NULL), WSGATE_OK);
    CHECK_EQ(wsgate_add_handler(s, 1, "dup", h_events, NULL), WSGATE_ERR_DUPLICATE);
    CHECK_EQ(wsgate_add_handler(s, 2, "dup", h_echo, NULL), WSGATE_OK);
    /* Gateway 1 has one handler: fill it up to WSGATE_MAX_HANDLERS, then one more. */
    for (int i = 1; i < WSGATE_MAX_HANDLERS; i++) {
        char name[16];
        snprintf(name, sizeof name, "h%d", i);
        CHECK_EQ(wsgate_add_handler(s, 1, name, h_echo, NULL), WSGATE_OK);
    }
    CHECK_EQ(wsgate_add_handler(s, 1, "one_more", h_echo, NULL), WSGATE_ERR_TABLE_FULL);
    /* NULL callbacks are allowed: they unset the callback. */
    CHECK_EQ(wsgate_bind_client_connect(s, NULL, NULL), WSGATE_OK);
    CHECK_EQ(wsgate_bind_client_disconnect(s, NULL, NULL), WSGATE_OK);

    /* wsgate_accept with no place for the id changes nothing, not even "started". */
    CHECK_EQ(wsgate_accept(s, 0, NULL), WSGATE_ERR_NULL);
    CHECK_EQ(wsgate_add_handler(s, 2, "late_but_ok", h_echo, NULL), WSGATE_OK);

    /* After the first accept, the tables are fixed. */
    uint32_t id;
    CHECK_EQ(wsgate_accept(s, 0, &id), WSGATE_OK);
    CHECK_EQ(wsgate_add_gateway(s, "/late", &g), WSGATE_ERR_STARTED);
    CHECK_EQ(wsgate_add_handler(s, 0, "late", h_echo, NULL), WSGATE_ERR_STARTED);
    CHECK_EQ(wsgate_bind_client_connect(s, on_connect, NULL), WSGATE_ERR_STARTED);
    CHECK_EQ(wsgate_bind_client_disconnect(s, on_disconnect, NULL), WSGATE_ERR_STARTED);

    /* The `:id` gateway routes. */
    struct bytes req = {.n = 0}, out = {.n = 0};
    upgrade_request(&req, "/rooms/42", SAMPLE_KEY);
    feed_all(s, id, &req, 0);
    drain(s, id, &out);
    CHECK_STR(out.b, out.n, SAMPLE_101);
}

/* The NestJS sample, exact bytes both ways. */
static void test_sample_exchange(void)
{
    wsgate_server *s = setup(NULL);
    uint32_t id = 0;
    CHECK_EQ(wsgate_accept(s, 1000, &id), WSGATE_OK);
    CHECK(id != 0);
    CHECK_EQ(seen.connects, 0); /* not before the upgrade */

    struct bytes req = {.n = 0}, out = {.n = 0}, expected = {.n = 0};
    upgrade_request(&req, "/", SAMPLE_KEY);
    size_t used = 0;
    CHECK_EQ(wsgate_feed(s, id, req.b, req.n, 1000, &used), WSGATE_OK);
    CHECK_EQ(used, req.n);
    const uint8_t *p = NULL;
    size_t n = 0;
    CHECK_EQ(wsgate_output(s, id, &p, &n), WSGATE_OK);
    CHECK_STR(p, n, SAMPLE_101);
    /* Written out in two parts. */
    CHECK_EQ(wsgate_consume(s, id, 10), WSGATE_OK);
    CHECK_EQ(wsgate_output(s, id, &p, &n), WSGATE_OK);
    CHECK_BYTES(p, n, SAMPLE_101 + 10, sizeof SAMPLE_101 - 1 - 10);
    CHECK_EQ(wsgate_consume(s, id, n), WSGATE_OK);
    CHECK_EQ(wsgate_output(s, id, &p, &n), WSGATE_OK);
    CHECK_EQ(n, 0);
    CHECK_EQ(seen.connects, 1);
    CHECK_EQ(seen.connect_client, id);
    CHECK(strcmp(seen.connect_path, "/") == 0);
    CHECK_EQ(seen.connect_reentry, WSGATE_ERR_BUSY);

    /* events -> 1, 2, 3: one text frame each. */
    say(s, id, "{\"event\":\"events\",\"data\":\"test\"}", 1001, &out);
    server_text(&expected, "{\"event\":\"events\",\"data\":1}");
    server_text(&expected, "{\"event\":\"events\",\"data\":2}");
    server_text(&expected, "{\"event\":\"events\",\"data\":3}");
    CHECK_BYTES(out.b, out.n, expected.b, expected.n);
    CHECK(out.n >= 2 && out.b[0] == 0x81 && out.b[1] == 27);
    CHECK_EQ(seen.calls, 1);
    CHECK_EQ(seen.ctx_client, id);
    CHECK(seen.user == &user_token);
    CHECK_EQ(seen.data_len, 6); /* "test" with its quotes */

    /* echo: whitespace compacted as JSON.stringify prints it. */
    say(s, id, "{\"event\": \"echo\", \"data\": {\"a\": [1, 2]}}", 1002, &out);
    expected.n = 0;
    server_text(&expected, "{\"event\":\"echo\",\"data\":{\"a\":[1,2]}}");
    CHECK_BYTES(out.b, out.n, expected.b, expected.n);

    /* No data: the handler gets NULL, 0. */
    say(s, id, "{\"event\":\"echo\"}", 1003, &out);
    CHECK(seen.data_was_null);
    CHECK_EQ(seen.data_len, 0);
    expected.n = 0;
    server_text(&expected, "{\"event\":\"echo\",\"data\":null}");
    CHECK_BYTES(out.b, out.n, expected.b, expected.n);

    /* identity: the value as it is; falsy values are sent. */
    say(s, id, "{\"data\":0,\"event\":\"identity\"}", 1004, &out);
    expected.n = 0;
    server_text(&expected, "0");
    CHECK_BYTES(out.b, out.n, expected.b, expected.n);
    /* A binary frame holding an envelope is handled too; replies are text. */
    struct bytes in = {.n = 0};
    client_frame(&in, OP_BINARY, "{\"event\":\"identity\",\"data\":[false]}", 35);
    feed_all(s, id, &in, 1005);
    out.n = 0;
    drain(s, id, &out);
    expected.n = 0;
    server_text(&expected, "[false]");
    CHECK_BYTES(out.b, out.n, expected.b, expected.n);

    /* Dropped as NestJS drops them: nothing is sent. */
    unsigned calls = seen.calls;
    const char *drops[] = {"not json", "[1,2]", "{\"data\":1}", "{\"event\":\"nobody\"}"};
    for (int i = 0; i < 4; i++) {
        say(s, id, drops[i], 1006, &out);
        CHECK_EQ(out.n, 0);
    }
    CHECK_EQ(seen.calls, calls);

    /* A ping is answered with the same payload. */
    in.n = 0;
    client_frame(&in, OP_PING, "abc", 3);
    feed_all(s, id, &in, 1007);
    out.n = 0;
    drain(s, id, &out);
    CHECK_STR(out.b, out.n, "\x8a\x03" "abc");

    /* Exceptions: wsgate_throw's message, or "Internal server error". */
    say(s, id, "{\"event\":\"fail\",\"data\":{\"x\": 1}}", 1008, &out);
    expected.n = 0;
    server_text(&expected, "{\"event\":\"exception\",\"data\":{\"status\":\"error\","
                           "\"message\":\"nope\",\"cause\":{\"pattern\":\"fail\","
                           "\"data\":{\"x\":1}}}}");
    CHECK_BYTES(out.b, out.n, expected.b, expected.n);
    say(s, id, "{\"event\":\"crash\"}", 1009, &out);
    expected.n = 0;
    server_text(&expected, "{\"event\":\"exception\",\"data\":{\"status\":\"error\","
                           "\"message\":\"Internal server error\",\"cause\":{\"pattern\":"
                           "\"crash\"}}}");
    CHECK_BYTES(out.b, out.n, expected.b, expected.n);
    /* A long message is cut at WSGATE_MAX_THROW bytes, at a character boundary. */
    say(s, id, "{\"event\":\"long_throw\",\"data\":1}", 1010, &out);
    CHECK_EQ(probe.throw_long, WSGATE_OK);
    char message[200];
    memset(message, 'm', 95);
    memcpy(message + 90, "\xc3\xa9", 2);
    message[95] = '\0'; /* 95 bytes: the "é" at 95..96 does not fit in 96 */
    struct bytes text = {.n = 0};
    put_str(&text, "{\"event\":\"exception\",\"data\":{\"status\":\"error\",\"message\":\"");
    put_str(&text, message);
    put_str(&text, "\",\"cause\":{\"pattern\":\"long_throw\",\"data\":1}}}");
    expected.n = 0;
    server_frame(&expected, OP_TEXT, text.b, text.n);
    CHECK_BYTES(out.b, out.n, expected.b, expected.n);

    wsgate_stats st;
    CHECK_EQ(wsgate_get_stats(s, &st), WSGATE_OK);
    CHECK_EQ(st.accepted, 1);
    CHECK_EQ(st.upgraded, 1);
    CHECK_EQ(st.messages, 12);
    CHECK_EQ(st.dispatched, 8);
    CHECK_EQ(st.dropped, 4);
    CHECK_EQ(st.exceptions, 3);
    CHECK_EQ(st.frames_sent, 7); /* 3 events, 2 echo, 2 identity (exceptions apart) */
    CHECK_EQ(wsgate_get_stats(s, NULL), WSGATE_ERR_NULL);

    client_closes(s, id, 1000, 1011);
    CHECK_EQ(seen.disconnects, 1);
    CHECK_EQ(seen.disconnect_client[0], id);
    CHECK_EQ(seen.disconnect_code[0], 1000);
    CHECK_EQ(seen.disconnect_reentry, WSGATE_ERR_BUSY);
    CHECK_EQ(wsgate_get_stats(s, &st), WSGATE_OK);
    CHECK_EQ(st.closed_by_peer, 1);
}

/* Every error a handler's context gives, and BUSY for every call on the server. */
static void test_handler_errors(void)
{
    wsgate_server *s = setup(NULL);
    uint32_t id = connect_client(s, "/", 0);
    uint32_t other = connect_client(s, "/", 0);
    struct bytes out = {.n = 0}, expected = {.n = 0};
    say(s, id, "{\"event\":\"probe\"}", 1, &out);
    CHECK(seen.user == s);
    for (int i = 0; i < 12; i++)
        CHECK_EQ(probe.reentry[i], WSGATE_ERR_BUSY);
    CHECK_EQ(probe.reply_null_event, WSGATE_ERR_NULL);
    CHECK_EQ(probe.reply_long_event, WSGATE_ERR_INVALID);
    CHECK_EQ(probe.reply_bad_utf8_event, WSGATE_ERR_INVALID);
    CHECK_EQ(probe.reply_bad_json, WSGATE_ERR_BAD_JSON);
    CHECK_EQ(probe.reply_empty_json, WSGATE_ERR_BAD_JSON);
    CHECK_EQ(probe.reply_null_json, WSGATE_ERR_NULL);
    CHECK_EQ(probe.reply_too_big, WSGATE_ERR_SEND_FULL);
    CHECK_EQ(probe.reply_ok_max_event, WSGATE_OK);
    CHECK_EQ(probe.reply_json_bad, WSGATE_ERR_BAD_JSON);
    CHECK_EQ(probe.reply_json_null_len, WSGATE_ERR_NULL);
    CHECK_EQ(probe.broadcast_bad_json, WSGATE_ERR_BAD_JSON);
    CHECK_EQ(probe.broadcast_null_event, WSGATE_ERR_NULL);
    CHECK_EQ(probe.broadcast_null_dropped, 2); /* both clients of `/` */
    for (int i = 0; i < 5; i++)
        CHECK_EQ(probe.close_bad_code[i], WSGATE_ERR_INVALID);
    CHECK_EQ(probe.throw_null, WSGATE_ERR_NULL);
    CHECK_EQ(probe.throw_bad_utf8, WSGATE_ERR_INVALID);
    CHECK_EQ(probe.throw_short, WSGATE_OK);
    /* Only what succeeded was sent, in order; the busy calls changed nothing. */
    server_text(&expected, "{\"event\":\"eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee\",\"data\":true}");
    server_text(&expected, "{\"event\":\"b\",\"data\":7}");
    CHECK_BYTES(out.b, out.n, expected.b, expected.n);
    out.n = 0;
    drain(s, other, &out);
    expected.n = 0;
    server_text(&expected, "{\"event\":\"b\",\"data\":7}");
    CHECK_BYTES(out.b, out.n, expected.b, expected.n);
    CHECK_EQ(wsgate_wants_close(s, id), 0);
    wsgate_stats st;
    CHECK_EQ(wsgate_get_stats(s, &st), WSGATE_OK);
    CHECK_EQ(st.exceptions, 0);
    CHECK_EQ(st.send_failed, 1);
    CHECK_EQ(st.accepted, 2);
}

/* wsgate_send, wsgate_broadcast and wsgate_close_client from outside any handler. */
static void test_send_and_broadcast(void)
{
    wsgate_server *s = setup(NULL);
    uint32_t a = connect_client(s, "/chat", 0);
    uint32_t b = connect_client(s, "/chat", 0);
    uint32_t r = connect_client(s, "/", 0);
    uint32_t pending = 0;
    CHECK_EQ(wsgate_accept(s, 0, &pending), WSGATE_OK); /* still in its handshake */
    struct bytes out = {.n = 0}, expected = {.n = 0};

    CHECK_EQ(wsgate_send(s, r, "news", u8("{ \"n\" : 1 }"), 11), WSGATE_OK);
    drain(s, r, &out);
    server_text(&expected, "{\"event\":\"news\",\"data\":{\"n\":1}}");
    CHECK_BYTES(out.b, out.n, expected.b, expected.n);
    /* Event names are JSON-escaped. */
    CHECK_EQ(wsgate_send(s, r, "q\"\\", u8("1"), 1), WSGATE_OK);
    out.n = expected.n = 0;
    drain(s, r, &out);
    server_text(&expected, "{\"event\":\"q\\\"\\\\\",\"data\":1}");
    CHECK_BYTES(out.b, out.n, expected.b, expected.n);

    CHECK_EQ(wsgate_send(s, r, NULL, u8("1"), 1), WSGATE_ERR_NULL);
    CHECK_EQ(wsgate_send(s, r, "x", NULL, 1), WSGATE_ERR_NULL);
    /* NULL with length 0 is "no data": {"event":"x"}, as JSON.stringify writes it. */
    CHECK_EQ(wsgate_send(s, r, "x", NULL, 0), WSGATE_OK);
    out.n = expected.n = 0;
    drain(s, r, &out);
    server_text(&expected, "{\"event\":\"x\"}");
    CHECK_BYTES(out.b, out.n, expected.b, expected.n);
    CHECK_EQ(wsgate_send(s, r, "x", u8("tru"), 3), WSGATE_ERR_BAD_JSON);
    /* JSON is UTF-8 (RFC 8259) and a text frame must be: a string holding a byte that is not
     * UTF-8 is refused, never sent. */
    CHECK_EQ(wsgate_send(s, r, "x", u8("\"\xff\""), 3), WSGATE_ERR_BAD_JSON);
    drain(s, r, &out);
    out.n = 0;
    CHECK_EQ(wsgate_send(s, r, "\xe2\x82", u8("1"), 1), WSGATE_ERR_INVALID);
    CHECK_EQ(wsgate_send(s, r ^ 0x10000u, "x", u8("1"), 1), WSGATE_ERR_UNKNOWN_CLIENT);
    CHECK_EQ(wsgate_send(s, 0, "x", u8("1"), 1), WSGATE_ERR_UNKNOWN_CLIENT);
    CHECK_EQ(wsgate_send(s, UINT32_MAX, "x", u8("1"), 1), WSGATE_ERR_UNKNOWN_CLIENT);
    CHECK_EQ(wsgate_send(s, pending, "x", u8("1"), 1), WSGATE_ERR_NOT_OPEN);

    /* Broadcast to /chat: a and b get it, r (on /) does not. */
    uint32_t dropped = 99;
    CHECK_EQ(wsgate_broadcast(s, chat_gw, "message", u8("\"all\""), 5, &dropped), 2);
    CHECK_EQ(dropped, 0);
    expected.n = 0;
    server_text(&expected, "{\"event\":\"message\",\"data\":\"all\"}");
    out.n = 0;
    drain(s, a, &out);
    CHECK_BYTES(out.b, out.n, expected.b, expected.n);
    out.n = 0;
    drain(s, b, &out);
    CHECK_BYTES(out.b, out.n, expected.b, expected.n);
    out.n = 0;
    drain(s, r, &out);
    CHECK_EQ(out.n, 0);
    CHECK_EQ(wsgate_broadcast(s, 2, "x", u8("1"), 1, NULL), WSGATE_ERR_UNKNOWN_GATEWAY);
    CHECK_EQ(wsgate_broadcast(s, chat_gw, "x", u8("[1"), 2, NULL), WSGATE_ERR_BAD_JSON);
    CHECK_EQ(wsgate_broadcast(s, chat_gw, NULL, u8("1"), 1, NULL), WSGATE_ERR_NULL);

    /* A client that does not read: its transmit buffer fills up. */
    static uint8_t chunk[500];
    memset(chunk, 'z', sizeof chunk);
    chunk[0] = chunk[sizeof chunk - 1] = '"';
    int sent = 0;
    int32_t rc;
    while ((rc = wsgate_send(s, b, "fill", chunk, sizeof chunk)) == WSGATE_OK)
        sent++;
    CHECK_EQ(rc, WSGATE_ERR_SEND_FULL);
    CHECK_EQ(sent, WSGATE_TX_BUFFER / (int)(sizeof chunk + 24));
    /* A broadcast is dropped for b and still reaches a. */
    dropped = 99;
    CHECK_EQ(wsgate_broadcast(s, chat_gw, "big", chunk, sizeof chunk, &dropped), 1);
    CHECK_EQ(dropped, 1);
    out.n = expected.n = 0;
    drain(s, a, &out);
    struct bytes big_text = {.n = 0};
    put_str(&big_text, "{\"event\":\"big\",\"data\":");
    put(&big_text, chunk, sizeof chunk);
    put_str(&big_text, "}");
    server_frame(&expected, OP_TEXT, big_text.b, big_text.n);
    CHECK_BYTES(out.b, out.n, expected.b, expected.n);
    /* From a handler: a short message still fits in b's remaining room; a long one not. */
    say(s, a, "{\"event\":\"message\",\"data\":\"hey\"}", 1, &out);
    CHECK_EQ(seen.broadcast_rc, 2);
    CHECK_EQ(seen.broadcast_dropped, 0);
    expected.n = 0;
    server_text(&expected, "{\"event\":\"message\",\"data\":\"hey\"}");
    CHECK_BYTES(out.b, out.n, expected.b, expected.n);
    struct bytes long_message = {.n = 0};
    put_str(&long_message, "{\"event\":\"message\",\"data\":");
    put(&long_message, chunk, sizeof chunk);
    put_str(&long_message, "}");
    put(&long_message, "", 1);
    say(s, a, (const char *)long_message.b, 2, &out);
    CHECK_EQ(seen.broadcast_rc, 1);
    CHECK_EQ(seen.broadcast_dropped, 1);
    wsgate_stats st;
    CHECK_EQ(wsgate_get_stats(s, &st), WSGATE_OK);
    CHECK_EQ(st.broadcast_dropped, 2);
    CHECK(st.send_failed >= 1);

    /* Closing one client with an application code. */
    CHECK_EQ(wsgate_close_client(s, r, 4321, 5), WSGATE_OK);
    out.n = 0;
    drain(s, r, &out);
    CHECK_STR(out.b, out.n, "\x88\x02\x10\xe1");
    CHECK_EQ(wsgate_wants_close(s, r), 0); /* waits for the client's close */
    CHECK_EQ(wsgate_send(s, r, "x", u8("1"), 1), WSGATE_ERR_NOT_OPEN);
    struct bytes in = {.n = 0}, payload = {.n = 0};
    close_payload(&payload, 4321, "");
    client_frame(&in, OP_CLOSE, payload.b, payload.n);
    feed_all(s, r, &in, 6);
    out.n = 0;
    drain(s, r, &out);
    CHECK_EQ(out.n, 0); /* nothing more to say */
    CHECK_EQ(wsgate_wants_close(s, r), 1);
    CHECK_EQ(wsgate_release(s, r), WSGATE_OK);
    CHECK_EQ(seen.disconnect_code[seen.disconnects - 1], 4321);
    CHECK_EQ(wsgate_get_stats(s, &st), WSGATE_OK);
    CHECK_EQ(st.closed_by_server, 1);

    const uint16_t bad_codes[6] = {0, 999, 1004, 1005, 1006, 5000};
    for (int i = 0; i < 6; i++)
        CHECK_EQ(wsgate_close_client(s, a, bad_codes[i], 7), WSGATE_ERR_INVALID);
    CHECK_EQ(wsgate_close_client(s, r, 1000, 7), WSGATE_ERR_UNKNOWN_CLIENT);

    /* /chat `leave` closes from inside a handler with 4000; `bye` replies first. */
    say(s, a, "{\"event\":\"leave\"}", 8, &out);
    CHECK_STR(out.b, out.n, "\x88\x02\x0f\xa0");
    uint32_t c = connect_client(s, "/chat", 9);
    say(s, c, "{\"event\":\"bye\"}", 9, &out);
    expected.n = 0;
    server_text(&expected, "{\"event\":\"bye\",\"data\":\"see you\"}");
    put(&expected, "\x88\x02\x03\xe8", 4);
    CHECK_BYTES(out.b, out.n, expected.b, expected.n);
}

/* The upgrade and a frame, one byte per wsgate_feed. */
static void test_one_byte_per_call(void)
{
    wsgate_server *s = setup(NULL);
    uint32_t id = 0;
    CHECK_EQ(wsgate_accept(s, 0, &id), WSGATE_OK);
    struct bytes req = {.n = 0}, out = {.n = 0}, expected = {.n = 0};
    upgrade_request(&req, "/", SAMPLE_KEY);
    size_t ones = 0;
    for (size_t i = 0; i < req.n; i++) {
        size_t used = 0;
        CHECK(wsgate_feed(s, id, req.b + i, 1, i, &used) == WSGATE_OK);
        ones += used == 1;
        if (i + 1 < req.n) {
            const uint8_t *p;
            size_t n = 1;
            wsgate_output(s, id, &p, &n);
            CHECK(n == 0 || !"output before the head ended");
        }
    }
    CHECK_EQ(ones, req.n);
    drain(s, id, &out);
    CHECK_STR(out.b, out.n, SAMPLE_101);

    /* A message with a 16-bit length, and a ping, a byte at a time. */
    char text[201];
    int len = snprintf(text, sizeof text, "{\"event\":\"echo\",\"data\":\"%0*d\"}", 170, 7);
    CHECK(len > 125 && len < 200);
    struct bytes in = {.n = 0};
    const uint8_t mask[4] = {0xde, 0xad, 0xbe, 0xef};
    client_frame_masked(&in, true, OP_TEXT, text, (size_t)len, mask);
    client_frame(&in, OP_PING, "hello", 5);
    ones = 0;
    for (size_t i = 0; i < in.n; i++) {
        size_t used = 0;
        CHECK(wsgate_feed(s, id, in.b + i, 1, 100, &used) == WSGATE_OK);
        ones += used == 1;
    }
    CHECK_EQ(ones, in.n);
    out.n = 0;
    drain(s, id, &out);
    server_text(&expected, text);
    server_frame(&expected, OP_PONG, "hello", 5);
    CHECK_BYTES(out.b, out.n, expected.b, expected.n);
    CHECK(out.n > 4 && out.b[1] == 126); /* the reply has a 16-bit length too */
}

/* The request and three messages in one read, with a transmit buffer that cannot take all
 * the replies at once: wsgate_feed takes part, the rest is fed after writing out. */
static void test_partial_feed(void)
{
    wsgate_config c;
    wsgate_config_default(&c);
    c.reply_room = WSGATE_TX_BUFFER; /* dispatch only with an empty transmit buffer */
    wsgate_server *s = setup(&c);
    uint32_t id = 0;
    CHECK_EQ(wsgate_accept(s, 0, &id), WSGATE_OK);
    struct bytes in = {.n = 0}, out = {.n = 0}, expected = {.n = 0};
    upgrade_request(&in, "/", SAMPLE_KEY);
    client_text(&in, "{\"event\":\"events\"}");
    client_text(&in, "{\"event\":\"echo\",\"data\":1}");
    client_text(&in, "{\"event\":\"echo\",\"data\":2}");
    put_str(&expected, SAMPLE_101);
    server_text(&expected, "{\"event\":\"events\",\"data\":1}");
    server_text(&expected, "{\"event\":\"events\",\"data\":2}");
    server_text(&expected, "{\"event\":\"events\",\"data\":3}");
    server_text(&expected, "{\"event\":\"echo\",\"data\":1}");
    server_text(&expected, "{\"event\":\"echo\",\"data\":2}");

    /* The loop of a transport: feed, write out, feed the rest. */
    size_t off = 0;
    int partial = 0;
    for (int rounds = 0; rounds < 20 && off < in.n; rounds++) {
        size_t used = 0;
        CHECK_EQ(wsgate_feed(s, id, in.b + off, in.n - off, 0, &used), WSGATE_OK);
        off += used;
        partial += off < in.n;
        drain(s, id, &out);
    }
    CHECK_EQ(off, in.n);
    CHECK(partial > 0);
    drain(s, id, &out);
    CHECK_BYTES(out.b, out.n, expected.b, expected.n);
    wsgate_stats st;
    wsgate_get_stats(s, &st);
    CHECK_EQ(st.dispatched, 3);
    CHECK_EQ(st.send_failed, 0);
}

/* Every slot taken, the 503, several clients interleaved, close and re-use of slots. */
static void test_several_clients(void)
{
    wsgate_server *s = setup(NULL);
    uint32_t ids[WSGATE_MAX_CLIENTS];
    for (int i = 0; i < WSGATE_MAX_CLIENTS; i++) {
        ids[i] = connect_client(s, "/", (uint64_t)i);
        for (int j = 0; j < i; j++)
            CHECK(ids[i] != ids[j]);
    }
    uint32_t extra = 12345;
    CHECK_EQ(wsgate_accept(s, 10, &extra), WSGATE_ERR_FULL);
    CHECK_EQ(extra, 12345);
    size_t len = 0;
    const uint8_t *full = wsgate_full_response(&len);
    CHECK_STR(full, len, FULL_503);
    CHECK(wsgate_full_response(NULL) == full);

    /* Interleaved: half a frame from one client, whole frames from the others, the rest. */
    struct bytes msg = {.n = 0}, out = {.n = 0}, expected = {.n = 0};
    client_text(&msg, "{\"event\":\"events\"}");
    size_t used;
    CHECK_EQ(wsgate_feed(s, ids[0], msg.b, 5, 20, &used), WSGATE_OK);
    CHECK_EQ(used, 5);
    server_text(&expected, "{\"event\":\"events\",\"data\":1}");
    server_text(&expected, "{\"event\":\"events\",\"data\":2}");
    server_text(&expected, "{\"event\":\"events\",\"data\":3}");
    for (int i = 1; i < WSGATE_MAX_CLIENTS; i++) {
        feed_all(s, ids[i], &msg, 21);
        out.n = 0;
        drain(s, ids[i], &out);
        CHECK_BYTES(out.b, out.n, expected.b, expected.n);
    }
    out.n = 0;
    drain(s, ids[0], &out);
    CHECK_EQ(out.n, 0);
    CHECK_EQ(wsgate_feed(s, ids[0], msg.b + 5, msg.n - 5, 22, &used), WSGATE_OK);
    CHECK_EQ(used, msg.n - 5);
    drain(s, ids[0], &out);
    CHECK_BYTES(out.b, out.n, expected.b, expected.n);

    /* A peer that vanishes: release reports 1006. */
    unsigned before = seen.disconnects;
    CHECK_EQ(wsgate_release(s, ids[3]), WSGATE_OK);
    CHECK_EQ(seen.disconnects, before + 1);
    CHECK_EQ(seen.disconnect_client[before], ids[3]);
    CHECK_EQ(seen.disconnect_code[before], 1006);
    /* The old id is gone everywhere. */
    const uint8_t *p;
    size_t n;
    CHECK_EQ(wsgate_release(s, ids[3]), WSGATE_ERR_UNKNOWN_CLIENT);
    CHECK_EQ(wsgate_output(s, ids[3], &p, &n), WSGATE_ERR_UNKNOWN_CLIENT);
    CHECK_EQ(wsgate_consume(s, ids[3], 0), WSGATE_ERR_UNKNOWN_CLIENT);
    CHECK_EQ(wsgate_feed(s, ids[3], msg.b, msg.n, 23, &used), WSGATE_ERR_UNKNOWN_CLIENT);
    CHECK_EQ(wsgate_send(s, ids[3], "x", u8("1"), 1), WSGATE_ERR_UNKNOWN_CLIENT);
    CHECK_EQ(wsgate_close_client(s, ids[3], 1000, 23), WSGATE_ERR_UNKNOWN_CLIENT);
    CHECK_EQ(wsgate_wants_close(s, ids[3]), 1); /* an unknown client: close its socket */
    CHECK_EQ(seen.disconnects, before + 1);      /* reported once */

    /* The slot is used again, under a new id; the old one stays unknown. */
    uint32_t again = connect_client(s, "/", 30);
    CHECK(again != ids[3]);
    for (int i = 0; i < WSGATE_MAX_CLIENTS; i++)
        CHECK(again != ids[i]);
    CHECK_EQ(wsgate_send(s, ids[3], "x", u8("1"), 1), WSGATE_ERR_UNKNOWN_CLIENT);
    CHECK_EQ(wsgate_send(s, again, "x", u8("1"), 1), WSGATE_OK);
    CHECK_EQ(wsgate_accept(s, 31, &extra), WSGATE_ERR_FULL);
    ids[3] = again;

    /* Every client leaves with a close handshake; then all slots are free again. */
    for (int i = 0; i < WSGATE_MAX_CLIENTS; i++) {
        out.n = 0;
        drain(s, ids[i], &out);
        client_closes(s, ids[i], 1000, 40);
    }
    for (int round = 0; round < 3; round++) {
        uint32_t fresh[WSGATE_MAX_CLIENTS];
        for (int i = 0; i < WSGATE_MAX_CLIENTS; i++) {
            CHECK_EQ(wsgate_accept(s, 50, &fresh[i]), WSGATE_OK);
            for (int j = 0; j < WSGATE_MAX_CLIENTS; j++)
                CHECK(fresh[i] != ids[j]);
        }
        CHECK_EQ(wsgate_accept(s, 50, &extra), WSGATE_ERR_FULL);
        for (int i = 0; i < WSGATE_MAX_CLIENTS; i++) {
            CHECK_EQ(wsgate_release(s, fresh[i]), WSGATE_OK); /* never upgraded: no report */
            ids[i] = fresh[i];
        }
    }
    wsgate_stats st;
    wsgate_get_stats(s, &st);
    CHECK_EQ(st.accepted, WSGATE_MAX_CLIENTS + 1 + 3 * WSGATE_MAX_CLIENTS);
    CHECK_EQ(st.refused_full, 5);
    CHECK_EQ(st.upgraded, WSGATE_MAX_CLIENTS + 1);
    CHECK_EQ(st.closed_peer_gone, 1);
    CHECK_EQ(st.closed_by_peer, WSGATE_MAX_CLIENTS);
    CHECK_EQ(seen.disconnects, WSGATE_MAX_CLIENTS + 1);
}

/* A binary frame is not checked as UTF-8 on the way in, but a text frame going out must be
 * UTF-8 (RFC 6455 5.6; browsers fail the connection with 1007 otherwise): the echo of a
 * JSON string holding the byte 0xff must not carry that byte. */
static void test_text_frames_are_utf8(void)
{
    wsgate_server *s = setup(NULL);
    uint32_t id = connect_client(s, "/", 0);
    struct bytes in = {.n = 0}, out = {.n = 0};
    static const char message[] = "{\"event\":\"echo\",\"data\":\"\xff\"}";
    client_frame(&in, OP_BINARY, message, sizeof message - 1);
    feed_all(s, id, &in, 1);
    drain(s, id, &out);
    CHECK(memchr(out.b, 0xff, out.n) == NULL);
    wsgate_stats st;
    wsgate_get_stats(s, &st);
    CHECK_EQ(st.messages, 1);
}

/* HTTP refusals through the C API: unknown path and a bad request. */
static void test_refusals(void)
{
    wsgate_server *s = setup(NULL);
    uint32_t id;
    struct bytes req = {.n = 0}, out = {.n = 0};
    CHECK_EQ(wsgate_accept(s, 0, &id), WSGATE_OK);
    upgrade_request(&req, "/nowhere", SAMPLE_KEY);
    feed_all(s, id, &req, 0);
    drain(s, id, &out);
    CHECK(out.n > 24 && memcmp(out.b, "HTTP/1.1 404 Not Found\r\n", 24) == 0);
    CHECK_EQ(wsgate_wants_close(s, id), 1);
    CHECK_EQ(wsgate_release(s, id), WSGATE_OK);
    CHECK_EQ(seen.disconnects, 0); /* never upgraded: no disconnect */

    CHECK_EQ(wsgate_accept(s, 0, &id), WSGATE_OK);
    req.n = out.n = 0;
    put_str(&req, "POST / HTTP/1.1\r\nHost: x\r\n\r\n");
    feed_all(s, id, &req, 0);
    drain(s, id, &out);
    CHECK(out.n > 34 && memcmp(out.b, "HTTP/1.1 405 Method Not Allowed\r\n", 33) == 0);
    CHECK_EQ(wsgate_release(s, id), WSGATE_OK);

    wsgate_stats st;
    wsgate_get_stats(s, &st);
    CHECK_EQ(st.http_404, 1);
    CHECK_EQ(st.http_405, 1);
}

/* Timers through wsgate_next_deadline and wsgate_poll. */
static void test_timers(void)
{
    wsgate_config c;
    wsgate_config_default(&c);
    c.handshake_timeout_ms = 1000;
    c.ping_interval_ms = 5000;
    c.pong_timeout_ms = 2000;
    c.close_timeout_ms = 1500;
    wsgate_server *s = setup(&c);
    uint64_t deadline = 0;
    CHECK_EQ(wsgate_next_deadline(s, &deadline), WSGATE_OK);
    CHECK(deadline == UINT64_MAX);
    CHECK_EQ(wsgate_next_deadline(s, NULL), WSGATE_ERR_NULL);
    CHECK_EQ(wsgate_poll(s, 0), WSGATE_OK); /* no clients: nothing to do */

    /* A request head that never comes: 408 at the handshake timeout. */
    uint32_t slow;
    CHECK_EQ(wsgate_accept(s, 100, &slow), WSGATE_OK);
    CHECK_EQ(wsgate_next_deadline(s, &deadline), WSGATE_OK);
    CHECK(deadline == 1100);
    CHECK_EQ(wsgate_poll(s, 1099), WSGATE_OK);
    struct bytes out = {.n = 0}, expected = {.n = 0};
    drain(s, slow, &out);
    CHECK_EQ(out.n, 0);
    CHECK_EQ(wsgate_poll(s, 1100), WSGATE_OK);
    drain(s, slow, &out);
    CHECK(out.n > 27 && memcmp(out.b, "HTTP/1.1 408 Request Timeout\r\n", 30) == 0);
    CHECK_EQ(wsgate_wants_close(s, slow), 1);
    CHECK_EQ(wsgate_release(s, slow), WSGATE_OK);

    /* Silence: a ping at ping_interval, then dropped at pong_timeout (1006). */
    uint32_t id = connect_client(s, "/", 2000);
    CHECK_EQ(wsgate_next_deadline(s, &deadline), WSGATE_OK);
    CHECK(deadline == 7000);
    CHECK_EQ(wsgate_poll(s, 6999), WSGATE_OK);
    out.n = 0;
    drain(s, id, &out);
    CHECK_EQ(out.n, 0);
    CHECK_EQ(wsgate_poll(s, 7000), WSGATE_OK);
    drain(s, id, &out);
    server_frame(&expected, OP_PING, "wsgate", 6);
    CHECK_BYTES(out.b, out.n, expected.b, expected.n);
    CHECK_EQ(wsgate_next_deadline(s, &deadline), WSGATE_OK);
    CHECK(deadline == 9000);
    CHECK_EQ(wsgate_poll(s, 9000), WSGATE_OK);
    CHECK_EQ(wsgate_wants_close(s, id), 1);
    CHECK_EQ(seen.disconnects, 1);
    CHECK_EQ(seen.disconnect_code[0], 1006);
    CHECK_EQ(wsgate_release(s, id), WSGATE_OK);
    CHECK_EQ(seen.disconnects, 1);

    /* A pong answers the ping: the next ping comes ping_interval after it. */
    id = connect_client(s, "/", 10000);
    CHECK_EQ(wsgate_poll(s, 15000), WSGATE_OK);
    out.n = 0;
    drain(s, id, &out);
    CHECK_BYTES(out.b, out.n, expected.b, expected.n);
    struct bytes in = {.n = 0};
    client_frame(&in, OP_PONG, "wsgate", 6);
    feed_all(s, id, &in, 15500);
    CHECK_EQ(wsgate_poll(s, 17000), WSGATE_OK);
    CHECK_EQ(wsgate_wants_close(s, id), 0);
    CHECK_EQ(wsgate_next_deadline(s, &deadline), WSGATE_OK);
    CHECK(deadline == 20500);

    /* Our close unanswered: dropped at close_timeout. */
    CHECK_EQ(wsgate_close_client(s, id, 1000, 18000), WSGATE_OK);
    out.n = 0;
    drain(s, id, &out);
    CHECK_STR(out.b, out.n, "\x88\x02\x03\xe8");
    CHECK_EQ(wsgate_next_deadline(s, &deadline), WSGATE_OK);
    CHECK(deadline == 19500);
    CHECK_EQ(wsgate_poll(s, 19500), WSGATE_OK);
    CHECK_EQ(wsgate_wants_close(s, id), 1);
    CHECK_EQ(wsgate_release(s, id), WSGATE_OK);
    CHECK_EQ(wsgate_next_deadline(s, &deadline), WSGATE_OK);
    CHECK(deadline == UINT64_MAX);

    wsgate_stats st;
    wsgate_get_stats(s, &st);
    CHECK_EQ(st.http_408, 1);
    CHECK_EQ(st.pings_sent, 2);
    CHECK_EQ(st.closed_idle, 1);
    CHECK_EQ(st.closed_close_timeout, 1);
    CHECK_EQ(seen.disconnects, 2);
    CHECK_EQ(seen.disconnect_code[1], 1006);
}

/* wsgate_close: 1001 to open clients, 503 to those in their handshake, CLOSED to new ones. */
static void test_server_close(void)
{
    wsgate_server *s = setup(NULL);
    uint32_t open = connect_client(s, "/", 0);
    uint32_t chat = connect_client(s, "/chat", 0);
    uint32_t early;
    CHECK_EQ(wsgate_accept(s, 0, &early), WSGATE_OK);
    CHECK_EQ(wsgate_close(s, 10), WSGATE_OK);

    struct bytes out = {.n = 0}, expected = {.n = 0}, payload = {.n = 0};
    close_payload(&payload, 1001, "server shutting down");
    server_frame(&expected, OP_CLOSE, payload.b, payload.n);
    drain(s, open, &out);
    CHECK_BYTES(out.b, out.n, expected.b, expected.n);
    out.n = 0;
    drain(s, chat, &out);
    CHECK_BYTES(out.b, out.n, expected.b, expected.n);
    out.n = 0;
    drain(s, early, &out);
    CHECK_STR(out.b, out.n, "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\n"
                            "Content-Type: text/plain; charset=utf-8\r\nContent-Length: 21\r\n"
                            "Connection: close\r\n\r\nserver shutting down\n");
    CHECK_EQ(wsgate_wants_close(s, early), 1);
    CHECK_EQ(wsgate_release(s, early), WSGATE_OK);

    uint32_t late = 777;
    CHECK_EQ(wsgate_accept(s, 11, &late), WSGATE_ERR_CLOSED);
    CHECK_EQ(late, 777);
    CHECK_EQ(wsgate_send(s, open, "x", u8("1"), 1), WSGATE_ERR_NOT_OPEN);
    CHECK_EQ(wsgate_broadcast(s, root_gw, "x", u8("1"), 1, NULL), 0);

    /* The client answers our close: nothing more to send, the socket is to be closed. */
    struct bytes in = {.n = 0};
    payload.n = 0;
    close_payload(&payload, 1001, "");
    client_frame(&in, OP_CLOSE, payload.b, payload.n);
    feed_all(s, open, &in, 12);
    out.n = 0;
    drain(s, open, &out);
    CHECK_EQ(out.n, 0);
    CHECK_EQ(wsgate_wants_close(s, open), 1);
    CHECK_EQ(wsgate_release(s, open), WSGATE_OK);
    CHECK_EQ(seen.disconnects, 1);
    CHECK_EQ(seen.disconnect_code[0], 1001);
    /* The other one never answers: dropped after the close timeout. */
    uint64_t deadline;
    CHECK_EQ(wsgate_next_deadline(s, &deadline), WSGATE_OK);
    CHECK(deadline == 10 + 2000);
    CHECK_EQ(wsgate_poll(s, deadline), WSGATE_OK);
    CHECK_EQ(wsgate_wants_close(s, chat), 1);
    CHECK_EQ(wsgate_release(s, chat), WSGATE_OK);
    CHECK_EQ(seen.disconnects, 2);
    CHECK_EQ(wsgate_close(s, 13), WSGATE_OK); /* again: harmless */

    wsgate_stats st;
    wsgate_get_stats(s, &st);
    CHECK_EQ(st.refused_full, 1);
    CHECK_EQ(st.closed_close_timeout, 1);
}

/* --------------------------------------------------------------------------------------- */
/* Issue 10: per-address limit, refusals, turns, the message deadline, no silent loss       */
/* --------------------------------------------------------------------------------------- */

static const char TOO_MANY_429[] = "HTTP/1.1 429 Too Many Requests\r\n"
                                   "Retry-After: 1\r\n"
                                   "Content-Type: text/plain; charset=utf-8\r\n"
                                   "Content-Length: 39\r\n"
                                   "Connection: close\r\n"
                                   "\r\n"
                                   "too many connections from this address\n";

/* Upgrades an accepted client on `/`; checks the exact 101. */
static void upgrade(wsgate_server *s, uint32_t id, uint64_t now)
{
    struct bytes req = {.n = 0}, out = {.n = 0};
    upgrade_request(&req, "/", SAMPLE_KEY);
    feed_all(s, id, &req, now);
    drain(s, id, &out);
    CHECK_STR(out.b, out.n, SAMPLE_101);
}

/* wsgate_accept_from: the limit per address, IPv4 and IPv6 (an IPv4-mapped IPv6 address is
 * the IPv4 one), the argument errors, and that wsgate_accept is never limited. */
static void test_accept_from(void)
{
    wsgate_config c;
    wsgate_config_default(&c);
    c.max_per_address = 2;
    wsgate_server *s = setup(&c);
    static const uint8_t a4[4] = {192, 0, 2, 7};
    static const uint8_t a4_mapped[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 0, 2, 7};
    static const uint8_t b4[4] = {192, 0, 2, 8};
    static const uint8_t a6[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    static const uint8_t a6_other[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2};

    /* The argument errors come first: nothing is accepted or counted. */
    uint32_t id = 4242;
    CHECK_EQ(wsgate_accept_from(s, NULL, 4, 0, &id), WSGATE_ERR_NULL);
    CHECK_EQ(wsgate_accept_from(s, NULL, 0, 0, &id), WSGATE_ERR_NULL);
    CHECK_EQ(wsgate_accept_from(s, a4, 4, 0, NULL), WSGATE_ERR_NULL);
    const size_t bad_lens[] = {0, 1, 3, 5, 6, 8, 15, 17, 32};
    for (size_t i = 0; i < sizeof bad_lens / sizeof bad_lens[0]; i++)
        CHECK_EQ(wsgate_accept_from(s, a6, bad_lens[i], 0, &id), WSGATE_ERR_INVALID);
    CHECK_EQ(id, 4242);

    /* Two slots from one IPv4 address; the third is refused, also as IPv4-mapped IPv6. */
    uint32_t a1, a2, b1, v1, v2, anon1, anon2;
    CHECK_EQ(wsgate_accept_from(s, a4, 4, 0, &a1), WSGATE_OK);
    CHECK_EQ(wsgate_accept_from(s, a4_mapped, 16, 0, &a2), WSGATE_OK); /* the same address */
    CHECK(a1 != 0 && a2 != 0 && a1 != a2);
    CHECK_EQ(wsgate_accept_from(s, a4, 4, 1, &id), WSGATE_ERR_PER_ADDRESS);
    CHECK_EQ(wsgate_accept_from(s, a4_mapped, 16, 1, &id), WSGATE_ERR_PER_ADDRESS);
    CHECK_EQ(id, 4242);
    size_t len = 0;
    const uint8_t *refusal = wsgate_refusal_response(WSGATE_ERR_PER_ADDRESS, &len);
    CHECK_STR(refusal, len, TOO_MANY_429);
    /* Another address has its own count. */
    CHECK_EQ(wsgate_accept_from(s, b4, 4, 1, &b1), WSGATE_OK);
    /* IPv6 the same way. */
    CHECK_EQ(wsgate_accept_from(s, a6, 16, 2, &v1), WSGATE_OK);
    CHECK_EQ(wsgate_accept_from(s, a6, 16, 2, &v2), WSGATE_OK);
    CHECK_EQ(wsgate_accept_from(s, a6, 16, 2, &id), WSGATE_ERR_PER_ADDRESS);
    /* An address unknown (wsgate_accept) is never limited. */
    CHECK_EQ(wsgate_accept(s, 3, &anon1), WSGATE_OK);
    CHECK_EQ(wsgate_accept(s, 3, &anon2), WSGATE_OK);

    /* A slot given back makes room for its address again; clients work as any other. */
    upgrade(s, a1, 4);
    struct bytes out = {.n = 0}, expected = {.n = 0};
    say(s, a1, "{\"event\":\"echo\",\"data\":\"v4\"}", 5, &out);
    server_text(&expected, "{\"event\":\"echo\",\"data\":\"v4\"}");
    CHECK_BYTES(out.b, out.n, expected.b, expected.n);
    client_closes(s, a1, 1000, 6);
    uint32_t a3;
    CHECK_EQ(wsgate_accept_from(s, a4, 4, 7, &a3), WSGATE_OK);
    CHECK_EQ(wsgate_accept_from(s, a4, 4, 7, &id), WSGATE_ERR_PER_ADDRESS);

    /* With one more, all 8 slots are taken (a2, a3, b1, v1, v2, anon1, anon2, last): a new
     * address gets FULL (503), not PER_ADDRESS. */
    uint32_t last;
    CHECK_EQ(wsgate_accept_from(s, a6_other, 16, 8, &last), WSGATE_OK);
    CHECK_EQ(WSGATE_MAX_CLIENTS, 8);
    CHECK_EQ(wsgate_accept_from(s, b4, 4, 8, &id), WSGATE_ERR_FULL);
    refusal = wsgate_refusal_response(WSGATE_ERR_FULL, &len);
    CHECK_STR(refusal, len, FULL_503);
    /* An address at its limit on a full server: PER_ADDRESS is checked first. */
    CHECK_EQ(wsgate_accept_from(s, a6, 16, 8, &id), WSGATE_ERR_PER_ADDRESS);
    CHECK_EQ(id, 4242);

    wsgate_stats st;
    CHECK_EQ(wsgate_get_stats(s, &st), WSGATE_OK);
    CHECK_EQ(st.accepted, 9);
    CHECK_EQ(st.refused_per_address, 5);
    CHECK_EQ(st.refused_full, 1);
    CHECK_EQ(st.upgraded, 1);

    /* Closing: every address gets CLOSED, and the 503 goes with it. */
    CHECK_EQ(wsgate_close(s, 9), WSGATE_OK);
    CHECK_EQ(wsgate_release(s, a2), WSGATE_OK);
    CHECK_EQ(wsgate_accept_from(s, b4, 4, 10, &id), WSGATE_ERR_CLOSED);
    CHECK_EQ(id, 4242);

    /* A server with no limit (the default): one address may take every slot. */
    s = setup(NULL);
    uint32_t ids[WSGATE_MAX_CLIENTS];
    for (int i = 0; i < WSGATE_MAX_CLIENTS; i++)
        CHECK_EQ(wsgate_accept_from(s, a4, 4, 0, &ids[i]), WSGATE_OK);
    CHECK_EQ(wsgate_accept_from(s, a4, 4, 0, &id), WSGATE_ERR_FULL);
    CHECK_EQ(wsgate_get_stats(s, &st), WSGATE_OK);
    CHECK_EQ(st.refused_per_address, 0);
    CHECK_EQ(st.refused_full, 1);
}

/* wsgate_refusal_response: the exact 503 and 429, NULL for every other code. */
static void test_refusal_response(void)
{
    size_t len = 99;
    const uint8_t *full = wsgate_refusal_response(WSGATE_ERR_FULL, &len);
    CHECK_STR(full, len, FULL_503);
    len = 99;
    const uint8_t *closed = wsgate_refusal_response(WSGATE_ERR_CLOSED, &len);
    CHECK_STR(closed, len, FULL_503);
    size_t full_len = 0;
    CHECK(full != NULL && wsgate_full_response(&full_len) != NULL);
    CHECK_EQ(full_len, sizeof FULL_503 - 1);
    len = 99;
    const uint8_t *per = wsgate_refusal_response(WSGATE_ERR_PER_ADDRESS, &len);
    CHECK_STR(per, len, TOO_MANY_429);
    /* len may be NULL. */
    CHECK(wsgate_refusal_response(WSGATE_ERR_PER_ADDRESS, NULL) == per);
    CHECK(wsgate_refusal_response(WSGATE_ERR_FULL, NULL) == full);
    /* Any other code: NULL and 0. */
    const int32_t others[] = {WSGATE_OK,          WSGATE_ERR_NULL,   WSGATE_ERR_BAD_HANDLE,
                              WSGATE_ERR_UNKNOWN_CLIENT, WSGATE_ERR_INVALID,
                              WSGATE_ERR_SEND_FULL, WSGATE_ERR_STARTED, -18, 1, 429, 503,
                              INT32_MIN,          INT32_MAX};
    for (size_t i = 0; i < sizeof others / sizeof others[0]; i++) {
        len = 99;
        CHECK(wsgate_refusal_response(others[i], &len) == NULL);
        CHECK_EQ(len, 0);
        CHECK(wsgate_refusal_response(others[i], NULL) == NULL);
    }
}

/* A zeroed wsgate_config (0 everywhere): every limit off and every timer off. */
static void test_zeroed_config(void)
{
    wsgate_config c;
    memset(&c, 0, sizeof c);
    wsgate_server *s = setup(&c);
    static const uint8_t a4[4] = {127, 0, 0, 1};

    /* max_per_address 0: no limit. */
    uint32_t ids[WSGATE_MAX_CLIENTS];
    for (int i = 0; i < WSGATE_MAX_CLIENTS; i++)
        CHECK_EQ(wsgate_accept_from(s, a4, 4, 0, &ids[i]), WSGATE_OK);
    for (int i = 1; i < WSGATE_MAX_CLIENTS; i++)
        CHECK_EQ(wsgate_release(s, ids[i]), WSGATE_OK);
    uint32_t id = ids[0];
    /* handshake_timeout_ms 0: no timer while the head is awaited; max_head 0: the largest. */
    uint64_t deadline = 0;
    CHECK_EQ(wsgate_next_deadline(s, &deadline), WSGATE_OK);
    CHECK(deadline == UINT64_MAX);
    upgrade(s, id, 1);

    /* messages_per_turn 0 and peer_bytes_per_turn 0: one feed takes all 40 messages. */
    struct bytes in = {.n = 0}, out = {.n = 0}, expected = {.n = 0};
    for (int i = 0; i < 40; i++) {
        char text[64];
        snprintf(text, sizeof text, "{\"event\":\"echo\",\"data\":%d}", i);
        client_text(&in, text);
        server_text(&expected, text);
    }
    feed_all(s, id, &in, 2);
    drain(s, id, &out);
    CHECK_BYTES(out.b, out.n, expected.b, expected.n);

    /* message_timeout_ms 0 (and ping_interval_ms 0): half a frame waits forever. */
    in.n = 0;
    client_text(&in, "{\"event\":\"echo\",\"data\":\"late\"}");
    size_t used = 0;
    CHECK_EQ(wsgate_feed(s, id, in.b, 3, 3, &used), WSGATE_OK);
    CHECK_EQ(used, 3);
    CHECK_EQ(wsgate_next_deadline(s, &deadline), WSGATE_OK);
    CHECK(deadline == UINT64_MAX);
    CHECK_EQ(wsgate_poll(s, UINT64_MAX / 2), WSGATE_OK);
    CHECK_EQ(wsgate_wants_close(s, id), 0);
    out.n = 0;
    drain(s, id, &out);
    CHECK_EQ(out.n, 0);
    CHECK_EQ(wsgate_feed(s, id, in.b + 3, in.n - 3, UINT64_MAX / 2, &used), WSGATE_OK);
    CHECK_EQ(used, in.n - 3);
    drain(s, id, &out);
    expected.n = 0;
    server_text(&expected, "{\"event\":\"echo\",\"data\":\"late\"}");
    CHECK_BYTES(out.b, out.n, expected.b, expected.n);

    wsgate_stats st;
    CHECK_EQ(wsgate_get_stats(s, &st), WSGATE_OK);
    CHECK_EQ(st.dispatched, 41);
    CHECK_EQ(st.refused_per_address, 0);
    CHECK_EQ(st.closed_message_timeout, 0);
    CHECK_EQ(st.closed_no_room, 0);
    CHECK_EQ(st.pings_sent, 0);
}

/* A fresh server's new counters are 0, and wsgate_stats holds them after the old ones. */
static void test_new_stats_fields(void)
{
    wsgate_server *s = setup(NULL);
    wsgate_stats st;
    memset(&st, 0xff, sizeof st);
    CHECK_EQ(wsgate_get_stats(s, &st), WSGATE_OK);
    CHECK_EQ(st.refused_per_address, 0);
    CHECK_EQ(st.closed_message_timeout, 0);
    CHECK_EQ(st.closed_no_room, 0);
    CHECK_EQ(st.closed_peer_gone, 0);
    /* The layout: 28 counters of 4 bytes, the three new ones last. */
    CHECK_EQ(sizeof(wsgate_stats), 28 * sizeof(uint32_t));
    CHECK_EQ(offsetof(wsgate_stats, refused_per_address), 25 * sizeof(uint32_t));
    CHECK_EQ(offsetof(wsgate_stats, closed_message_timeout), 26 * sizeof(uint32_t));
    CHECK_EQ(offsetof(wsgate_stats, closed_no_room), 27 * sizeof(uint32_t));
    CHECK_EQ(sizeof(wsgate_config), 10 * sizeof(uint32_t));
    CHECK_EQ(offsetof(wsgate_config, message_timeout_ms), 6 * sizeof(uint32_t));
    CHECK_EQ(offsetof(wsgate_config, max_per_address), 9 * sizeof(uint32_t));
}

/* wsgate_feed is one turn: at most messages_per_turn (16 by default) messages; the rest is
 * fed again by the transport, after the other clients had their turns. */
static void test_messages_per_turn(void)
{
    wsgate_server *s = setup(NULL);
    uint32_t id = connect_client(s, "/", 0);
    uint32_t other = connect_client(s, "/", 0);
    struct bytes in = {.n = 0}, out = {.n = 0}, first = {.n = 0}, rest = {.n = 0};
    size_t sixteen = 0; /* the bytes of the first 16 frames */
    for (int i = 0; i < 20; i++) {
        char text[64];
        snprintf(text, sizeof text, "{\"event\":\"echo\",\"data\":%d}", i);
        client_text(&in, text);
        server_text(i < 16 ? &first : &rest, text);
        if (i == 15)
            sixteen = in.n;
    }
    size_t used = 0;
    CHECK_EQ(wsgate_feed(s, id, in.b, in.n, 1, &used), WSGATE_OK);
    CHECK(used < in.n);
    CHECK_EQ(used, sixteen);
    wsgate_stats st;
    wsgate_get_stats(s, &st);
    CHECK_EQ(st.messages, 16);
    CHECK_EQ(st.dispatched, 16);
    drain(s, id, &out);
    CHECK_BYTES(out.b, out.n, first.b, first.n);
    /* Another client's turn in between. */
    struct bytes other_out = {.n = 0}, expected = {.n = 0};
    say(s, other, "{\"event\":\"echo\",\"data\":\"other\"}", 2, &other_out);
    server_text(&expected, "{\"event\":\"echo\",\"data\":\"other\"}");
    CHECK_BYTES(other_out.b, other_out.n, expected.b, expected.n);
    /* The rest: the remaining 4. */
    size_t used2 = 0;
    CHECK_EQ(wsgate_feed(s, id, in.b + used, in.n - used, 3, &used2), WSGATE_OK);
    CHECK_EQ(used2, in.n - used);
    wsgate_get_stats(s, &st);
    CHECK_EQ(st.messages, 21);
    CHECK_EQ(st.dispatched, 21);
    out.n = 0;
    drain(s, id, &out);
    CHECK_BYTES(out.b, out.n, rest.b, rest.n);

    /* messages_per_turn 5: 12 messages take the turns 5, 5 and 2. */
    wsgate_config c;
    wsgate_config_default(&c);
    c.messages_per_turn = 5;
    s = setup(&c);
    id = connect_client(s, "/", 0);
    in.n = 0;
    for (int i = 0; i < 12; i++)
        client_text(&in, "{\"event\":\"identity\",\"data\":1}");
    size_t frame = in.n / 12, off = 0;
    const size_t turns[3] = {5, 5, 2};
    for (int t = 0; t < 3; t++) {
        CHECK_EQ(wsgate_feed(s, id, in.b + off, in.n - off, 4, &used), WSGATE_OK);
        CHECK_EQ(used, turns[t] * frame);
        off += used;
        out.n = 0;
        drain(s, id, &out);
        CHECK_EQ(out.n, turns[t] * 3); /* "1" in a frame: 3 bytes each */
    }
    CHECK_EQ(off, in.n);
}

/* peer_bytes_per_turn (1024 by default, at most half of WSGATE_TX_BUFFER): a turn ends once
 * its broadcasts queued that many bytes into other clients' buffers. */
static void test_peer_bytes_per_turn(void)
{
    wsgate_config c;
    wsgate_config_default(&c);
    c.messages_per_turn = 0; /* only the byte share counts here */
    wsgate_server *s = setup(&c);
    uint32_t a = connect_client(s, "/chat", 0);
    uint32_t b = connect_client(s, "/chat", 0);
    /* Each message broadcasts a frame of 2 + 124 bytes: 9 of them pass 1024 bytes. */
    char text[160], data[96];
    memset(data, 'p', 95);
    data[95] = '\0';
    snprintf(text, sizeof text, "{\"event\":\"message\",\"data\":\"%s\"}", data);
    struct bytes in = {.n = 0}, out = {.n = 0}, one = {.n = 0};
    char reply[160];
    int reply_len = snprintf(reply, sizeof reply, "{\"event\":\"message\",\"data\":\"%s\"}", data);
    CHECK_EQ(reply_len, 124);
    server_text(&one, reply);
    CHECK_EQ(one.n, 126);
    for (int i = 0; i < 12; i++)
        client_text(&in, text);
    size_t frame = in.n / 12, used = 0;
    CHECK_EQ(wsgate_feed(s, a, in.b, in.n, 1, &used), WSGATE_OK);
    CHECK_EQ(used, 9 * frame);
    drain(s, b, &out);
    CHECK_EQ(out.n, 9 * one.n);
    out.n = 0;
    drain(s, a, &out);
    CHECK_EQ(out.n, 9 * one.n);
    size_t used2 = 0;
    CHECK_EQ(wsgate_feed(s, a, in.b + used, in.n - used, 2, &used2), WSGATE_OK);
    CHECK_EQ(used2, in.n - used);
    out.n = 0;
    drain(s, b, &out);
    CHECK_EQ(out.n, 3 * one.n);
    CHECK_BYTES(out.b, one.n, one.b, one.n);
    wsgate_stats st;
    wsgate_get_stats(s, &st);
    CHECK_EQ(st.dispatched, 12);
    CHECK_EQ(st.broadcast_dropped, 0);
}

/* message_timeout_ms through wsgate_poll: a frame's first byte starts the clock; trickled
 * bytes do not restart it; past it the client is failed with 1008. */
static void test_message_timeout(void)
{
    wsgate_config c;
    wsgate_config_default(&c);
    c.message_timeout_ms = 3000;
    c.ping_interval_ms = 60000;
    wsgate_server *s = setup(&c);
    uint32_t id = connect_client(s, "/", 0);
    uint64_t deadline = 0;
    CHECK_EQ(wsgate_next_deadline(s, &deadline), WSGATE_OK);
    CHECK(deadline == 60000); /* only the ping: no message under way */

    struct bytes in = {.n = 0}, out = {.n = 0}, expected = {.n = 0}, payload = {.n = 0};
    client_text(&in, "{\"event\":\"echo\",\"data\":\"slow\"}");
    size_t used = 0;
    CHECK_EQ(wsgate_feed(s, id, in.b, 1, 100, &used), WSGATE_OK); /* the first byte */
    CHECK_EQ(used, 1);
    CHECK_EQ(wsgate_next_deadline(s, &deadline), WSGATE_OK);
    CHECK(deadline == 3100);
    /* More bytes later: the deadline stays. */
    CHECK_EQ(wsgate_feed(s, id, in.b + 1, 4, 2000, &used), WSGATE_OK);
    CHECK_EQ(used, 4);
    CHECK_EQ(wsgate_next_deadline(s, &deadline), WSGATE_OK);
    CHECK(deadline == 3100);
    CHECK_EQ(wsgate_poll(s, 3099), WSGATE_OK);
    drain(s, id, &out);
    CHECK_EQ(out.n, 0);
    CHECK_EQ(wsgate_wants_close(s, id), 0);
    CHECK_EQ(seen.disconnects, 0);

    CHECK_EQ(wsgate_poll(s, 3100), WSGATE_OK);
    drain(s, id, &out);
    close_payload(&payload, 1008, "message not received in time");
    server_frame(&expected, OP_CLOSE, payload.b, payload.n);
    CHECK_BYTES(out.b, out.n, expected.b, expected.n);
    CHECK_EQ(wsgate_wants_close(s, id), 1);
    CHECK_EQ(seen.disconnects, 1);
    CHECK_EQ(seen.disconnect_client[0], id);
    CHECK_EQ(seen.disconnect_code[0], 1008);
    /* The rest of the message comes too late: it is not dispatched. */
    unsigned calls = seen.calls;
    CHECK_EQ(wsgate_feed(s, id, in.b + 5, in.n - 5, 3200, &used), WSGATE_OK);
    CHECK_EQ(seen.calls, calls);
    CHECK_EQ(wsgate_release(s, id), WSGATE_OK);
    CHECK_EQ(seen.disconnects, 1);

    wsgate_stats st;
    wsgate_get_stats(s, &st);
    CHECK_EQ(st.closed_message_timeout, 1);
    CHECK_EQ(st.dispatched, 0);
    CHECK_EQ(st.closed_peer_gone, 0);

    /* A whole message inside the time, in pieces: answered, no timer left. */
    id = connect_client(s, "/", 10000);
    CHECK_EQ(wsgate_feed(s, id, in.b, 7, 10000, &used), WSGATE_OK);
    CHECK_EQ(wsgate_feed(s, id, in.b + 7, in.n - 7, 12999, &used), WSGATE_OK);
    CHECK_EQ(used, in.n - 7);
    out.n = 0;
    drain(s, id, &out);
    expected.n = 0;
    server_text(&expected, "{\"event\":\"echo\",\"data\":\"slow\"}");
    CHECK_BYTES(out.b, out.n, expected.b, expected.n);
    CHECK_EQ(wsgate_poll(s, 13100), WSGATE_OK);
    CHECK_EQ(wsgate_wants_close(s, id), 0);
    CHECK_EQ(wsgate_next_deadline(s, &deadline), WSGATE_OK);
    CHECK(deadline == 12999 + 60000);
}

/* A handler that fills the transmit buffer and then fails: its exception frame cannot fit,
 * so the client is told by a close 1011 "reply did not fit" (never silence). */
static void test_reply_did_not_fit(void)
{
    wsgate_server *s = setup(NULL);
    uint32_t id = connect_client(s, "/", 0);
    struct bytes out = {.n = 0}, expected = {.n = 0}, payload = {.n = 0};
    say(s, id, "{\"event\":\"fill\"}", 1, &out);
    CHECK_EQ(fill.big_rc, WSGATE_OK);
    CHECK(fill.small > 0);
    CHECK_EQ(fill.last_rc, WSGATE_ERR_SEND_FULL);
    /* What fitted, in order, then the close. */
    struct bytes big = {.n = 0};
    put_str(&big, "{\"event\":\"f\",\"data\":");
    put(&big, fill_big, sizeof fill_big);
    put_str(&big, "}");
    server_frame(&expected, OP_TEXT, big.b, big.n);
    for (unsigned i = 0; i < fill.small; i++)
        server_text(&expected, "{\"event\":\"f\",\"data\":1}");
    /* No room was left for the exception frame (about 100 bytes). */
    CHECK(WSGATE_TX_BUFFER - expected.n < 100);
    close_payload(&payload, 1011, "reply did not fit");
    server_frame(&expected, OP_CLOSE, payload.b, payload.n);
    CHECK_BYTES(out.b, out.n, expected.b, expected.n);

    /* The client answers the close: done, reported with 1011. */
    struct bytes in = {.n = 0};
    payload.n = 0;
    close_payload(&payload, 1011, "");
    client_frame(&in, OP_CLOSE, payload.b, payload.n);
    feed_all(s, id, &in, 2);
    out.n = 0;
    drain(s, id, &out);
    CHECK_EQ(out.n, 0);
    CHECK_EQ(wsgate_wants_close(s, id), 1);
    CHECK_EQ(seen.disconnects, 1);
    CHECK_EQ(seen.disconnect_code[0], 1011);
    CHECK_EQ(wsgate_release(s, id), WSGATE_OK);

    wsgate_stats st;
    wsgate_get_stats(s, &st);
    CHECK_EQ(st.dispatched, 1);
    CHECK_EQ(st.exceptions, 1);
    CHECK_EQ(st.closed_no_room, 1);
    CHECK_EQ(st.send_failed, 2); /* the small reply that did not fit, then the exception */
    CHECK_EQ(st.frames_sent, 1 + fill.small);
}

static void test_strerror(void)
{
    const char *seen_text[18];
    for (int32_t code = 0; code >= -17; code--) {
        const char *t = wsgate_strerror(code);
        CHECK(t != NULL && t[0] != '\0');
        CHECK(strcmp(t, "unknown error code") != 0);
        seen_text[-code] = t;
        for (int32_t j = 0; j < -code; j++)
            CHECK(strcmp(seen_text[j], t) != 0);
    }
    CHECK(strcmp(wsgate_strerror(WSGATE_OK), "success") == 0);
    CHECK(strcmp(wsgate_strerror(WSGATE_ERR_FULL), "every client slot is taken") == 0);
    CHECK(strcmp(wsgate_strerror(-18), "unknown error code") == 0);
    CHECK(strcmp(wsgate_strerror(1), "unknown error code") == 0);
    CHECK(strcmp(wsgate_strerror(INT32_MIN), "unknown error code") == 0);
    /* The codes themselves: distinct, negative, as documented. */
    const int32_t codes[] = {
        WSGATE_ERR_NULL,         WSGATE_ERR_BAD_HANDLE,     WSGATE_ERR_BUSY,
        WSGATE_ERR_TOO_SMALL,    WSGATE_ERR_ALIGN,          WSGATE_ERR_FULL,
        WSGATE_ERR_CLOSED,       WSGATE_ERR_UNKNOWN_CLIENT, WSGATE_ERR_UNKNOWN_GATEWAY,
        WSGATE_ERR_TABLE_FULL,   WSGATE_ERR_DUPLICATE,      WSGATE_ERR_INVALID,
        WSGATE_ERR_BAD_JSON,     WSGATE_ERR_SEND_FULL,      WSGATE_ERR_NOT_OPEN,
        WSGATE_ERR_STARTED,      WSGATE_ERR_PER_ADDRESS,
    };
    for (int i = 0; i < 17; i++)
        CHECK_EQ(codes[i], -(i + 1));
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    test_sizes_and_defaults();
    test_create();
    test_bad_handles();
    test_registration();
    test_sample_exchange();
    test_handler_errors();
    test_send_and_broadcast();
    test_one_byte_per_call();
    test_partial_feed();
    test_several_clients();
    test_text_frames_are_utf8();
    test_refusals();
    test_timers();
    test_server_close();
    test_accept_from();
    test_refusal_response();
    test_zeroed_config();
    test_new_stats_fields();
    test_messages_per_turn();
    test_peer_bytes_per_turn();
    test_message_timeout();
    test_reply_did_not_fit();
    test_strerror();
    printf("%u passed, %u failed\n", passed, failed);
    return failed == 0 ? 0 : 1;
}
