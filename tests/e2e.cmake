# End-to-end tests of `sglc serve` (label "e2e"): each script starts the server
# on a free loopback port with the embedded default model, drives it with real
# clients (the official `openai` npm SDK from tests/js, curl, raw sockets) and
# always stops it. Needs node + `npm ci --prefix tests/js` (scripts/setup.sh)
# and curl; a missing tool fails the test with a message.
if(MHD_FOUND)
  set(SGLC_E2E_DIR ${CMAKE_CURRENT_SOURCE_DIR}/e2e)
  foreach(t openai concurrency bad_input)
    add_test(NAME e2e.${t} COMMAND node ${SGLC_E2E_DIR}/test_${t}.mjs $<TARGET_FILE:sglc> ${SGLC_TEST_DATA_DIR})
    set_tests_properties(e2e.${t} PROPERTIES LABELS "e2e" TIMEOUT 600)
  endforeach()
  add_test(NAME e2e.native_curl COMMAND bash ${SGLC_E2E_DIR}/test_native.sh $<TARGET_FILE:sglc> ${SGLC_TEST_DATA_DIR})
  set_tests_properties(e2e.native_curl PROPERTIES LABELS "e2e" TIMEOUT 600)
endif()
