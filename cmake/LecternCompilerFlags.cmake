# Warnings, sanitizers and static-runtime linking shared by every Lectern target.
add_library(lectern_warnings INTERFACE)
target_compile_options(lectern_warnings INTERFACE
  $<$<COMPILE_LANGUAGE:CXX>:-Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor
    -Wcast-align -Woverloaded-virtual -Wimplicit-fallthrough -Wno-missing-field-initializers>)

if(LECTERN_SANITIZE)
  string(REPLACE "," ";" _lectern_sanitizers "${LECTERN_SANITIZE}")
  foreach(_s IN LISTS _lectern_sanitizers)
    add_compile_options($<$<COMPILE_LANGUAGE:C,CXX>:-fsanitize=${_s}>)
    add_link_options(-fsanitize=${_s})
  endforeach()
  add_compile_options($<$<COMPILE_LANGUAGE:C,CXX>:-fno-omit-frame-pointer>
                      $<$<COMPILE_LANGUAGE:C,CXX>:-fno-sanitize-recover=all>)
endif()

if(LECTERN_FUZZ)
  if(NOT CMAKE_CXX_COMPILER_ID MATCHES "Clang")
    message(FATAL_ERROR "LECTERN_FUZZ needs clang (configure with CXX=clang++ CC=clang)")
  endif()
  add_compile_options($<$<COMPILE_LANGUAGE:C,CXX>:-fsanitize=fuzzer-no-link>)
endif()

if(LECTERN_STATIC_RUNTIME)
  add_link_options(-static-libstdc++ -static-libgcc)
endif()
