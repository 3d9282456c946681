# The engine's file parsers (FUZZ-1): safetensors headers, the restricted unpickler, the
# torch.save zip container and tokenizer.json. Seeds live in corpus/<target>/ (made by
# tests/io/data/make_bad_inputs.py and make_fuzz_seeds.py); crash inputs found later are
# added there and replayed in every CI run.
foreach(t fuzz_safetensors fuzz_unpickler fuzz_torch_zip fuzz_tokenizer_json)
  lectern_add_fuzz_target(NAME ${t} SOURCES ${t}.cpp LIBS lectern_engine)
  target_include_directories(${t} PRIVATE ${CMAKE_SOURCE_DIR}/engine)
endforeach()
