# PDF-6: our wrapper over Poppler (the worker's extractPdfData, in process, text only, no
# OCR), seeded with small test PDFs; past crash inputs go under
# corpus/fuzz_pdf_extract/regress/ and are replayed in CI. Run by hand (clang build with
# -DLECTERN_FUZZ=ON): fuzz_pdf_extract -max_total_time=300 <copy of the corpus folder>
if(TARGET lectern_pdf_worker_core)
  lectern_add_fuzz_target(NAME fuzz_pdf_extract SOURCES fuzz_pdf_extract.cpp
    LIBS lectern_pdf_worker_core)
endif()
