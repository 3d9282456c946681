// libFuzzer target: e-mail through GMime, as .eml or mbox (the first byte picks which).
#include "fuzz/fuzz_record_file.h"
#include "ingest/extractors/mail.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size == 0) return 0;
    lectern::ingest::MailExtractor extractor;
    fuzzExtractFile(extractor, data + 1, size - 1, (data[0] & 1) ? ".mbox" : ".eml");
    return 0;
}
