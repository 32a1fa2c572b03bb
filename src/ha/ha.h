/*
 * ha.h - the ha module as the commands see it: what `prodata cluster` (and
 * the coming `prodata keeper`) may call. The keeper settings made into an
 * etcd client and a key layout (keeper_settings.h, keys.h, etcd.h) and the
 * cluster-wide configuration in etcd (cluster_config.h), the keeper's view
 * and its HTTP API (view.h, api.h), what the keepers publish (member.h,
 * roster.h, history.h). The node module
 * (node.h) joins when the keeper command does. Everything else of src/ha is
 * private to the module.
 */
#ifndef PRODATA_HA_H
#define PRODATA_HA_H

#include "ha/api.h"
#include "ha/cluster_config.h"
#include "ha/etcd.h"
#include "ha/history.h"
#include "ha/keeper_settings.h"
#include "ha/keys.h"
#include "ha/member.h"
#include "ha/roster.h"
#include "ha/view.h"

#endif
