# Extra links of mentis-curriculum, included by services/CMakeLists.txt: cJSON reads and
# writes UMCF documents; the crypto helpers make ids and cursors.
target_link_libraries(mentis-curriculum PRIVATE mentis::crypto PkgConfig::CJSON m)
# The UMCF walk alone (no handlers, no main; rows.c for what the column maps share) for the
# fuzz target: built only when it is.
add_library(mentis_curriculum_umcf STATIC EXCLUDE_FROM_ALL
  "${CMAKE_CURRENT_SOURCE_DIR}/curriculum/umcf_doc.c"
  "${CMAKE_CURRENT_SOURCE_DIR}/curriculum/umcf_map.c"
  "${CMAKE_CURRENT_SOURCE_DIR}/curriculum/duration.c"
  "${CMAKE_CURRENT_SOURCE_DIR}/curriculum/rows.c")
target_include_directories(mentis_curriculum_umcf PUBLIC "${CMAKE_CURRENT_SOURCE_DIR}/curriculum")
target_link_libraries(mentis_curriculum_umcf PUBLIC mentis::service mentis::proto PkgConfig::CJSON
  PRIVATE mentis_warnings mentis::crypto m)
