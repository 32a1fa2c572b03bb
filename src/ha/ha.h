/*
 * ha.h - the ha module as the commands see it: what `prodata cluster` and
 * `prodata keeper` may call. The keeper settings made into an etcd client
 * and a key layout (keeper_settings.h, keys.h, etcd.h), the cluster-wide
 * configuration in etcd (cluster_config.h), what the keepers publish
 * (member.h, roster.h, history.h), the switchover request and its rules
 * (switchover.h), the scheduled backups' job and records (schedule.h), the keeper with its fence guard
 * (keeper.h, fence.h), and the keeper's view and its HTTP API (view.h,
 * api.h). Everything else of src/ha is private to the module.
 */
#ifndef PRODATA_HA_H
#define PRODATA_HA_H

#include "ha/api.h"
#include "ha/cluster_config.h"
#include "ha/etcd.h"
#include "ha/failsafe.h"
#include "ha/fence.h"
#include "ha/history.h"
#include "ha/keeper.h"
#include "ha/keeper_settings.h"
#include "ha/keys.h"
#include "ha/member.h"
#include "ha/roster.h"
#include "ha/schedule.h"
#include "ha/switchover.h"
#include "ha/view.h"

#endif
