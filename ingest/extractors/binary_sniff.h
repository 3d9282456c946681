// Binary detection for files that claim to be text (a PNG renamed .txt, an ELF named
// .log): known magic numbers first, then the share of control bytes in the head.
// NULs alone do not make a file binary (UTF-16 text, logs with padding).
#pragma once

#include <string>
#include <string_view>

namespace lectern::ingest {

// Empty when `head` (the first bytes of a file) looks like text; otherwise the reason,
// e.g. "PNG image (magic 89 50 4E 47)".
std::string sniffBinary(std::string_view head);

}  // namespace lectern::ingest
