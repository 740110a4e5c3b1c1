# Extra links of mentis-auth, included by services/CMakeLists.txt: JWT signing, the
# crypto helpers, libsodium itself for sealing signing keys and queued mail (secretbox),
# and libcurl for SMTP.
target_link_libraries(mentis-auth PRIVATE mentis::jwt mentis::crypto PkgConfig::SODIUM
  PkgConfig::CURL Threads::Threads)
# The common-password list, compiled in (passwords.c): no file to ship or find at run time.
mentis_embed(mentis-auth "${CMAKE_CURRENT_SOURCE_DIR}/auth/data/common-passwords.txt"
  mentis__auth_common_passwords)
