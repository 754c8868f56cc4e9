# Tokenizer exactness suite (label "tokenizer"): our encoder/decoder against the
# reference @huggingface/tokenizers@0.2.0 (Node, tests/js) on the generated
# corpus tests/data/tokenizers/corpus.jsonl, for the real Qwen3, Llama 3 and
# Llama-3-Instruct tokenizers and a small SentencePiece-style fixture (tiny-spm,
# written by tests/js/gen_tiny_tokenizers.mjs). tokenizer_driver (below) runs our side; the node
# script runs the reference and compares. Without `npm ci --prefix tests/js`
# (or without node) the tests FAIL with the install instructions.
add_executable(tokenizer_driver ${CMAKE_CURRENT_SOURCE_DIR}/integration/tokenizer/tokenizer_driver.c)
target_link_libraries(tokenizer_driver PRIVATE sglc_core)

find_program(SGLC_NODE node)
foreach(name qwen3 llama3 llama3-instruct tiny-spm)
  if(SGLC_NODE)
    add_test(NAME tokenizer.reference.${name}
             COMMAND ${SGLC_NODE} ${CMAKE_CURRENT_SOURCE_DIR}/js/tokenizer_reference.mjs
                     --driver $<TARGET_FILE:tokenizer_driver> --data ${SGLC_TEST_DATA_DIR}/tokenizers --name ${name})
  else()
    add_test(NAME tokenizer.reference.${name}
             COMMAND sh -c "echo 'FAIL: node not found; install Node 20 and run: npm ci --prefix tests/js'; exit 1")
  endif()
  set_tests_properties(tokenizer.reference.${name} PROPERTIES LABELS "tokenizer" TIMEOUT 600)
endforeach()
