# Extra links of mentis-auth, included by services/CMakeLists.txt: JWT signing, the
# crypto helpers, libsodium itself for sealing signing keys and queued mail (secretbox),
# and libcurl for SMTP.
target_link_libraries(mentis-auth PRIVATE mentis::jwt mentis::crypto PkgConfig::SODIUM
  PkgConfig::CURL Threads::Threads)
# The common-password list, compiled in (passwords.c): no file to ship or find at run time.
set(auth_passwords_in "${CMAKE_CURRENT_SOURCE_DIR}/auth/data/common-passwords.txt")
set(auth_passwords_c "${CMAKE_CURRENT_BINARY_DIR}/auth/common_passwords.c")
add_custom_command(OUTPUT "${auth_passwords_c}"
  COMMAND ${CMAKE_COMMAND} -DIN=${auth_passwords_in} -DOUT=${auth_passwords_c}
          -DNAME=mentis__auth_common_passwords
          -P "${CMAKE_CURRENT_SOURCE_DIR}/auth/data/embed.cmake"
  DEPENDS "${auth_passwords_in}" "${CMAKE_CURRENT_SOURCE_DIR}/auth/data/embed.cmake"
  COMMENT "Embedding the common-password list"
  VERBATIM)
target_sources(mentis-auth PRIVATE "${auth_passwords_c}")
