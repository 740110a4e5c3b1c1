# mentis_library(<name> SOURCES ... DEPS ...): libs/<name> with include/ public, src/ private.
function(mentis_library name)
  cmake_parse_arguments(A "" "" "SOURCES;DEPS;PRIVATE_DEPS" ${ARGN})
  add_library(mentis_${name} STATIC ${A_SOURCES})
  target_include_directories(mentis_${name} PUBLIC include PRIVATE src)
  target_link_libraries(mentis_${name} PUBLIC ${A_DEPS} PRIVATE mentis_warnings ${A_PRIVATE_DEPS})
  add_library(mentis::${name} ALIAS mentis_${name})
endfunction()

# mentis_test(<name> LABEL unit|integration|e2e SOURCES ... DEPS ... [TIMEOUT s]):
# one executable, one CTest entry, its own process.
function(mentis_test name)
  cmake_parse_arguments(A "" "LABEL;TIMEOUT" "SOURCES;DEPS" ${ARGN})
  if(NOT A_TIMEOUT)
    set(A_TIMEOUT 120)
  endif()
  add_executable(test_${name} ${A_SOURCES})
  target_link_libraries(test_${name} PRIVATE mentis_warnings mentis_testlib ${A_DEPS})
  add_test(NAME ${name} COMMAND test_${name})
  set_tests_properties(${name} PROPERTIES LABELS "${A_LABEL}" TIMEOUT ${A_TIMEOUT}
    ENVIRONMENT "MENTIS_SOURCE_DIR=${PROJECT_SOURCE_DIR};MENTIS_BUILD_DIR=${PROJECT_BINARY_DIR};ASAN_OPTIONS=detect_leaks=1:abort_on_error=1;UBSAN_OPTIONS=print_stacktrace=1")
endfunction()

# mentis_fuzz(<name> SOURCES ... DEPS ... CORPUS <dir>): a libFuzzer target fuzz_<name> and
# a CTest entry (label fuzz) that runs it for MENTIS_FUZZ_SECONDS from the committed seed
# corpus. New inputs go to the build's corpus; the committed seeds are read only.
# Nothing happens without MENTIS_FUZZ.
set(MENTIS_FUZZ_SECONDS 15 CACHE STRING "seconds each fuzz target runs in the test suite")
function(mentis_fuzz name)
  if(NOT MENTIS_FUZZ)
    return()
  endif()
  cmake_parse_arguments(A "" "CORPUS" "SOURCES;DEPS" ${ARGN})
  add_executable(fuzz_${name} ${A_SOURCES})
  target_link_libraries(fuzz_${name} PRIVATE mentis_warnings ${A_DEPS})
  target_link_options(fuzz_${name} PRIVATE -fsanitize=fuzzer)
  set(work "${CMAKE_CURRENT_BINARY_DIR}/corpus-${name}")
  file(MAKE_DIRECTORY "${work}")
  add_test(NAME fuzz_${name}
    COMMAND fuzz_${name} -max_total_time=${MENTIS_FUZZ_SECONDS} -print_final_stats=1
            -artifact_prefix=${CMAKE_CURRENT_BINARY_DIR}/crash-${name}-
            "${work}" "${A_CORPUS}")
  set_tests_properties(fuzz_${name} PROPERTIES LABELS fuzz TIMEOUT 300)
endfunction()

# Compiles the file `input` into `target` as `const unsigned char symbol[]` (its bytes and a
# NUL) and `const size_t symbol_size`, so the binary needs no data file at run time.
set(MENTIS_EMBED_SCRIPT "${CMAKE_CURRENT_LIST_DIR}/embed.cmake")
function(mentis_embed target input symbol)
  get_filename_component(file_name "${input}" NAME)
  set(out "${CMAKE_CURRENT_BINARY_DIR}/${symbol}.c")
  add_custom_command(OUTPUT "${out}"
    COMMAND ${CMAKE_COMMAND} -DIN=${input} -DOUT=${out} -DNAME=${symbol}
            -P "${MENTIS_EMBED_SCRIPT}"
    DEPENDS "${input}" "${MENTIS_EMBED_SCRIPT}"
    COMMENT "Embedding ${file_name}"
    VERBATIM)
  target_sources(${target} PRIVATE "${out}")
endfunction()
