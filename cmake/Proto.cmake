# mentis_proto_generate(<target> <proto files...>): protobuf-c sources generated at build
# time from proto/, compiled into a static library. Never edit the generated files.
function(mentis_proto_generate target)
  set(root "${PROJECT_SOURCE_DIR}/proto")
  set(out "${CMAKE_CURRENT_BINARY_DIR}/gen")
  set(srcs)
  foreach(p IN LISTS ARGN)
    get_filename_component(abs "${p}" ABSOLUTE)
    file(RELATIVE_PATH rel "${root}" "${abs}")
    string(REGEX REPLACE "\\.proto$" "" stem "${rel}")
    list(APPEND srcs "${out}/${stem}.pb-c.c")
    add_custom_command(
      OUTPUT "${out}/${stem}.pb-c.c" "${out}/${stem}.pb-c.h"
      COMMAND ${CMAKE_COMMAND} -E make_directory "${out}"
      COMMAND ${PROTOC_C} --proto_path=${root} --c_out=${out} ${rel}
      DEPENDS "${abs}"
      WORKING_DIRECTORY "${root}"
      COMMENT "protoc-c ${rel}"
      VERBATIM)
  endforeach()
  add_library(${target} STATIC ${srcs})
  # SYSTEM: generated headers are not ours to warn about (their INIT macros cast away const).
  target_include_directories(${target} SYSTEM PUBLIC "${out}")
  target_link_libraries(${target} PUBLIC PkgConfig::PROTOBUFC)
endfunction()
