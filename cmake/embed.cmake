# Turns a file into a C array at build time (mentis_embed in Mentis.cmake runs it:
# cmake -DIN=… -DOUT=… -DNAME=… -P embed.cmake). It
# writes `const unsigned char NAME[]` (the bytes, then a NUL) and `NAME_size` (the length
# without it), so the binary needs no data file at run time.
file(READ "${IN}" hex HEX)
file(SIZE "${IN}" size)
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
string(REPLACE "0x0a," "0x0a,\n" bytes "${bytes}") # a line per line of the file
file(WRITE "${OUT}.tmp"
  "/* Generated from ${IN} by embed.cmake: do not edit. */\n"
  "#include <stddef.h>\n"
  "extern const unsigned char ${NAME}[];\n"
  "extern const size_t ${NAME}_size;\n"
  "const unsigned char ${NAME}[] = {\n${bytes}0x00};\n"
  "const size_t ${NAME}_size = ${size};\n")
file(RENAME "${OUT}.tmp" "${OUT}")
