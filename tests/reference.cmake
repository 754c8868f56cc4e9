# Reference numerics suite (label "reference"): sglc's logits (prefill and decode)
# and greedy tokens against a PyTorch reference on the same random-weight
# checkpoints, written by tools/gen_model.py into ${CMAKE_BINARY_DIR}/reference-models
# as HF f32/bf16 directories and GGUF f32/f16/bf16/q8_0/q4_0 files, plus the HF bf16
# checkpoint under --quantization int8/q4 and --dtype float32 (thresholds: the driver's
# docstring). One test per case (tests/reference/run_reference.py --case NAME), plus
# reference.selftest, which checks the generator and the reference themselves
# (determinism, GGUF round trip, Llama Q/K permutation, quantizers, bf16 rounding,
# the --quantization weight selection, stories260K).
# Needs Debian's python3 with numpy + torch; without them the tests skip (exit 77).
set(SGLC_REF_PYTHON /usr/bin/python3 CACHE FILEPATH "Python with numpy and torch for the reference suite")
execute_process(COMMAND ${SGLC_REF_PYTHON} -c "import numpy, torch"
                RESULT_VARIABLE SGLC_REF_PY_STATUS OUTPUT_QUIET ERROR_QUIET)
set(SGLC_REF_DRIVER ${CMAKE_SOURCE_DIR}/tests/reference/run_reference.py)
set(SGLC_REF_WORK ${CMAKE_BINARY_DIR}/reference-models)

set(SGLC_REF_TESTS selftest llama qwen2 qwen3 qwen3_mqa)
foreach(case ${SGLC_REF_TESTS})
  if(NOT SGLC_REF_PY_STATUS EQUAL 0)
    add_test(NAME reference.${case}
             COMMAND sh -c "echo 'skipped: ${SGLC_REF_PYTHON} cannot import numpy and torch (apt-get install python3-numpy python3-torch)'; exit 77")
  elseif(case STREQUAL "selftest")
    add_test(NAME reference.selftest COMMAND ${SGLC_REF_PYTHON} ${SGLC_REF_DRIVER} --selftest --work ${SGLC_REF_WORK})
  else()
    add_test(NAME reference.${case}
             COMMAND ${SGLC_REF_PYTHON} ${SGLC_REF_DRIVER} --sglc $<TARGET_FILE:sglc> --work ${SGLC_REF_WORK}
                     --case ${case})
  endif()
  set_tests_properties(reference.${case} PROPERTIES LABELS "reference" TIMEOUT 300 SKIP_RETURN_CODE 77)
endforeach()
