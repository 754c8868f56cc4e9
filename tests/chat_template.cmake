# Chat-template reference suite (label "chat_template"): sgl-c's Jinja
# interpreter against Python Jinja2 configured like transformers, byte for
# byte (tests/integration/chat_template/):
#  - reference: every template in tests/data/chat-templates with >= 50
#    generated conversations each, hand-written feature probes, and a check
#    that the committed Python expectations of the unit cases are current;
#  - diff_fuzz: random templates from two grammars (fixed seeds);
#  - cli: a few cases through `sglc chat-template`.
# Needs Debian's /usr/bin/python3 with jinja2; skipped (exit 77) without it.
set(SGLC_CT_DIR ${CMAKE_SOURCE_DIR}/tests/integration/chat_template)
add_executable(chat_template_ref ${SGLC_CT_DIR}/ref_driver.c)
target_link_libraries(chat_template_ref PRIVATE sglc_core)

set(SGLC_CT_PYTHON /usr/bin/python3 CACHE FILEPATH "Python with jinja2 for the chat-template reference tests")
add_test(NAME chat_template.reference
         COMMAND ${SGLC_CT_PYTHON} ${SGLC_CT_DIR}/run_reference.py
                 --driver $<TARGET_FILE:chat_template_ref>
                 --data-dir ${SGLC_TEST_DATA_DIR}/chat-templates
                 --feature-cases ${SGLC_CT_DIR}/feature_cases.txt
                 --check-unit-expectations)
set_tests_properties(chat_template.reference PROPERTIES LABELS "chat_template" TIMEOUT 120 SKIP_RETURN_CODE 77)

add_test(NAME chat_template.diff_fuzz
         COMMAND ${SGLC_CT_PYTHON} ${SGLC_CT_DIR}/diff_fuzz.py
                 --driver $<TARGET_FILE:chat_template_ref> --n 600 --seed 1 --typed)
set_tests_properties(chat_template.diff_fuzz PROPERTIES LABELS "chat_template" TIMEOUT 120 SKIP_RETURN_CODE 77)
add_test(NAME chat_template.diff_fuzz_wild
         COMMAND ${SGLC_CT_PYTHON} ${SGLC_CT_DIR}/diff_fuzz.py
                 --driver $<TARGET_FILE:chat_template_ref> --n 400 --seed 2)
set_tests_properties(chat_template.diff_fuzz_wild PROPERTIES LABELS "chat_template" TIMEOUT 120 SKIP_RETURN_CODE 77)

add_test(NAME chat_template.cli
         COMMAND ${SGLC_CT_PYTHON} ${SGLC_CT_DIR}/run_reference.py
                 --driver $<TARGET_FILE:chat_template_ref>
                 --data-dir ${SGLC_TEST_DATA_DIR}/chat-templates
                 --sglc $<TARGET_FILE:sglc>)
set_tests_properties(chat_template.cli PROPERTIES LABELS "chat_template" TIMEOUT 120 SKIP_RETURN_CODE 77)
