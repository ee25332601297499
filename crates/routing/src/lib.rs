//! postern-routing — the routing decision: `plan_lookups` (what the shell must fetch from the
//! store) and `decide` (parsed message + configuration + lookups → a `Decision` with its
//! human-readable trace), following the processing order of the behaviour reference §2.1 and
//! every step of §4; the loop limits of §6 as pure functions of counts.
//!
//! Owns: the decision as data. Must not: perform it (no database, no sockets, no clock — time is
//! passed in — no environment). The same decision answers `postern route explain`.
//!
//! Status: lands with the inbound issue (#3).
#![warn(missing_docs)]
