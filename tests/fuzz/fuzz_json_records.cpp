// libFuzzer target (FUZZ-1 fuzz_json_records): JSON and JSON Lines (the first byte picks which) on
// arbitrary bytes.
#include "fuzz/fuzz_record_file.h"
#include "ingest/extractors/json.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size == 0) return 0;
    lectern::ingest::JsonExtractor extractor;
    fuzzExtractFile(extractor, data + 1, size - 1, (data[0] & 1) ? ".jsonl" : ".json");
    return 0;
}
