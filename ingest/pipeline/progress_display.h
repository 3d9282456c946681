// The ingest progress line on a terminal: files, pages, MB/s and ETA. On a TTY it redraws
// one line in place; otherwise (a log, a pipe) it prints a plain line every few seconds.
#pragma once

#include <cstdio>
#include <string>

#include "pipeline.h"

namespace lectern::ingest {

class ProgressDisplay {
public:
    explicit ProgressDisplay(std::FILE* out);
    void update(const IngestProgress& progress);
    // Clears the redrawn line (TTY) so the summary starts on a clean line.
    void finish();

    static std::string format(const IngestProgress& progress);

private:
    std::FILE* out_;
    bool tty_;
    double lastPrinted_ = -1;
    bool drawn_ = false;
};

}  // namespace lectern::ingest
