# Record parsers and the text decoder (REC-1, TXT-1 hardening). Seeds live in
# corpus/<target>/; crash inputs found later are added there and replayed in every CI run.
if(TARGET lectern_extractors)
  foreach(t fuzz_csv fuzz_json_records fuzz_mail fuzz_text_decode)
    lectern_add_fuzz_target(NAME ${t} SOURCES ${t}.cpp LIBS lectern_extractors)
  endforeach()
endif()
