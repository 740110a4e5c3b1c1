# One place for warnings. Our own targets link mentis_warnings; generated code does not.
add_library(mentis_warnings INTERFACE)
target_compile_options(mentis_warnings INTERFACE
  -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wwrite-strings
  -Wcast-qual -Wpointer-arith -Wformat=2 -Wundef -Wvla -Wno-unused-parameter)
if(MENTIS_WERROR)
  target_compile_options(mentis_warnings INTERFACE -Werror)
endif()
# gcc's -Wformat-truncation flags every snprintf whose output *could* be cut — which is
# why we call snprintf: cutting is the intended, bounded behaviour. clang has no such noise.
if(CMAKE_C_COMPILER_ID STREQUAL "GNU")
  target_compile_options(mentis_warnings INTERFACE -Wno-format-truncation)
endif()
