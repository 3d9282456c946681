// libFuzzer target: the CSV extractor on arbitrary bytes (REC-1 hardening).
#include "fuzz/fuzz_record_file.h"
#include "ingest/extractors/csv.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    lectern::ingest::CsvExtractor extractor;
    fuzzExtractFile(extractor, data, size, ".csv");
    return 0;
}
