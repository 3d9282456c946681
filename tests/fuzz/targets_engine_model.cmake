# The model's own parser (FUZZ-1): config.json. Seeds in corpus/fuzz_config_json/ are the
# golden configs and broken variants; crash inputs found later are added there.
lectern_add_fuzz_target(NAME fuzz_config_json SOURCES fuzz_config_json.cpp LIBS lectern_engine)
target_include_directories(fuzz_config_json PRIVATE ${CMAKE_SOURCE_DIR}/engine)
