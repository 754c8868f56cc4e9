# End-to-end tests of the sglc command line (tests/cli/test_cli.py).
add_test(NAME cli.sglc COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/cli/test_cli.py
         $<TARGET_FILE:sglc> ${SGLC_TEST_DATA_DIR})
set_tests_properties(cli.sglc PROPERTIES LABELS "cli" TIMEOUT 600)
