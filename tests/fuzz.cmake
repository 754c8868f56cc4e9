# Fuzz targets: each tests/fuzz/fuzz_<name>.c defines LLVMFuzzerTestOneInput.
# - Always: linked with replay_main.c into replay_<name>, and a CTest test feeds
#   it every file of tests/fuzz/corpus/<name>/ (regressions + seeds), so the
#   targets run under the sanitizer build in CI.
# - With -DSGLC_FUZZ=ON and clang: fuzz_<name> is a libFuzzer binary, e.g.
#   ./build-fuzz/tests/fuzz_gguf -max_total_time=60 tests/fuzz/corpus/gguf
file(GLOB SGLC_FUZZ_TARGETS CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/fuzz_*.c)
foreach(src ${SGLC_FUZZ_TARGETS})
  get_filename_component(fname ${src} NAME_WE)
  string(REGEX REPLACE "^fuzz_" "" name ${fname})
  add_executable(replay_${name} ${src} ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/replay_main.c)
  target_link_libraries(replay_${name} PRIVATE sglc_core)
  set(corpus ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/corpus/${name})
  add_test(NAME fuzz_replay.${name} COMMAND replay_${name} ${corpus})
  set_tests_properties(fuzz_replay.${name} PROPERTIES LABELS "fuzz" TIMEOUT 600)
  if(SGLC_FUZZ AND CMAKE_C_COMPILER_ID STREQUAL "Clang")
    add_executable(${fname} ${src})
    target_compile_options(${fname} PRIVATE -fsanitize=fuzzer,address,undefined)
    target_link_options(${fname} PRIVATE -fsanitize=fuzzer,address,undefined)
    target_link_libraries(${fname} PRIVATE sglc_core)
  endif()
endforeach()
