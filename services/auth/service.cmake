# Extra links of mentis-auth, included by services/CMakeLists.txt: JWT signing, the
# crypto helpers, and libsodium itself for sealing signing keys (secretbox).
target_link_libraries(mentis-auth PRIVATE mentis::jwt mentis::crypto PkgConfig::SODIUM)
