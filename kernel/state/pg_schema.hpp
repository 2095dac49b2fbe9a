#pragma once
// Versioned schema for the PostgreSQL store (DESIGN.md §7): the same tables, columns, indexes and
// version numbers as the SQLite schema, in PostgreSQL's types.
#include <pqxx/connection>

#include "common/result.hpp"

namespace x402::pg {

// Brings the database up to the newest schema version. Every migration runs in its own
// transaction holding a transaction-level advisory lock, so nodes starting together apply each
// version exactly once and a failure leaves the previous version intact. Library exceptions are
// the caller's to catch (the store converts them at its boundary).
Status apply_migrations(pqxx::connection& connection);

// The newest version apply_migrations() knows; exposed for tests.
int latest_schema_version();

}  // namespace x402::pg
