/*
 * etcd_lease.c - leases (grant, one keepalive, revoke, time to live) and the
 * answering member's status. A keepalive is sent again to another endpoint
 * after a timeout, as a read is: renewing twice does no harm, and the keeper
 * needs an answer within its bound more than it needs one endpoint. The
 * gateway serves keepalive as a stream; one request body gives one answer
 * ({"result": ...}) and the stream ends. Lease ids go out as decimal strings,
 * as the gateway writes int64 fields itself.
 */
#include "ha/etcd_wire.h"

static PdEtcdOutcome
outcome(PdEtcdStatus status)
{
    return (PdEtcdOutcome){.status = status};
}

/* Sends {"ID": lease_id} to path. */
static PdEtcdStatus
lease_call(PdEtcd *etcd, const char *path, int64_t lease_id, PdEtcdRepeat repeat, json_t **answer,
           PdError *err)
{
    json_t *body = json_pack("{s:o}", "ID", json_sprintf("%lld", (long long)lease_id));
    if (body == NULL)
        return pd_etcd_wire_unknown(err, "out of memory for an etcd request");
    PdEtcdStatus status = pd_etcd_call(etcd, path, body, repeat, answer, err);
    json_decref(body);
    return status;
}

PdEtcdOutcome
pd_etcd_lease_grant(PdEtcd *etcd, int64_t ttl_s, int64_t *lease_id, int64_t *granted_ttl_s, PdError *err)
{
    json_t *body = json_pack("{s:o, s:s}", "TTL", json_sprintf("%lld", (long long)ttl_s), "ID", "0");
    if (body == NULL)
        return outcome(pd_etcd_wire_unknown(err, "out of memory for an etcd request"));
    json_t *answer;
    PdEtcdStatus status = pd_etcd_call(etcd, "/v3/lease/grant", body, PD_ETCD_ONCE, &answer, err);
    json_decref(body);
    if (status != PD_ETCD_DONE)
        return outcome(status);
    int64_t id = 0, granted = 0;
    status = pd_etcd_answer_grant(answer, &id, &granted, err);
    json_decref(answer);
    if (status == PD_ETCD_DONE)
    {
        *lease_id = id;
        if (granted_ttl_s != NULL)
            *granted_ttl_s = granted;
    }
    return outcome(status);
}

PdEtcdOutcome
pd_etcd_lease_keepalive(PdEtcd *etcd, int64_t lease_id, int64_t *ttl_s, PdError *err)
{
    json_t *answer;
    PdEtcdStatus status = lease_call(etcd, "/v3/lease/keepalive", lease_id, PD_ETCD_REPEATABLE, &answer, err);
    if (status != PD_ETCD_DONE)
        return outcome(status);
    status = pd_etcd_answer_keepalive(answer, lease_id, ttl_s, err);
    json_decref(answer);
    return outcome(status);
}

PdEtcdOutcome
pd_etcd_lease_revoke(PdEtcd *etcd, int64_t lease_id, PdError *err)
{
    json_t *answer;
    PdEtcdStatus status = lease_call(etcd, "/v3/lease/revoke", lease_id, PD_ETCD_ONCE, &answer, err);
    if (status != PD_ETCD_DONE)
        return outcome(status);
    int64_t revision;
    if (!pd_etcd_wire_header(answer, &revision))
        status = pd_etcd_wire_unknown(err, "etcd's lease revoke answer has no header");
    json_decref(answer);
    return outcome(status);
}

PdEtcdOutcome
pd_etcd_lease_ttl(PdEtcd *etcd, int64_t lease_id, int64_t *ttl_s, int64_t *granted_ttl_s, PdError *err)
{
    json_t *answer;
    PdEtcdStatus status =
        lease_call(etcd, "/v3/lease/timetolive", lease_id, PD_ETCD_REPEATABLE, &answer, err);
    if (status != PD_ETCD_DONE)
        return outcome(status);
    status = pd_etcd_answer_ttl(answer, lease_id, ttl_s, granted_ttl_s, err);
    json_decref(answer);
    return outcome(status);
}

PdEtcdOutcome
pd_etcd_status(PdEtcd *etcd, PdEtcdServer *server, PdError *err)
{
    json_t *body = json_object();
    if (body == NULL)
        return outcome(pd_etcd_wire_unknown(err, "out of memory for an etcd request"));
    json_t *answer;
    PdEtcdStatus status =
        pd_etcd_call(etcd, "/v3/maintenance/status", body, PD_ETCD_REPEATABLE, &answer, err);
    json_decref(body);
    if (status != PD_ETCD_DONE)
        return outcome(status);
    status = pd_etcd_answer_status(answer, server, err);
    json_decref(answer);
    return outcome(status);
}
