# Document state files (FUZZ-1 fuzz_state_file, STATE-1): any bytes give a state or a clean
# error. Seeds in corpus/fuzz_state_file/ (made by tests/state/make_state_seeds.py): a valid file for
# the target's fixed model expectation and damaged variants.
lectern_add_fuzz_target(NAME fuzz_state_file SOURCES fuzz_state_file.cpp LIBS lectern_engine)
target_include_directories(fuzz_state_file PRIVATE ${CMAKE_SOURCE_DIR}/engine)
