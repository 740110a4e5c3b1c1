# Extra links of mentis-curriculum, included by services/CMakeLists.txt: cJSON reads and
# writes UMCF documents; the crypto helpers make ids and cursors.
target_link_libraries(mentis-curriculum PRIVATE mentis::crypto PkgConfig::CJSON m)
