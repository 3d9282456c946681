// Terminal progress for ingest; see progress_display.h.
#include "progress_display.h"

#include <unistd.h>

#include <cinttypes>

namespace lectern::ingest {

ProgressDisplay::ProgressDisplay(std::FILE* out) : out_(out), tty_(isatty(fileno(out)) == 1) {}

std::string ProgressDisplay::format(const IngestProgress& p) {
    const double mb = double(p.bytesRead) / 1e6;
    const double rate = p.seconds > 0 ? mb / p.seconds : 0;
    char line[200];
    int n = std::snprintf(line, sizeof line, "files %" PRId64 "/%" PRId64 "%s", p.filesDone,
                          p.filesSeen, p.walkDone ? "" : "+");
    if (p.filesFailed > 0) {
        n += std::snprintf(line + n, sizeof line - n, " (%" PRId64 " failed)", p.filesFailed);
    }
    n += std::snprintf(line + n, sizeof line - n, "  pages %" PRId64 "  %.1f MB/s", p.pages, rate);
    if (p.walkDone && rate > 0 && p.bytesToRead > p.bytesRead) {
        const double eta = double(p.bytesToRead - p.bytesRead) / 1e6 / rate;
        std::snprintf(line + n, sizeof line - n, "  ETA %d:%02d", int(eta) / 60, int(eta) % 60);
    } else if (!p.walkDone) {
        std::snprintf(line + n, sizeof line - n, "  ETA ?");
    }
    return line;
}

void ProgressDisplay::update(const IngestProgress& progress) {
    const double interval = tty_ ? 0.2 : 5.0;
    if (lastPrinted_ >= 0 && progress.seconds - lastPrinted_ < interval) return;
    if (!tty_ && progress.seconds < 2.0) return;  // quick runs stay quiet in logs
    lastPrinted_ = progress.seconds;
    if (tty_) {
        std::fprintf(out_, "\r%s\033[K", format(progress).c_str());
        drawn_ = true;
    } else {
        std::fprintf(out_, "ingest: %s\n", format(progress).c_str());
    }
    std::fflush(out_);
}

void ProgressDisplay::finish() {
    if (tty_ && drawn_) std::fprintf(out_, "\r\033[K");
    std::fflush(out_);
}

}  // namespace lectern::ingest
