// The failing VFS shim; see fail_vfs.h. Every method forwards to the default VFS; only
// xWrite (and, once failing "always", xSync) can fail.
#include "fail_vfs.h"

#include <sqlite3.h>

#include <cstring>

namespace lectern::store::testing {
namespace {

struct FailFile {
    sqlite3_file base;
    sqlite3_file* real;
};

sqlite3_vfs failVfs;
sqlite3_vfs* realVfs = nullptr;
sqlite3_io_methods failMethods;
int64_t written = 0;
int64_t budget = -1;  // -1: disarmed
bool failAlways = false;
bool triggered = false;

sqlite3_file* real(sqlite3_file* f) {
    return reinterpret_cast<FailFile*>(f)->real;
}

bool shouldFail(int64_t amount) {
    if (budget < 0) return false;
    if (triggered) return failAlways;
    if (written + amount <= budget) return false;
    triggered = true;
    return true;
}

int xClose(sqlite3_file* f) {
    return real(f)->pMethods->xClose(real(f));
}
int xRead(sqlite3_file* f, void* p, int n, sqlite3_int64 o) {
    return real(f)->pMethods->xRead(real(f), p, n, o);
}
int xWrite(sqlite3_file* f, const void* p, int n, sqlite3_int64 o) {
    if (shouldFail(n)) return SQLITE_IOERR_WRITE;
    written += n;
    return real(f)->pMethods->xWrite(real(f), p, n, o);
}
int xTruncate(sqlite3_file* f, sqlite3_int64 size) {
    return real(f)->pMethods->xTruncate(real(f), size);
}
int xSync(sqlite3_file* f, int flags) {
    if (triggered && failAlways) return SQLITE_IOERR_FSYNC;
    return real(f)->pMethods->xSync(real(f), flags);
}
int xFileSize(sqlite3_file* f, sqlite3_int64* size) {
    return real(f)->pMethods->xFileSize(real(f), size);
}
int xLock(sqlite3_file* f, int l) {
    return real(f)->pMethods->xLock(real(f), l);
}
int xUnlock(sqlite3_file* f, int l) {
    return real(f)->pMethods->xUnlock(real(f), l);
}
int xCheckReservedLock(sqlite3_file* f, int* out) {
    return real(f)->pMethods->xCheckReservedLock(real(f), out);
}
int xFileControl(sqlite3_file* f, int op, void* arg) {
    return real(f)->pMethods->xFileControl(real(f), op, arg);
}
int xSectorSize(sqlite3_file* f) {
    return real(f)->pMethods->xSectorSize(real(f));
}
int xDeviceCharacteristics(sqlite3_file* f) {
    return real(f)->pMethods->xDeviceCharacteristics(real(f));
}
int xShmMap(sqlite3_file* f, int region, int size, int extend, void volatile** out) {
    return real(f)->pMethods->xShmMap(real(f), region, size, extend, out);
}
int xShmLock(sqlite3_file* f, int offset, int n, int flags) {
    return real(f)->pMethods->xShmLock(real(f), offset, n, flags);
}
void xShmBarrier(sqlite3_file* f) {
    real(f)->pMethods->xShmBarrier(real(f));
}
int xShmUnmap(sqlite3_file* f, int deleteFlag) {
    return real(f)->pMethods->xShmUnmap(real(f), deleteFlag);
}

int xOpen(sqlite3_vfs*, const char* name, sqlite3_file* file, int flags, int* outFlags) {
    auto* f = reinterpret_cast<FailFile*>(file);
    f->real = reinterpret_cast<sqlite3_file*>(f + 1);
    const int rc = realVfs->xOpen(realVfs, name, f->real, flags, outFlags);
    f->base.pMethods = rc == SQLITE_OK && f->real->pMethods ? &failMethods : nullptr;
    return rc;
}

}  // namespace

void registerFailVfs() {
    if (realVfs) return;
    realVfs = sqlite3_vfs_find(nullptr);
    failVfs = *realVfs;
    failVfs.zName = kFailVfsName;
    failVfs.szOsFile = int(sizeof(FailFile)) + realVfs->szOsFile;
    failVfs.xOpen = xOpen;
    failVfs.pNext = nullptr;
    std::memset(&failMethods, 0, sizeof failMethods);
    failMethods = {2,
                   xClose,
                   xRead,
                   xWrite,
                   xTruncate,
                   xSync,
                   xFileSize,
                   xLock,
                   xUnlock,
                   xCheckReservedLock,
                   xFileControl,
                   xSectorSize,
                   xDeviceCharacteristics,
                   xShmMap,
                   xShmLock,
                   xShmBarrier,
                   xShmUnmap,
                   nullptr,
                   nullptr};
    sqlite3_vfs_register(&failVfs, 0);
}

void armFailVfs(int64_t failAfterBytes, bool always) {
    written = 0;
    budget = failAfterBytes;
    failAlways = always;
    triggered = false;
}

void disarmFailVfs() {
    budget = -1;
}
bool failVfsTriggered() {
    return triggered;
}
int64_t failVfsBytesWritten() {
    return written;
}

}  // namespace lectern::store::testing
