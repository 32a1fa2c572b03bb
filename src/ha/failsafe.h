/*
 * failsafe.h - an etcd outage is not a partition (docs/ha.md, "The etcd
 * outage: failsafe grants"). Each keeper keeps a grant table: at most one
 * member, the holder, may count on this member's grant, until an expiry on
 * this keeper's CLOCK_MONOTONIC. A primary that cannot renew its lease stays
 * writable only while more than half of the roster granted it; a member about
 * to take the leader key first needs ceil(n/2) grants to itself. The table is
 * shared by the keeper's API thread (POST /failsafe), its loop and its lease
 * thread: every function here takes its mutex, none holds it across a call
 * out. It also keeps the roster and the members' API addresses the loop last
 * read, and what the keeper last knew of its own grants, for publishing.
 *
 * The documents (every field required, no other field):
 *   request  {"holder": "n1", "granter": "n2", "duration_ms": 3000, "cluster": "main",
 *             "sent_ms": 1764500000000}
 *            with the header X-Prodata-Failsafe-Hmac: hex HMAC-SHA256 under the cluster's
 *            replication password of "prodata-failsafe\n" cluster "\n" granter "\n" holder "\n"
 *            duration_ms "\n" sent_ms (pd_failsafe_sign)
 *   answers  200 {"granted": true, "granter": "n2", "duration_ms": 3000}
 *            409 {"granted": false, "granter": "n2", "holder": "n2" or null,
 *                 "remaining_ms": 1200 or null, "reason": "..."}
 *            400 {"detail": "...", "field": "duration_ms"}, 413 {"detail": "..."},
 *            401 {"detail": "..."} (no header), 403 {"detail": "..."} (a wrong one, or sent_ms
 *            further from this keeper's wall clock than the replay window)
 * Only durations decide a grant: the requester counts a grant from the
 * moment it sent the request. sent_ms (wall clock) only bounds a replay.
 * granter is the member asked: a keeper refuses a request meant for another
 * member, and a requester counts only a grant whose granter is the member
 * it asked, so an api_url that reaches the wrong keeper (a loopback address
 * published by every member, say) gives no grant at all, never a counted one.
 */
#ifndef PRODATA_HA_FAILSAFE_H
#define PRODATA_HA_FAILSAFE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ha/keys.h"
#include "prodata/arena.h"
#include "prodata/error.h"

enum
{
    PD_FAILSAFE_BODY_MAX = 1024,          /* bytes of a request or an answer */
    PD_FAILSAFE_DURATION_MAX_MS = 600000, /* the longest grant asked or given */
    PD_FAILSAFE_URL_MAX = 300,            /* bytes of a member's api_url */
    PD_FAILSAFE_PEERS_MAX = 64,           /* the roster's most (PD_ROSTER_MAX) */
    PD_FAILSAFE_CLUSTER_MAX = 128,
    PD_FAILSAFE_WINDOW_MS_DEFAULT = 3000, /* the replay window until pd_failsafe_set_window */
    PD_FAILSAFE_HMAC_HEX = 64,            /* hex digits of an HMAC-SHA256 */
};

/* The request header carrying the signature. */
#define PD_FAILSAFE_HEADER "X-Prodata-Failsafe-Hmac"

typedef struct PdFailsafe PdFailsafe;

/* A grant asked for, or the table's live grant. */
typedef struct PdFailsafeGrant
{
    bool is_granted;                     /* the answer: given (or extended) */
    char holder[PD_KEYS_MEMBER_MAX + 1]; /* the live grant's holder, "" none */
    int64_t remaining_ms;                /* its time left; -1: none, or for as long as this member leads */
    const char *reason;                  /* why refused (a literal), "" when granted */
} PdFailsafeGrant;

typedef struct PdFailsafeRequest
{
    const char *holder;  /* a member name */
    const char *granter; /* the member asked */
    int64_t duration_ms;
    const char *cluster;
    int64_t sent_ms; /* the requester's wall clock (ms since the epoch) when it signed */
} PdFailsafeRequest;

/* One POST /failsafe as the API received it. */
typedef struct PdFailsafeIncoming
{
    const char *body;
    size_t length;
    bool is_too_large;     /* longer than PD_FAILSAFE_BODY_MAX and cut */
    const char *signature; /* the PD_FAILSAFE_HEADER header's value, NULL when absent */
    int64_t now_ms;        /* this keeper's CLOCK_MONOTONIC: the grant's expiry */
    int64_t wall_ms;       /* its wall clock: sent_ms checked against it (replay only) */
} PdFailsafeIncoming;

/* One member the keeper may ask: its name and API address ("" unknown). */
typedef struct PdFailsafePeer
{
    char name[PD_KEYS_MEMBER_MAX + 1];
    char url[PD_FAILSAFE_URL_MAX + 1];
} PdFailsafePeer;

/*
 * A table for member self of cluster (both copied), empty, enabled, signing
 * and checking requests with secret (the cluster's replication password,
 * copied, wiped at free, never written anywhere). Also initialises libcurl
 * (pd_failsafe_ask). *failsafe freed by pd_failsafe_free. Errors:
 * PD_ERR_INVALID_INPUT (self not a member name, cluster too long, secret
 * empty), PD_ERR_NO_MEMORY.
 */
bool pd_failsafe_new(const char *self, const char *cluster, const char *secret, PdFailsafe **failsafe,
                     PdError *err);
void pd_failsafe_free(PdFailsafe *failsafe);

/* failsafe_mode: off, every request is refused ("failsafe_mode is off"). */
void pd_failsafe_set_enabled(PdFailsafe *failsafe, bool is_enabled);
bool pd_failsafe_is_enabled(PdFailsafe *failsafe);

/* How far a request's sent_ms may be from this keeper's wall clock (failsafe_grant_ms in effect): a
 * replay's bound, never a safety condition. */
void pd_failsafe_set_window(PdFailsafe *failsafe, int64_t window_ms);

/* This member is in a leader's roster count: it streamed from a leader (whose slot for it was made from a
 * roster naming it) and has been in every roster read since, or it took the leader key. Until then
 * (false, the default) the table gives no grant at all, itself included: a member added to the roster
 * during an outage must not count towards a taker's ceil(n/2) while a primary counts the old roster. */
void pd_failsafe_set_counted(PdFailsafe *failsafe, bool is_counted);

/* This member holds the leader key, or may (it is taking it, or taking it back): every grant to another
 * member is refused while true. */
void pd_failsafe_set_leading(PdFailsafe *failsafe, bool is_leading);

/*
 * Asks for a grant to holder for duration_ms from now_ms (CLOCK_MONOTONIC):
 * given when the table is empty, expired or already holder's (its expiry then
 * now + duration, never earlier than it was); refused when another member
 * holds a live grant, when this member leads and holder is another, or when
 * disabled. The answer names the live grant after the decision. Thread-safe.
 */
PdFailsafeGrant pd_failsafe_grant(PdFailsafe *failsafe, const char *holder, int64_t duration_ms,
                                  int64_t now_ms);

/*
 * A keeper that restarts has forgotten the grants it gave: until until_ms it
 * gives none (itself included), and never one longer than durable_max_ms,
 * the longest grant its keeper has recorded on disk (a restart's quiet
 * period is that long). 0: no bound yet (the table refuses every grant).
 */
void pd_failsafe_set_quiet(PdFailsafe *failsafe, int64_t until_ms, int64_t durable_max_ms);

/* The live grant (is_granted false, holder "" when none). Thread-safe. */
PdFailsafeGrant pd_failsafe_current(PdFailsafe *failsafe, int64_t now_ms);

/* Gives back this member's grant to itself (a take that did not happen), unless it leads. */
void pd_failsafe_release(PdFailsafe *failsafe);

/*
 * The answer to one POST /failsafe: 413 for a body cut, 401 without a
 * signature, the body read strictly (400 naming the field, or the cluster
 * not this one's), 403 for a signature that is not the request's under this
 * table's secret (compared in constant time) or a sent_ms further than the
 * window from wall_ms, 409 for a holder not in the roster last read, then
 * the grant asked of the table at now_ms (200 or 409). *json is the answer
 * in arena. False only out of memory (PD_ERR_NO_MEMORY).
 */
bool pd_failsafe_serve(PdArena *arena, PdFailsafe *failsafe, const PdFailsafeIncoming *incoming, int *status,
                       const char **json, PdError *err);

/* The request's signature under failsafe's secret: PD_FAILSAFE_HMAC_HEX lowercase hex digits and a NUL
 * into hex. False when it could not be computed (OpenSSL). */
bool pd_failsafe_sign(PdFailsafe *failsafe, const PdFailsafeRequest *request,
                      char hex[PD_FAILSAFE_HMAC_HEX + 1]);

/*
 * Reads a request strictly. On failure *field names the field at fault
 * ("holder", "granter", "duration_ms", "cluster", "sent_ms", or "" for the document itself) and
 * err says why (PD_ERR_INVALID_INPUT); PD_ERR_NO_MEMORY. Strings in arena.
 */
bool pd_failsafe_request_parse(PdArena *arena, const char *text, size_t length, PdFailsafeRequest *request,
                               const char **field, PdError *err);

/* The request document, compact, in arena; NULL out of memory. */
char *pd_failsafe_request_json(PdArena *arena, const PdFailsafeRequest *request);

/* What a requester reads of an answer: granted only for a 200 saying granted by granter (the member asked)
 * with duration_ms as asked; anything else (a refusal, another status or granter, a document it does not
 * expect) is "not granted". */
bool pd_failsafe_answer_granted(int status, const char *text, size_t length, const char *granter,
                                int64_t duration_ms);

/* ---- what the keeper knows of the others, and of its own grants ---- */

/* The roster as last read (names copied; at most PD_FAILSAFE_PEERS_MAX). */
void pd_failsafe_set_roster(PdFailsafe *failsafe, const char *const *names, size_t count);
/* A member's api_url as its published state said; kept across reads. */
void pd_failsafe_set_url(PdFailsafe *failsafe, const char *name, const char *url);
/* The roster's other members with their addresses into peers (PD_FAILSAFE_PEERS_MAX), their count returned;
 * *roster_count: the roster's size n, *is_member: this member is in it. */
size_t pd_failsafe_peers(PdFailsafe *failsafe, PdFailsafePeer *peers, size_t *roster_count, bool *is_member);

/* The members whose grants keep this primary writable without etcd ("n2, n3"), until until_ms; "" and 0:
 * it is not. */
void pd_failsafe_set_writable(PdFailsafe *failsafe, const char *granted_by, int64_t until_ms);
/* That, with the time left at now_ms (copied into granted_by, size bytes); false when not writable by
 * grants at now_ms. */
bool pd_failsafe_writable(PdFailsafe *failsafe, int64_t now_ms, char *granted_by, size_t size,
                          int64_t *remaining_ms);

/* ---- asking (failsafe_ask.c) ---- */

/* One round: every peer with an address asked at once for a grant to holder. */
typedef struct PdFailsafeRound
{
    PdFailsafe *signer; /* the table whose secret signs the request (this keeper's) */
    const char *holder;
    const char *cluster;
    int64_t duration_ms;
    int timeout_ms; /* the whole round's bound */
    size_t needed;  /* return as soon as this many granted (0: wait for every answer) */
    const PdFailsafePeer *peers;
    size_t peer_count;
    int64_t sent_ms;                     /* out: CLOCK_MONOTONIC before the first request left */
    size_t granted_count;                /* out */
    bool granted[PD_FAILSAFE_PEERS_MAX]; /* out, by peer */
} PdFailsafeRound;

/*
 * Runs one round over HTTP (libcurl multi, no proxy, no signal), bounded by
 * timeout_ms: a peer that does not answer in time, answers anything but a
 * grant, or has no address, did not grant. Errors: PD_ERR_NO_MEMORY,
 * PD_ERR_INTERNAL (libcurl could not be set up); the round then granted
 * nothing.
 */
bool pd_failsafe_ask(PdFailsafeRound *round, PdError *err);

#endif
