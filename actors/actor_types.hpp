#pragma once
/// Every actor interface of sluice, one commented line per handler, and the message types that
/// travel between them. Large values travel as shared pointers to const.
///
///  adapters --(source batch)--> kind_actor --(append)--> journal_actor --(committed)-->
///  world_actor (incremental translator) --(changed snapshots)--> xds_actor --> ads_server

#include <memory>
#include <string>
#include <vector>

#include "caf/all.hpp"
#include "model/source_event.hpp"
#include "model/world.hpp"
#include "sluice/v1/event.pb.h"
#include "solo/gloo.pb.h"
#include "xds/ads_server.hpp"
#include "xds/snapshot.hpp"

namespace sluice::actors {

using source_batch_ptr = std::shared_ptr<const model::source_batch>;
using event_batch = std::vector<sluice::v1::Event>;
using event_batch_ptr = std::shared_ptr<const event_batch>;
using cursor_map = std::map<std::string, std::string>;
using cursor_map_ptr = std::shared_ptr<const cursor_map>;
using world_ptr = std::shared_ptr<const model::world>;
using client_response_ptr = std::shared_ptr<const xds::client_response>;

}  // namespace sluice::actors

CAF_BEGIN_TYPE_ID_BLOCK(sluice, caf::first_custom_type_id)
  CAF_ADD_ATOM(sluice, sluice::atom, ingest, "ingest")
  CAF_ADD_ATOM(sluice, sluice::atom, append, "append")
  CAF_ADD_ATOM(sluice, sluice::atom, committed, "committed")
  CAF_ADD_ATOM(sluice, sluice::atom, synced, "synced")
  CAF_ADD_ATOM(sluice, sluice::atom, translate, "translate")
  CAF_ADD_ATOM(sluice, sluice::atom, publish, "publish")
  CAF_ADD_ATOM(sluice, sluice::atom, ready, "ready")
  CAF_ADD_ATOM(sluice, sluice::atom, response, "response")
  CAF_ADD_ATOM(sluice, sluice::atom, record, "record")
  CAF_ADD_ATOM(sluice, sluice::atom, status, "status")
CAF_END_TYPE_ID_BLOCK(sluice)

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(sluice::actors::source_batch_ptr)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(sluice::actors::event_batch_ptr)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(sluice::actors::cursor_map_ptr)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(sluice::actors::world_ptr)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(sluice::xds::snapshot_ptr)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(sluice::actors::client_response_ptr)

namespace sluice::actors {

/// The journal: the single writer of the event log, and the only source of order.
using journal_actor = caf::typed_actor<
    // Append events and cursors in one synced batch; replies with the last seq written.
    caf::replies_to<atom::append, event_batch_ptr, cursor_map_ptr>::with<uint64_t>,
    // A kind actor finished its initial sync (forwarded to the world after its appends).
    caf::reacts_to<atom::synced, std::string>,
    // Record an xDS client ACK/NACK.
    caf::reacts_to<atom::record, client_response_ptr>,
    // Record published versions of a snapshot.
    caf::reacts_to<atom::record, xds::snapshot_ptr>>;

/// The world actor: applies committed events in seq order and drives translation.
using world_actor = caf::typed_actor<
    // Events the journal committed, in seq order.
    caf::reacts_to<atom::committed, event_batch_ptr>,
    // The named kind finished its initial sync of every source.
    caf::reacts_to<atom::synced, std::string>,
    // (to itself) translate now: everything already in the mailbox has been applied, so a burst
    // of batches costs one translation.
    caf::reacts_to<atom::translate>,
    // (to itself) hand the latest translation outcome to the hook (throttled).
    caf::reacts_to<atom::status>,
    // Where to append reverts (the journal is spawned after this actor).
    caf::reacts_to<atom::record, journal_actor>>;

/// The xDS actor: owns the ADS server's snapshot feed.
using xds_actor = caf::typed_actor<
    // Serve this snapshot (replaces the one with the same key).
    caf::reacts_to<atom::publish, xds::snapshot_ptr>,
    // Every source has synced and the first snapshots are published: open the startup gate.
    caf::reacts_to<atom::ready>,
    // A client ACKed or NACKed (sent by the ADS server's observer).
    caf::reacts_to<atom::response, client_response_ptr>,
    // Where to record publishes and client responses (the journal is spawned after this actor).
    caf::reacts_to<atom::record, journal_actor>>;

/// A kind actor: decodes, validates, canonicalizes and dedupes the input of one kind.
using kind_actor = caf::typed_actor<
    // Raw input for this kind from a source.
    caf::reacts_to<atom::ingest, source_batch_ptr>,
    // Raw input plus source cursors (a Kubernetes resourceVersion) stored with its events.
    caf::reacts_to<atom::ingest, source_batch_ptr, cursor_map_ptr>>;

}  // namespace sluice::actors
