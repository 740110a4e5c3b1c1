# Extra links of mentis-kb, included by services/CMakeLists.txt: cJSON for the pack
# documents, the crypto helpers for ids and cursors.
target_link_libraries(mentis-kb PRIVATE mentis::crypto PkgConfig::CJSON)
# The system pack's questions, compiled in (seed.c): no file to ship or find at run time.
mentis_embed(mentis-kb "${CMAKE_CURRENT_SOURCE_DIR}/kb/data/kb-sample-questions.json"
  mentis__kb_sample_questions)
# The document reading alone (pack_doc.c and the text rules it uses) for the fuzz target:
# built only when it is.
add_library(mentis_kb_doc STATIC EXCLUDE_FROM_ALL
  "${CMAKE_CURRENT_SOURCE_DIR}/kb/pack_doc.c" "${CMAKE_CURRENT_SOURCE_DIR}/kb/check.c")
target_include_directories(mentis_kb_doc PUBLIC "${CMAKE_CURRENT_SOURCE_DIR}/kb")
target_link_libraries(mentis_kb_doc PUBLIC mentis::service mentis::proto PkgConfig::CJSON
  PRIVATE mentis_warnings mentis::crypto)
