# The training module's checkpoint sidecar (FUZZ-1 fuzz_checkpoint_sidecar): trainer_state.json
# as a resume reads it. Seeds in corpus/fuzz_checkpoint_sidecar/: a real checkpoint's file and
# broken variants; crash inputs found later are added there.
if(TARGET lectern_training)
  lectern_add_fuzz_target(NAME fuzz_checkpoint_sidecar SOURCES fuzz_checkpoint_sidecar.cpp
                          LIBS lectern_training)
endif()
