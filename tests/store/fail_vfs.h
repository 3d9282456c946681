// A FailDevice-style SQLite VFS for I/O-error tests (CRASH-6), after SQLite's own
// test6.c and KeePassXC's FailDevice: it forwards to the default VFS and makes writes
// fail once the armed byte budget is spent, either once or for every later write.
#pragma once

#include <cstdint>

namespace lectern::store::testing {

inline constexpr const char* kFailVfsName = "lectern-fail";

void registerFailVfs();
// Writes succeed until `failAfterBytes` bytes have been written since arming; the write
// that would cross it fails (SQLITE_IOERR_WRITE), and with `always` so do all later ones.
void armFailVfs(int64_t failAfterBytes, bool always);
void disarmFailVfs();
bool failVfsTriggered();
int64_t failVfsBytesWritten();

}  // namespace lectern::store::testing
