#pragma once
// Versioned schema for the SQLite store (DESIGN.md §7).
#include <sqlite3.h>

#include "common/result.hpp"

namespace x402::sqlite {

// Brings the database up to the newest schema version. Each migration runs once, in its own
// write transaction together with its schema_migrations row, so a crash mid-migration leaves the
// previous version intact and two processes opening the same file at once apply it only once.
Status apply_migrations(sqlite3* db);

// The newest version apply_migrations() knows; exposed for tests.
int latest_schema_version();

}  // namespace x402::sqlite
