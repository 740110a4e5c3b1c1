# MENTIS_SANITIZE: ASan + UBSan on everything, with no recovery so any finding fails the test.
if(MENTIS_SANITIZE)
  add_compile_options(-fsanitize=address,undefined -fno-sanitize-recover=all
                      -fno-omit-frame-pointer -g)
  add_link_options(-fsanitize=address,undefined)
endif()
# MENTIS_FUZZ: coverage instrumentation everywhere; fuzz targets link the libFuzzer driver.
if(MENTIS_FUZZ)
  if(NOT CMAKE_C_COMPILER_ID MATCHES "Clang")
    message(FATAL_ERROR "MENTIS_FUZZ needs clang (configure with -DCMAKE_C_COMPILER=clang)")
  endif()
  add_compile_options(-fsanitize=fuzzer-no-link)
endif()
